-- Gives a cancelled order's sold tickets back to the sale, exactly once: the
-- order's hold goes from 'confirmed' to 'refunded', so a second call (a
-- retried cancel, two organisers at once) finds it refunded and changes
-- nothing. Stock changes only in scripts (invariant 1): available + held +
-- sold = stock for every type, before and after.
-- A sale that had sold out sells again: waiting fans are admitted by the
-- clock as tickets come back, and every page hears the new remaining stock.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] hold id of the order
-- ARGV[3] order id (kept on the hold, for the record)
-- Returns JSON: {"ok":true,"returned":bool,"hold":{...}} or {"ok":false,"code":...,"message":...}
local now = now_ms(ARGV[1])
local hold_id, order_id = ARGV[2], ARGV[3]
local hold, refusal = find_hold(hold_id)
if not hold then return refusal end
if hold.status == 'refunded' then
  return cjson.encode({ok = true, returned = false, hold = hold})
end
if hold.status ~= 'confirmed' then
  return cjson.encode({ok = false, code = 'hold_not_sold',
    message = 'this hold was never sold (' .. hold.status .. ')'})
end
for _, item in ipairs(hold.items) do
  local t, q = item[1], item[2]
  redis.call('HINCRBY', K.sold, t, -q)
  redis.call('HINCRBY', K.available, t, q)
  redis.call('HINCRBY', K.bought, hold.fan .. '|' .. t, -q)
end
hold.status = 'refunded'
hold.order = order_id
hold.refunded_at = now
redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
record_change('refunded', hold, order_id)  -- once: a repeat finds it refunded above
-- settle_sold_out() moved the sale to sold_out when nothing was left.
reopen_sold_out()
mark_changed()
return cjson.encode({ok = true, returned = true, hold = hold})
