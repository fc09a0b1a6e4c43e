-- The two published steps of a resale round's draw (buffer/rounds.py), as
-- record_digest.lua and finish_draw.lua are the sale's own:
--   'digest': the frozen entrant list's digest, public before the beacon round exists;
--   'finish': once the numbers are written, the seed revealed with the beacon
--     value and the promise kept; the round closes and its entrants wait in
--     line in their block of numbers.
-- Each step is idempotent and checks the count (and digest) against the freeze.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] 'digest' | 'finish'  ARGV[2] round number  ARGV[3] entrants counted
-- ARGV[4] entrant digest (hex)  ARGV[5] the beacon as JSON  ARGV[6] the promise
-- ARGV[7] now in ms (0: Redis's clock)
-- Returns the round's state after the call ('drawing' or '' when closed), or an error.
local now = now_ms(ARGV[7])
if not current_phase(now) then return redis.error_reply('no such sale') end
local n = ARGV[2]
local round_state = redis.call('HGET', K.meta, 'round_state') or ''
if round_state ~= 'drawing' or redis.call('HGET', K.meta, 'round') ~= n then
  return round_state
end
if tonumber(ARGV[3]) ~= meta_num('round_frozen') then
  return redis.error_reply('round ' .. n .. ' counted ' .. ARGV[3] .. ' entrants, it froze '
    .. meta_num('round_frozen'))
end
local record = cjson.decode(redis.call('HGET', K.rounds, n))
if record.digest and record.digest ~= ARGV[4] then
  return redis.error_reply('round ' .. n .. ' digest ' .. ARGV[4] .. ' is not the published '
    .. record.digest)
end
if not record.digest then
  record.digest, record.digest_at = ARGV[4], now
  record.entrants, record.first_number = tonumber(ARGV[3]), meta_num('round_first')
end
if ARGV[1] == 'finish' then
  record.seed = redis.call('HGET', K.rounds, 'seed:' .. n)
  record.beacon, record.promise, record.drawn_at = ARGV[5], ARGV[6], now
  redis.call('HDEL', K.rounds, 'seed:' .. n)
  redis.call('DEL', K.round_buffer)
  redis.call('HSET', K.meta, 'round_state', '')
  -- Nobody came in a whole window: no crowd to be fair among; the next fan who
  -- comes takes what is left, until the sale sells out again.
  if record.entrants == 0 then redis.call('HSET', K.meta, 'ran_out', 0) end
  mark_changed()
end
redis.call('HSET', K.rounds, n, cjson.encode(record))
return redis.call('HGET', K.meta, 'round_state')
