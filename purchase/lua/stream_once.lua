-- Writes the lifecycle entry of a change made in PostgreSQL, not here, once
-- per change however often it is offered: a door check-in (purchase/tickets.py)
-- or a resale (purchase/resale.py take_listings). The change's row is the
-- durable record that an entry is owed, and this script is the idempotent
-- half: called right after the change commits, and again by the clock's sweep
-- for any change whose caller died before calling it
-- (purchase/db_changes_stream.py). Each change has a name of its own: a ticket
-- checks in at most once (its code), a listing is resold at most once (its id).
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] kind ('checked_in' | 'resold')  ARGV[2] the change's name
-- ARGV[3] ticket type id  ARGV[4] order id (the buyer's, for a resale)
-- ARGV[5] the ticket's code (the seller's, now void, for a resale)
-- Returns the new entry's id, or false when this change was streamed before.
local once = ARGV[1] .. ':' .. ARGV[2]
if redis.call('HEXISTS', K.lifecycle_once, once) == 1 then return false end
local entry = record_change(ARGV[1], {items = {{ARGV[3], 1}}}, ARGV[4], {ARGV[5]})
redis.call('HSET', K.lifecycle_once, once, entry)
return entry
