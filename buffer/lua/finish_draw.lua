-- Ends the draw once every buffered fan has its queue number: reveals the
-- seed, records the entrant digest and opens admission. Idempotent: a second
-- clock finishing the same (deterministic) draw changes nothing.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] entrants counted  ARGV[3] entrant digest (hex)
-- Returns the state after the call, or an error if the count is not the frozen one.
local now = now_ms(ARGV[1])
local state = current_phase(now)
if state ~= 'drawing' then return state or 'unknown_event' end
if tonumber(ARGV[2]) ~= meta_num('frozen') then
  return redis.error_reply('draw counted ' .. ARGV[2] .. ' entrants, buffer froze ' .. meta_num('frozen'))
end
redis.call('HSET', K.meta, 'state', 'queueing', 'entrants_digest', ARGV[3],
  'seed_revealed', redis.call('GET', K.seed), 'drawn_at', now)
mark_changed()
return 'queueing'
