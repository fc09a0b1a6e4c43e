-- Puts a discount code in a sale: its terms, its limit, its expiry and the
-- uses it has had (0 for a new code; a sale Redis lost gets its paid uses).
-- Once only per code: a code's uses change only in hold.lua, release_hold
-- (_prelude.lua) and confirm.lua.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] code in lower case
-- ARGV[2] code as JSON {kind, amount, type ('' for the whole order), limit,
--         used, paid, expires_at (ms)}
-- Returns 1 when added, 0 when the code exists, -1 for an unknown event.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
return redis.call('HSETNX', K.discounts, ARGV[1], ARGV[2])
