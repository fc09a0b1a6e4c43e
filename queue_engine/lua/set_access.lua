-- Changes who may enter a sale: only while its window has not opened, so the
-- policy is fixed for everyone who is ever let into the buffer.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] policy (open | email | login | list)
-- Returns 'ok', 'unknown_event' or 'window_open'.
local state = current_phase(now_ms(ARGV[1]))
if not state then return 'unknown_event' end
if state ~= 'scheduled' then return 'window_open' end
redis.call('HSET', K.meta, 'access', ARGV[2])
mark_changed()
return 'ok'
