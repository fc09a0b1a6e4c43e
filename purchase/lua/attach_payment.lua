-- Names the payment that will pay for a live hold, once: the first payment
-- attached stands, and a second one (a double click, a retried job) is told
-- which, so the worker cancels its own and the fan pays the first.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] hold id  ARGV[3] payment reference
-- Returns JSON: {"ok":true,"payment":ref,"attached":bool} or {"ok":false,"code":...,"message":...}
local now = now_ms(ARGV[1])
local hold_id, payment = ARGV[2], ARGV[3]
local hold, refusal = find_hold(hold_id)
if not hold then return refusal end
if hold.payment then
  return cjson.encode({ok = true, payment = hold.payment, attached = false})
end
if hold.status ~= 'held' or hold.expires_at < now then
  return cjson.encode({ok = false, code = 'hold_expired',
    message = 'this hold ended (' .. hold.status .. ') before payment started'})
end
hold.payment = payment
redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
return cjson.encode({ok = true, payment = payment, attached = true})
