-- Holds every requested ticket for an admitted fan, or none of them.
-- Stock changes only in scripts (invariant 1): available + held + sold = stock
-- for every type, before and after.
-- The answer is stored under the request id, so a retried or duplicated job
-- gets the same answer and changes nothing twice.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] fan id  ARGV[3] request id
-- ARGV[4] new hold id  ARGV[5] items as JSON [[type, quantity], ...]
-- Returns JSON: {"ok":true,"hold":{...}} or {"ok":false,"code":...,"message":...}
local prior = redis.call('HGET', K.requests, ARGV[3])
if prior then return prior end

local now = now_ms(ARGV[1])
local fan, request_id, hold_id = ARGV[2], ARGV[3], ARGV[4]

local function answer(result)
  local encoded = cjson.encode(result)
  redis.call('HSET', K.requests, request_id, encoded)
  return encoded
end

local function refuse(code, message)
  return answer({ok = false, code = code, message = message, request_id = request_id, fan = fan})
end

local state = current_phase(now)
if not state then return refuse('unknown_event', 'no such event') end
if redis.call('HGET', K.meta, 'paused') == '1' then
  return refuse('paused', 'the sale is paused; try again when it resumes')
end
if state == 'sold_out' then return refuse('sold_out', 'every ticket is sold') end
local deadline = tonumber(redis.call('ZSCORE', K.shopping, fan) or '0')
if state ~= 'queueing' or deadline < now then
  return refuse('not_admitted', 'it is not your turn to buy')
end
if redis.call('HEXISTS', K.fan_hold, fan) == 1 then
  return refuse('hold_exists', 'you already hold tickets; pay for them or let them go')
end

local ok, items = pcall(cjson.decode, ARGV[5])
if not ok or type(items) ~= 'table' or #items == 0 then
  return refuse('invalid_field', 'items must be a non-empty list of [type, quantity]')
end
-- A fan on the organiser's list may buy their allowance, all types together.
local allowance = tonumber(redis.call('HGET', K.allowance, fan) or '-1')
if allowance >= 0 then
  local wanted = 0
  for _, item in ipairs(items) do wanted = wanted + (tonumber(item[2]) or 0) end
  for _, t in ipairs(redis.call('HKEYS', K.stock)) do
    wanted = wanted + tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0')
  end
  if wanted > allowance then
    return refuse('limit_exceeded', 'your allowance is ' .. allowance .. ' ticket(s) in all')
  end
end
local seen = {}
for _, item in ipairs(items) do
  local t, q = item[1], tonumber(item[2])
  if type(t) ~= 'string' or not q or q < 1 or q ~= math.floor(q) or seen[t] then
    return refuse('invalid_field', 'each item needs a ticket type once and a whole quantity >= 1')
  end
  seen[t] = true
  if redis.call('HEXISTS', K.stock, t) == 0 then
    return refuse('unknown_ticket_type', 'no ticket type ' .. t .. ' in this event')
  end
  local limit = tonumber(redis.call('HGET', K.limits, t))
  local mine = tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0')
  if mine + q > limit then
    return refuse('limit_exceeded', 'at most ' .. limit .. ' of ' .. t .. ' per person')
  end
  local left = tonumber(redis.call('HGET', K.available, t))
  if left < q then
    if left == 0 then return refuse('sold_out', t .. ' is sold out') end
    return refuse('not_enough_stock', 'only ' .. left .. ' of ' .. t .. ' left')
  end
end

local expires = now + meta_num('hold_ms')
local hold_items = {}
for _, item in ipairs(items) do
  local t, q = item[1], tonumber(item[2])
  redis.call('HINCRBY', K.available, t, -q)
  redis.call('HINCRBY', K.held, t, q)
  redis.call('HINCRBY', K.bought, fan .. '|' .. t, q)
  hold_items[#hold_items + 1] = {t, q}
end
-- Who signed in travels with the hold to the paid order (the organiser's export).
local hold = {id = hold_id, fan = fan, items = hold_items, status = 'held',
  created_at = now, expires_at = expires, request_id = request_id,
  buyer = redis.call('HGET', K.identities, fan) or ''}
redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
redis.call('ZADD', K.hold_expiry, expires, hold_id)
redis.call('HSET', K.fan_hold, fan, hold_id)
redis.call('ZADD', K.shopping, expires, fan)
mark_changed()
return answer({ok = true, hold = hold, request_id = request_id, fan = fan})
