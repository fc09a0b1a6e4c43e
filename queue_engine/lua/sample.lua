-- Appends one sample of a live sale's figures to its samples list, at most one
-- per second (a second clock's call in the same second adds nothing), for the
-- organiser's charts (queue_engine/samples.py). Decides nothing: no script
-- reads the list.
-- KEYS: the event keys (see _prelude.lua), then the samples list (the last)
-- ARGV[1] now in ms (0: Redis's clock)
-- ARGV[2] how many samples the list keeps (the oldest go)
-- ARGV[3] ms before the window opens that sampling starts
-- ARGV[4] s after the sale was first sampled sold out that sampling stops (a sale
--   already sold out at its first sample is not sampled)
-- ARGV[5] ms the list outlives its last sample (PEXPIRE)
-- Returns 1 when a sample was added, 0 when not (unknown or not live sale,
-- this second already sampled).
local samples = KEYS[#KEYS]  -- after the event keys, however many they are
local now = now_ms(ARGV[1])
if redis.call('EXISTS', K.meta) == 0 then return 0 end
local m = redis.call('HMGET', K.meta, 'state', 'serving', 'frozen', 'late', 'paused',
  'rate_per_min', 'cap', 'opens_at', 'drop_at')
local state = m[1]
local opens = tonumber(m[8] or '0')
local second = math.floor(now / 1000)
local last_raw = redis.call('LINDEX', samples, -1)
local last = last_raw and cjson.decode(last_raw)
if last and last.s >= second then return 0 end
if state == 'scheduled' and now < opens - tonumber(ARGV[3]) then return 0 end
-- The second the sale was first seen sold out, carried from sample to sample.
local sold_out_at = cjson.null
if state == 'sold_out' then
  -- Sold out before any sample (or so long ago that its samples expired):
  -- nothing to chart, and no fresh list a day after the old one went.
  if not last then return 0 end
  sold_out_at = (last.st == 'sold_out' and last.so) or second
  if second - sold_out_at > tonumber(ARGV[4]) then return 0 end
end
local serving = tonumber(m[2] or '0')
local frozen, late = tonumber(m[3] or '0'), tonumber(m[4] or '0')
local buffered = redis.call('SCARD', K.buffer)
-- Fans waiting: in the waiting room until the draw, then in the queue behind the counter.
local waiting = buffered
if state ~= 'scheduled' and state ~= 'buffering' and state ~= 'drawing' then
  waiting = math.max(0, frozen + late - serving)
end
-- And an open resale round's entrants, waiting for its draw (once it froze,
-- their block is counted in late already).
local round_entrants = 0
if redis.call('HGET', K.meta, 'round_state') == 'buffering' then
  round_entrants = redis.call('SCARD', K.round_buffer)
end
waiting = waiting + round_entrants
local refused = {}
local flat = redis.call('HGETALL', K.tallies)
for i = 1, #flat, 2 do
  local reason = string.match(flat[i], '^refused:(.+)$')
  if reason then refused[reason] = tonumber(flat[i + 1]) end
end
local sample = {
  s = second,
  st = state,
  p = m[5] == '1' and 1 or 0,
  -- Everyone who ever joined: the window's entrants and those who came after.
  j = buffered + late + round_entrants,
  w = waiting,
  a = serving,
  sh = redis.call('ZCARD', K.shopping),
  h = hash_numbers(K.held),
  so = sold_out_at,
  sd = hash_numbers(K.sold),
  l = hash_total(K.available),
  r = tonumber(m[6] or '0'),
  cap = tonumber(m[7] or '0'),
  rf = refused,
  o = opens,
  d = tonumber(m[9] or '0'),
}
redis.call('RPUSH', samples, cjson.encode(sample))
redis.call('LTRIM', samples, -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', samples, tonumber(ARGV[5]))
return 1
