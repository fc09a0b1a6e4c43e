-- Turns a live hold into sold tickets once its payment is confirmed.
-- Confirming twice answers the same and changes nothing twice.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] hold id  ARGV[3] payment reference
-- Returns JSON: {"ok":true,"hold":{...},"already":bool} or {"ok":false,"code":...,"message":...}
local now = now_ms(ARGV[1])
local hold_id, payment = ARGV[2], ARGV[3]
local raw = redis.call('HGET', K.holds, hold_id)
if not raw then
  return cjson.encode({ok = false, code = 'unknown_hold', message = 'no such hold'})
end
local hold = cjson.decode(raw)
if hold.status == 'confirmed' then
  return cjson.encode({ok = true, hold = hold, already = true})
end
if hold.status == 'held' and hold.expires_at < now then
  -- The clock has not swept it yet; it is expired all the same.
  release_hold(hold_id, 'expired')
  settle_sold_out()
  hold.status = 'expired'
end
if hold.status ~= 'held' then
  return cjson.encode({ok = false, code = 'hold_expired',
    message = 'this hold ended (' .. hold.status .. ') before payment was confirmed'})
end
for _, item in ipairs(hold.items) do
  redis.call('HINCRBY', K.held, item[1], -item[2])
  redis.call('HINCRBY', K.sold, item[1], item[2])
end
hold.status = 'confirmed'
hold.payment = payment
hold.confirmed_at = now
redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
redis.call('ZREM', K.hold_expiry, hold_id)
if redis.call('HGET', K.fan_hold, hold.fan) == hold_id then redis.call('HDEL', K.fan_hold, hold.fan) end
redis.call('ZREM', K.shopping, hold.fan)
mark_changed()
settle_sold_out()
return cjson.encode({ok = true, hold = hold, already = false})
