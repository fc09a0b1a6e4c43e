-- Pauses or resumes admission and new holds (maintenance). Confirming a live
-- hold still works while paused: nothing a fan paid for is lost.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] 1 to pause, 0 to resume
-- Returns 1, or 0 for an unknown event.
if redis.call('EXISTS', K.meta) == 0 then return 0 end
redis.call('HSET', K.meta, 'paused', ARGV[1])
mark_changed()
return 1
