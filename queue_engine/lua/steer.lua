-- Steers a running sale: its admission rate, the cap on fans shopping at
-- once, the hold time and the pause message, and more stock for a type. The
-- clock's next step admits by the new figures; holds and turns already given
-- keep their deadlines.
-- Idempotent and in order: the caller passes the database's values after the
-- change (not the change) and the change's number in the database's log, so
-- a retry sets the same state and a call overtaken by a later change's
-- (two organisers at once) changes nothing.
-- Stock only grows here; what is added is available at once, and a sale that
-- had sold out queues again (invariant 1 holds: available + held + sold =
-- stock, before and after).
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] JSON {rate_per_min, cap, hold_ms, pause_message}
-- ARGV[2] JSON {type id: stock, ...}  ARGV[3] the change's number (increasing)
-- Returns 1, or 0 for an unknown event.
if redis.call('EXISTS', K.meta) == 0 then return 0 end
if meta_num('steered') >= tonumber(ARGV[3]) then return 1 end
redis.call('HSET', K.meta, 'steered', ARGV[3])
local s = cjson.decode(ARGV[1])
redis.call('HSET', K.meta, 'rate_per_min', s.rate_per_min, 'cap', s.cap,
  'hold_ms', s.hold_ms, 'pause_message', s.pause_message)
for t, stock in pairs(cjson.decode(ARGV[2])) do
  local added = stock - tonumber(redis.call('HGET', K.stock, t) or stock)
  if added > 0 then
    redis.call('HINCRBY', K.stock, t, added)
    redis.call('HINCRBY', K.available, t, added)
  end
end
reopen_sold_out()
mark_changed()
return 1
