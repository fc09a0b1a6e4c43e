-- Ends the draw once every buffered fan has its queue number: reveals the
-- seed, records the beacon value and the promise the draw keeps, and opens
-- admission. Idempotent: a second clock finishing the same (deterministic)
-- draw changes nothing.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] entrants counted  ARGV[3] entrant digest (hex)
-- ARGV[4] the beacon as JSON, with its value ('' for a v1 draw)
-- ARGV[5] the promise: 'unsteerable' | 'committed-seed' ('' for a v1 draw)
-- Returns the state after the call, or an error if the count or the digest
-- is not the frozen one.
local now = now_ms(ARGV[1])
local state = current_phase(now)
if state ~= 'drawing' then return state or 'unknown_event' end
if tonumber(ARGV[2]) ~= meta_num('frozen') then
  return redis.error_reply('draw counted ' .. ARGV[2] .. ' entrants, buffer froze ' .. meta_num('frozen'))
end
local published = redis.call('HGET', K.meta, 'entrants_digest')
if published and published ~= ARGV[3] then
  return redis.error_reply('draw digest ' .. ARGV[3] .. ' is not the published ' .. published)
end
redis.call('HSET', K.meta, 'state', 'queueing', 'entrants_digest', ARGV[3],
  'seed_revealed', redis.call('GET', K.seed), 'drawn_at', now)
if not published then redis.call('HSET', K.meta, 'digest_at', now) end
if ARGV[4] ~= '' then redis.call('HSET', K.meta, 'beacon', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', K.meta, 'promise', ARGV[5]) end
mark_changed()
return 'queueing'
