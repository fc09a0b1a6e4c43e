-- Puts the organiser's list in the sale: who may enter a 'list' sale and how
-- many tickets each may buy in all. A corrected list replaces the allowances;
-- what fans already hold or bought ('bought') is never touched, so nobody loses
-- a ticket and nobody gets more than the new allowance allows from now on.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] JSON object {entrant id: allowance}  ARGV[2] '1' replaces the list, '0' adds to it
-- Returns the number of entrants on the list afterwards, or -1 for an unknown event.
if redis.call('EXISTS', K.meta) == 0 then return -1 end
if ARGV[2] == '1' then redis.call('DEL', K.allowance) end
local batch = {}
for fan, allowance in pairs(cjson.decode(ARGV[1])) do
  batch[#batch + 1] = fan
  batch[#batch + 1] = allowance
  -- HSET takes a bounded number of arguments per call (Lua's unpack limit).
  if #batch >= 2000 then
    redis.call('HSET', K.allowance, unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('HSET', K.allowance, unpack(batch)) end
mark_changed()
return redis.call('HLEN', K.allowance)
