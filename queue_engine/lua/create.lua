-- Creates a sale: its schedule, its stock and its committed seed.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] the sale as JSON: {opens_at, drop_at, rate_per_min, cap, hold_ms,
--         seed (hex), seed_hash, types: [[id, stock, per_person_limit], ...]}
-- Returns 1 when created, 0 when the event already exists (nothing changes).
if redis.call('EXISTS', K.meta) == 1 then return 0 end
local sale = cjson.decode(ARGV[1])
redis.call('HSET', K.meta,
  'state', 'scheduled', 'opens_at', sale.opens_at, 'drop_at', sale.drop_at,
  'rate_per_min', sale.rate_per_min, 'cap', sale.cap, 'hold_ms', sale.hold_ms,
  'seed_hash', sale.seed_hash, 'serving', 0, 'frozen', 0, 'late', 0, 'paused', 0,
  'tokens', 0, 'tokens_at', 0, 'dirty', 1, 'published_at', 0)
for _, t in ipairs(sale.types) do
  redis.call('HSET', K.stock, t[1], t[2])
  redis.call('HSET', K.available, t[1], t[2])
  redis.call('HSET', K.held, t[1], 0)
  redis.call('HSET', K.sold, t[1], 0)
  redis.call('HSET', K.limits, t[1], t[3])
end
redis.call('SET', K.seed, sale.seed)
return 1
