-- Writes a door check-in's entry on the sale's lifecycle stream, once per
-- ticket however often it is called. A check-in is made in PostgreSQL
-- (purchase/tickets.py), not here; its ticket row is the durable record that
-- an entry is owed, and this script is the idempotent half: called right after
-- the check-in commits, and again by the clock's sweep for any check-in whose
-- caller died before calling it (purchase/check_in_stream.py). A ticket checks
-- in at most once (one conditional UPDATE), so its code names the change.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] ticket code  ARGV[2] ticket type id  ARGV[3] order id
-- Returns the new entry's id, or false when this check-in was streamed before.
local code = ARGV[1]
if redis.call('HEXISTS', K.lifecycle_check_ins, code) == 1 then return false end
local entry = record_change('checked_in', {items = {{ARGV[2], 1}}}, ARGV[3], {code})
redis.call('HSET', K.lifecycle_check_ins, code, entry)
return entry
