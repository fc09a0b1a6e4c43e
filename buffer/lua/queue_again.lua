-- A fan whose turn ended without buying joins again, at the back of the
-- queue, while the sale still has tickets: the same number a newcomer would
-- get now (after every drawn and late number), so nobody's place moves. Their
-- earlier number is gone (a fan is in the queue once); per-person limits hold
-- as before, and a fan who bought, or holds, or whose turn runs, is refused.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] fan (entrant) id
-- While a resale round is open the fan enters it instead (status 'buffered',
-- number 0; buffer/rounds.py).
-- Returns {status, number, serving, 0, '', 0} as join.lua does, status 'queued',
-- or a refusal: unknown_event | not_admitted (never let in) | turn_not_over
-- | hold_exists | already_bought | sold_out (nothing left, or not selling).
local now = now_ms(ARGV[1])
local fan = ARGV[2]
local state = current_phase(now)
if not state then return {'unknown_event', 0, 0, 0, '', 0} end
local serving = meta_num('serving')
local function refuse(why) return {why, 0, serving, 0, '', 0} end
local number = tonumber(redis.call('ZSCORE', K.queue, fan) or '0')
if number == 0 or number > serving then return refuse('not_admitted') end
if redis.call('HGET', K.fan_hold, fan) then return refuse('hold_exists') end
if tonumber(redis.call('ZSCORE', K.shopping, fan) or '0') > now then
  return refuse('turn_not_over')
end
for _, t in ipairs(redis.call('HKEYS', K.stock)) do
  if tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0') > 0 then
    return refuse('already_bought')
  end
end
if state ~= 'queueing' or hash_total(K.available) <= 0 then return refuse('sold_out') end
-- The number given up stays in the published draw, with this fan (buffer/published.py).
redis.call('HSET', K.requeued, number, fan)
redis.call('ZREM', K.shopping, fan)
mark_changed()
if redis.call('HGET', K.meta, 'round_state') == 'buffering' then
  -- A resale round is open: the fan enters its draw like anyone else.
  redis.call('ZREM', K.queue, fan)
  redis.call('SADD', K.round_buffer, fan)
  return {'buffered', 0, serving, 0, '', 0}
end
number = meta_num('frozen') + redis.call('HINCRBY', K.meta, 'late', 1)
redis.call('ZADD', K.queue, number, fan)
return {'queued', number, serving, 0, '', 0}
