-- Opens a resale round when one is due (round_due in _prelude.lua): tickets
-- came back after the sale sold out and nobody is left in line. The clock
-- made the round's seed; its commitment (and the beacon round it will mix in)
-- is public from this step on, before anyone has entered (buffer/rounds.py).
-- Two clocks may both ask: the first opens the round, the second finds none due.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] when the window closes (ms)  ARGV[2] the seed (hex, secret until the draw)
-- ARGV[3] its commitment (SHA-256 hex)  ARGV[4] the beacon as JSON ('' for none)
-- ARGV[5] the draw's algorithm
-- Returns the new round's number, or 0 when none was due.
local now = now_ms(0)
local state = current_phase(now)
if not state or not round_due() then return 0 end
local n = redis.call('HINCRBY', K.meta, 'round', 1)
local record = {round = n, opens_at = now, drop_at = tonumber(ARGV[1]), seed_hash = ARGV[3],
  beacon = ARGV[4], algorithm = ARGV[5]}
redis.call('HSET', K.rounds, n, cjson.encode(record), 'seed:' .. n, ARGV[2])
redis.call('HSET', K.meta, 'round_state', 'buffering', 'round_drop_at', ARGV[1],
  'round_opens_at', now)
mark_changed()
return n
