-- A ticket put back for resale (purchase/resale.py): one sold ticket of its
-- type becomes available again, for the next fans in line. Exactly once per
-- listing: the answer is kept under 'resale:<listing id>' with the hold
-- requests' answers, so a retried call changes nothing twice.
-- Stock changes only in scripts (invariant 1): available + held + sold =
-- stock for every type, before and after. The seller's ticket stays valid
-- in the database until a buyer pays; that order voids it in the same
-- transaction that writes the buyer's tickets (purchase/resale.py take_listings).
-- A sale that had sold out queues again (reopen_sold_out, as steer.lua does).
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] listing id  ARGV[2] ticket type id
-- ARGV[3] '1': only record the seat as returned, moving no stock (a sale rebuilt
--         from the database has its put-back seats counted there already:
--         purchase/restore.py), so a later retry does not return it twice
-- Returns JSON: {"ok":true,"returned":bool} or {"ok":false,"code":...,"message":...}
local request_id, t = 'resale:' .. ARGV[1], ARGV[2]
local prior = redis.call('HGET', K.requests, request_id)
if prior then
  local answer = cjson.decode(prior)
  answer.returned = false
  return cjson.encode(answer)
end
if ARGV[3] == '1' then
  redis.call('HSET', K.requests, request_id, cjson.encode({ok = true, returned = false, type = t}))
  return cjson.encode({ok = true, returned = false, type = t})
end
if redis.call('EXISTS', K.meta) == 0 then
  return cjson.encode({ok = false, code = 'unknown_event', message = 'no such sale'})
end
if tonumber(redis.call('HGET', K.sold, t) or '0') < 1 then
  -- Nothing of this type is sold here (Redis lost the sale and it was put
  -- back without it): the listing stays, no stock comes back from nowhere.
  return cjson.encode({ok = false, code = 'unknown_ticket_type',
    message = 'no sold ticket of ' .. t .. ' to put back'})
end
redis.call('HINCRBY', K.sold, t, -1)
redis.call('HINCRBY', K.available, t, 1)
reopen_sold_out()
mark_changed()
redis.call('HSET', K.requests, request_id, cjson.encode({ok = true, returned = true, type = t}))
return cjson.encode({ok = true, returned = true, type = t})
