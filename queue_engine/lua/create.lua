-- Creates a sale: its schedule, its stock and its committed seed.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] the sale as JSON: {opens_at, drop_at, rate_per_min, cap, hold_ms,
--         seed (hex), seed_hash, access, algorithm, beacon (JSON text or ''),
--         types: [[id, stock, per_person_limit], ...]}
-- Returns 1 when created, 0 when the event already exists (nothing changes).
if redis.call('EXISTS', K.meta) == 1 then return 0 end
create_sale(cjson.decode(ARGV[1]))
return 1
