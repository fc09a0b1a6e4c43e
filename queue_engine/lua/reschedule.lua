-- Moves a sale's window, before it opens: a new opening, a new drop, and the
-- beacon round the draw waits for (after the new drop, as at creation). The
-- seed's commitment stays: nobody has entered, so nobody's chances moved.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] opens_at ms  ARGV[3] drop_at ms
-- ARGV[4] the beacon round as JSON ('' for none)
-- Returns 'ok', 'unknown_event' or 'window_open' (nothing changes then).
if redis.call('EXISTS', K.meta) == 0 then return 'unknown_event' end
if current_phase(now_ms(ARGV[1])) ~= 'scheduled' then return 'window_open' end
redis.call('HSET', K.meta, 'opens_at', ARGV[2], 'drop_at', ARGV[3], 'beacon', ARGV[4])
mark_changed()
return 'ok'
