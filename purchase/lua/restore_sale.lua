-- Rebuilds a sale Redis lost (a restart without persistence, a failover to an
-- empty replica) from PostgreSQL's record, in one step, so no fan can hold a
-- ticket the database already sold (invariant 6, then invariant 1).
-- What comes back: the schedule and stock, every sold ticket (paid orders,
-- and orders still being refunded), and each order's hold as 'confirmed'
-- (or 'refunded'), so a cancel, a late or a second payment finds it; and a
-- draw the database kept, as far as it was published. The caller has put its
-- members back already, in chunks (purchase/drawn_restore.py): the frozen
-- buffer of a sale still waiting for its beacon, which then draws as it
-- would have; or the queue numbers 1..N of a drawn sale, which resumes
-- admission after ARGV[4]'s serving counter. What cannot come back: live
-- holds, late joiners' numbers, and the buffer of a sale lost before its
-- freeze was saved. Those fans join again.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] the sale as create.lua takes it
-- ARGV[3] the orders as JSON: [[hold id, fan id, [[type, quantity], ...], payment, status], ...]
-- ARGV[4] the saved draw as JSON, '' for none: {state: 'drawing' | 'queueing',
--         entrants: N, serving: S, meta: {field: value, ...}} (the meta fields
--         the freeze and the draw left: entrants_digest, beacon, seed_revealed, ...)
-- ARGV[5] the saved resale rounds as JSON, '' (or absent) for none: {last: n, saved: mark,
--         records: {n: record JSON}} (purchase/round_records.py). Their records only:
--         the round counter goes on from the last; their entrants join again.
-- Returns JSON: {"restored": bool, "sold": {type: n}}; nothing changes when the
-- sale exists, or ({"restored": false, "incomplete": true}) when the buffer or
-- the queue lacks some of the draw's members.
local now = now_ms(ARGV[1])
if redis.call('EXISTS', K.meta) == 1 then return cjson.encode({restored = false}) end
local draw = nil
if ARGV[4] and ARGV[4] ~= '' then draw = cjson.decode(ARGV[4]) end
if draw then
  local members = redis.call('SCARD', K.buffer)
  if draw.state ~= 'drawing' then members = redis.call('ZCOUNT', K.queue, 1, draw.entrants) end
  if members ~= draw.entrants then return cjson.encode({restored = false, incomplete = true}) end
end
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
if draw then
  for field, value in pairs(draw.meta) do redis.call('HSET', K.meta, field, value) end
  -- Frozen or drawn: never through the phases again (a second freeze would
  -- count the buffer anew).
  redis.call('HSET', K.meta, 'state', draw.state, 'frozen', draw.entrants,
    'serving', draw.serving)
else
  current_phase(now)
end
if ARGV[5] and ARGV[5] ~= '' then
  local rounds = cjson.decode(ARGV[5])
  for n, record in pairs(rounds.records) do redis.call('HSET', K.rounds, n, record) end
  redis.call('HSET', K.meta, 'round', rounds.last, 'round_saved', rounds.saved,
    'rounds_restored', rounds.last)
end
settle_sold_out()
mark_changed()
return cjson.encode({restored = true, sold = sold})
