-- Opens a resale round when one is due (round_due in _prelude.lua): tickets
-- came back after the sale sold out and nobody is left in line. The clock
-- made the round's seed; its commitment (and the beacon round it will mix in)
-- is public from this step on, before anyone has entered (buffer/rounds.py).
-- Two clocks may both ask: the first opens the round, the second finds none due.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] how long the window stays open (ms)
-- ARGV[3] the seed (hex, secret until the draw)  ARGV[4] its commitment (SHA-256 hex)
-- ARGV[5] the beacon as JSON ('' for none)  ARGV[6] the draw's algorithm
-- Returns the new round's number, or 0 when none was due.
local now = now_ms(ARGV[1])
local state = current_phase(now)
if not state or not round_due() then return 0 end
local n = redis.call('HINCRBY', K.meta, 'round', 1)
local drop_at = now + tonumber(ARGV[2])
local record = {round = n, opens_at = now, drop_at = drop_at, seed_hash = ARGV[4],
  beacon = ARGV[5], algorithm = ARGV[6]}
redis.call('HSET', K.rounds, n, cjson.encode(record), 'seed:' .. n, ARGV[3])
redis.call('HSET', K.meta, 'round_state', 'buffering', 'round_drop_at', drop_at,
  'round_opens_at', now)
mark_changed()
return n
