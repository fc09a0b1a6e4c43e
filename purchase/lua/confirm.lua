-- Turns a hold into sold tickets once its payment is confirmed.
-- Confirming twice answers the same and changes nothing twice; the answer's
-- hold.payment says which payment bought it, so a second payment for the
-- same hold is known and refunded by the worker.
-- A payment that arrives after its hold ended (expired, or let go after a
-- failed attempt) still gets the tickets if every one is free right now,
-- taken here in the same step; otherwise the answer is 'no_stock' and the
-- worker refunds it. Never oversold (invariant 1), never kept without tickets.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] hold id  ARGV[3] payment reference
-- Returns JSON: {"ok":true,"hold":{...},"already":bool,"late":bool}
--            or {"ok":false,"code":...,"message":...}
local now = now_ms(ARGV[1])
local hold_id, payment = ARGV[2], ARGV[3]
local hold, refusal = find_hold(hold_id)
if not hold then return refusal end
if hold.status == 'confirmed' then
  return cjson.encode({ok = true, hold = hold, already = true, late = false})
end
if hold.status == 'held' and hold.expires_at < now then
  -- The clock has not swept it yet; it is expired all the same.
  release_hold(hold_id, 'expired')
  settle_sold_out()
  hold.status = 'expired'
end
local late = hold.status == 'expired' or hold.status == 'released'
if late then
  for _, item in ipairs(hold.items) do
    if tonumber(redis.call('HGET', K.available, item[1]) or '0') < item[2] then
      return cjson.encode({ok = false, code = 'no_stock', hold = hold,
        message = 'the payment came after the hold ended (' .. hold.status
          .. ') and its tickets are gone'})
    end
  end
  -- The fan may have held again since (a presale link allows it): a late
  -- payment never takes a fan past a per-person limit or their allowance.
  local _, code, message = check_items(hold.fan, cjson.encode(hold.items))
  if code then
    return cjson.encode({ok = false, code = code, hold = hold,
      message = 'the payment came after the hold ended, and now ' .. message})
  end
  -- Nor a discount code past its limit: its use went back when the hold ended.
  local raw_use = hold.discount and redis.call('HGET', K.discounts, hold.discount.code)
  local use = raw_use and cjson.decode(raw_use)
  if use and use.used >= use.limit then
    return cjson.encode({ok = false, code = 'discount_used_up', hold = hold,
      message = 'the payment came after the hold ended and its discount code is used up'})
  end
  -- Nor a presale link past its allowance: its tickets went back to the link.
  local raw_link = hold.presale and redis.call('HGET', K.presales, hold.presale)
  if raw_link then
    local link, wanted = cjson.decode(raw_link), 0
    for _, item in ipairs(hold.items) do wanted = wanted + item[2] end
    if wanted > link.left then
      return cjson.encode({ok = false, code = 'presale_used_up', hold = hold,
        message = 'the payment came after the hold ended and its presale link is used up'})
    end
    link.left = link.left - wanted
    redis.call('HSET', K.presales, hold.presale, cjson.encode(link))
  end
  if use then count_discount_use(hold.discount.code, 1, 0) end
  -- The fan was counted out of 'bought' when the hold ended; count them in again.
  for _, item in ipairs(hold.items) do
    redis.call('HINCRBY', K.available, item[1], -item[2])
    redis.call('HINCRBY', K.bought, hold.fan .. '|' .. item[1], item[2])
  end
elseif hold.status ~= 'held' then
  -- 'refunded': an organiser cancelled this order; nothing is sold twice.
  return cjson.encode({ok = false, code = 'hold_ended', hold = hold,
    message = 'this hold ended (' .. hold.status .. ') before payment was confirmed'})
else
  for _, item in ipairs(hold.items) do
    redis.call('HINCRBY', K.held, item[1], -item[2])
  end
end
for _, item in ipairs(hold.items) do
  redis.call('HINCRBY', K.sold, item[1], item[2])
end
-- The code's use is paid for now: final, never given back (hold.lua took it).
if hold.discount then count_discount_use(hold.discount.code, 0, 1) end
hold.status = 'confirmed'
hold.payment = payment
hold.confirmed_at = now
hold.late = late
redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
redis.call('ZREM', K.hold_expiry, hold_id)
if redis.call('HGET', K.fan_hold, hold.fan) == hold_id then redis.call('HDEL', K.fan_hold, hold.fan) end
redis.call('ZREM', K.shopping, hold.fan)
mark_changed()
settle_sold_out()
return cjson.encode({ok = true, hold = hold, already = false, late = late})
