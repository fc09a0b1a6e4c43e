-- Holds every requested ticket for an admitted fan, or none of them.
-- Stock changes only in scripts (invariant 1): available + held + sold = stock
-- for every type, before and after.
-- The answer is stored under the request id, so a retried or duplicated job
-- gets the same answer and changes nothing twice.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] fan id  ARGV[3] request id
-- ARGV[4] new hold id  ARGV[5] items as JSON [[type, quantity], ...]
-- ARGV[6] discount code in lower case, '' or absent for none: the hold takes
--   one use of it in the same step, or is refused and takes nothing
-- Returns JSON: {"ok":true,"hold":{...}} or {"ok":false,"code":...,"message":...}
local prior = redis.call('HGET', K.requests, ARGV[3])
if prior then return prior end

local now = now_ms(ARGV[1])
local fan, request_id, hold_id = ARGV[2], ARGV[3], ARGV[4]

local function refuse(code, message) return refuse_request(request_id, fan, code, message) end

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

local items, code, message = check_items(fan, ARGV[5])
if not items then return refuse(code, message) end
local discount_code, discount = ARGV[6] or '', nil
if discount_code ~= '' then
  local refusal, detail = discount_refusal(discount_code, items, now)
  if refusal then return refuse(refusal, detail) end
  discount = detail
end
local hold = take_hold(fan, hold_id, request_id, items, now, nil)
if discount then
  count_discount_use(discount_code, 1, 0)
  hold.discount = discount
  redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
end
-- What this buyer took, for the tickets per buyer so far (likely_take): the
-- clock's admission bound and the fan page's odds; and the longest a buyer
-- took to choose (let in at its deadline less the hold time), after which a
-- fan still choosing is likely to buy nothing (progress: choosing_long).
local took = 0
for _, item in ipairs(hold.items) do took = took + item[2] end
redis.call('HINCRBY', K.meta, 'takers', 1)
redis.call('HINCRBY', K.meta, 'taken', took)
redis.call('HINCRBY', K.meta, 'taken_sq', took * took)
local chose_ms = now - (deadline - meta_num('hold_ms'))
if chose_ms > meta_num('chose_max_ms') then redis.call('HSET', K.meta, 'chose_max_ms', chose_ms) end
return answer_request(request_id, {ok = true, hold = hold, request_id = request_id, fan = fan})
