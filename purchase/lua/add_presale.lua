-- Puts a presale link in a sale: how many tickets it may buy in all, until
-- when, and of which ticket type ('' for any). Once only per link id.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] link id  ARGV[2] link as JSON {allowance, left, expires_at (ms), type}
-- Returns 1 when added, 0 when the link exists, -1 for an unknown event.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
return redis.call('HSETNX', K.presales, ARGV[1], ARGV[2])
