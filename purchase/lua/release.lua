-- Lets a live hold go at once (the fan cancels, or the payment failed): its
-- tickets go back on sale for the next fans in line.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] hold id  ARGV[3] fan id ('' for any)
-- Returns JSON: {"ok":true,"released":bool} or {"ok":false,"code":...,"message":...}
local now = now_ms(ARGV[1])
local raw = redis.call('HGET', K.holds, ARGV[2])
if not raw then
  return cjson.encode({ok = false, code = 'unknown_hold', message = 'no such hold'})
end
local hold = cjson.decode(raw)
if ARGV[3] ~= '' and hold.fan ~= ARGV[3] then
  return cjson.encode({ok = false, code = 'hold_not_yours', message = 'this hold is not yours'})
end
local released = release_hold(ARGV[2], 'released')
current_phase(now)
settle_sold_out()
return cjson.encode({ok = true, released = released})
