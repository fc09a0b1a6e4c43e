-- Publishes the frozen entrant list's digest, the first step of a v2 draw.
-- It must be public before the beacon round the draw waits for exists: then
-- nobody who knows the seed can still add or drop entrants to steer the order
-- once the beacon value is out (docs/fairness.md). Idempotent: the first
-- digest recorded stands, and a second clock computes the same one.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] entrants counted  ARGV[3] entrant digest (hex)
-- Returns the digest on record, or the state when the sale is not drawing.
local now = now_ms(ARGV[1])
local state = current_phase(now)
if state ~= 'drawing' then return state or 'unknown_event' end
if tonumber(ARGV[2]) ~= meta_num('frozen') then
  return redis.error_reply('digest counted ' .. ARGV[2] .. ' entrants, buffer froze ' .. meta_num('frozen'))
end
if redis.call('HSETNX', K.meta, 'entrants_digest', ARGV[3]) == 1 then
  redis.call('HSET', K.meta, 'digest_at', now)
  mark_changed()
end
return redis.call('HGET', K.meta, 'entrants_digest')
