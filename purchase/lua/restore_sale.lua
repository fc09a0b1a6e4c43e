-- Rebuilds a sale Redis lost (a restart without persistence, a failover to an
-- empty replica) from PostgreSQL's record, in one step, so no fan can hold a
-- ticket the database already sold (invariant 6, then invariant 1).
-- What comes back: the schedule and stock, every sold ticket (paid orders,
-- and orders still being refunded), and each order's hold as 'confirmed'
-- (or 'refunded'), so a cancel, a late or a second payment finds it. What
-- cannot come back: the buffer and the queue. Fans join again; after the
-- drop they are numbered in arrival order, and the draw of the restored sale
-- starts from an empty buffer.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] the sale as create.lua takes it
-- ARGV[3] the orders as JSON: [[hold id, fan id, [[type, quantity], ...], payment, status], ...]
-- Returns JSON: {"restored": bool, "sold": {type: n}}; nothing changes when the sale exists.
local now = now_ms(ARGV[1])
if redis.call('EXISTS', K.meta) == 1 then return cjson.encode({restored = false}) end
create_sale(cjson.decode(ARGV[2]))
local sold = {}
for _, order in ipairs(cjson.decode(ARGV[3])) do
  local hold_id, fan, items, payment, status = order[1], order[2], order[3], order[4], order[5]
  local hold_status = status == 'refunded' and 'refunded' or 'confirmed'
  for _, item in ipairs(items) do
    local t, q = item[1], item[2]
    if hold_status == 'confirmed' then
      sold[t] = (sold[t] or 0) + q
      redis.call('HINCRBY', K.sold, t, q)
      redis.call('HINCRBY', K.available, t, -q)
      redis.call('HINCRBY', K.bought, fan .. '|' .. t, q)
    end
  end
  redis.call('HSET', K.holds, hold_id, cjson.encode({id = hold_id, fan = fan, items = items,
    status = hold_status, payment = payment, created_at = now, expires_at = 0,
    confirmed_at = now, restored = true}))
end
redis.call('HSET', K.meta, 'restored_at', now)
current_phase(now)
settle_sold_out()
mark_changed()
return cjson.encode({restored = true, sold = sold})
