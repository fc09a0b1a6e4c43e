-- Deletes a sale before its window opens and before anyone holds a ticket
-- of it (a presale link may sell before the window): every key of the sale.
-- The events index is another slot's key: the caller takes the sale out of it.
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)
-- Returns 'ok', 'unknown_event', 'window_open' or 'has_buyers' (nothing changes then).
if redis.call('EXISTS', K.meta) == 0 then return 'unknown_event' end
if current_phase(now_ms(ARGV[1])) ~= 'scheduled' then return 'window_open' end
if hash_total(K.sold) > 0 or redis.call('ZCARD', K.hold_expiry) > 0 then
  return 'has_buyers'
end
for name, key in pairs(K) do
  if name ~= 'channel' then redis.call('DEL', key) end
end
return 'ok'
