-- Holds tickets for a fan who opened a presale link: before or beside the
-- public queue, no admission needed, but within the link's allowance, which is
-- used exactly however many fans use the link at once (it is taken here, in
-- the same step as the stock; invariant 1 holds as in hold.lua).
-- The answer is stored under the request id, like hold.lua's.
-- KEYS: the event keys (see queue_engine/lua/_prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] fan id  ARGV[3] request id
-- ARGV[4] new hold id  ARGV[5] items as JSON [[type, quantity], ...]
-- ARGV[6] presale link id  ARGV[7] the access policies the fan's identity
--         satisfies (see join.lua)
-- Returns JSON: {"ok":true,"hold":{...}} or {"ok":false,"code":...,"message":...}
local prior = redis.call('HGET', K.requests, ARGV[3])
if prior then return prior end

local now = now_ms(ARGV[1])
local fan, request_id, hold_id, link_id = ARGV[2], ARGV[3], ARGV[4], ARGV[6]

local function refuse(code, message) return refuse_request(request_id, fan, code, message) end

local state = current_phase(now)
if not state then return refuse('unknown_event', 'no such event') end
local raw_link = redis.call('HGET', K.presales, link_id)
if not raw_link then return refuse('unknown_presale', 'no such presale link') end
local link = cjson.decode(raw_link)
if link.expires_at <= now then return refuse('presale_expired', 'this presale link has expired') end
local refusal = entry_refusal(fan, ARGV[7])
if refusal then return refuse(refusal, 'sign in as this sale asks before using the link') end
if redis.call('HGET', K.meta, 'paused') == '1' then
  return refuse('paused', 'the sale is paused; try again when it resumes')
end
if state == 'sold_out' then return refuse('sold_out', 'every ticket is sold') end
if redis.call('HEXISTS', K.fan_hold, fan) == 1 then
  return refuse('hold_exists', 'you already hold tickets; pay for them or let them go')
end

local items, code, message = check_items(fan, ARGV[5])
if not items then return refuse(code, message) end
local wanted = 0
for _, item in ipairs(items) do
  if link.type ~= '' and item[1] ~= link.type then
    return refuse('invalid_field', 'this presale link is for ' .. link.type .. ' only')
  end
  wanted = wanted + item[2]
end
if wanted > link.left then
  return refuse('presale_used_up', 'this presale link has ' .. link.left .. ' ticket(s) left')
end
link.left = link.left - wanted
redis.call('HSET', K.presales, link_id, cjson.encode(link))
local hold = take_hold(fan, hold_id, request_id, items, now, link_id)
return answer_request(request_id, {ok = true, hold = hold, request_id = request_id, fan = fan})
