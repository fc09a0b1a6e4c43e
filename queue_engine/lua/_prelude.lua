-- Prepended by queue_engine/scripts.py to every event script, so the shared
-- rules (phase by time, releasing a hold, sold out) exist exactly once.
--
-- KEYS, the same list for every event script (queue_engine/keys.py), all in
-- the one cluster slot {e:<id>}:
--   1 meta  2 buffer  3 queue  4 shopping  5 stock  6 available  7 held
--   8 sold  9 limits  10 bought  11 holds  12 hold_expiry  13 fan_hold
--   14 requests  15 seed  16 identities  17 allowance  18 presales
--   19 addresses  20 arrivals  21 tallies  22 discounts  23 lifecycle
--   24 lifecycle_once  25 rounds  26 round_buffer  27 requeued
--   28 channel (pub/sub, not a key)
local K = {
  meta = KEYS[1], buffer = KEYS[2], queue = KEYS[3], shopping = KEYS[4],
  stock = KEYS[5], available = KEYS[6], held = KEYS[7], sold = KEYS[8],
  limits = KEYS[9], bought = KEYS[10], holds = KEYS[11], hold_expiry = KEYS[12],
  fan_hold = KEYS[13], requests = KEYS[14], seed = KEYS[15], identities = KEYS[16],
  allowance = KEYS[17], presales = KEYS[18], addresses = KEYS[19], arrivals = KEYS[20],
  tallies = KEYS[21], discounts = KEYS[22], lifecycle = KEYS[23],
  lifecycle_once = KEYS[24], rounds = KEYS[25], round_buffer = KEYS[26],
  requeued = KEYS[27], channel = KEYS[28],
}

-- Callers pass 0 to use Redis's clock, so every web replica and clock agrees
-- on when the window closes; tests pass their own time.
local function now_ms(arg)
  local n = tonumber(arg)
  if n and n > 0 then return n end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- One entry on the sale's lifecycle stream per ticket change (kinds and fields:
-- queue_engine/lifecycle.py), written by the script that makes the change, so
-- the change and its entry happen together or not at all. LIFECYCLE_MAXLEN is
-- set above this prelude by queue_engine/scripts.py from the settings. The
-- sale's id is read off its meta key ({e:<id>}:meta). Returns the entry's id.
local function record_change(kind, hold, order, codes)
  return redis.call('XADD', K.lifecycle, 'MAXLEN', '~', LIFECYCLE_MAXLEN, '*', 'kind', kind,
    'sale', string.sub(K.meta, 4, -7), 'items', cjson.encode(hold.items), 'hold', hold.id or '',
    'order', order or '', 'codes', codes and cjson.encode(codes) or '[]',
    'at', now_ms(0))
end

local function meta_num(field)
  return tonumber(redis.call('HGET', K.meta, field) or '0') or 0
end

local function hash_total(key)
  local total = 0
  for _, v in ipairs(redis.call('HVALS', key)) do total = total + tonumber(v) end
  return total
end

local function hash_numbers(key)
  local out, flat = {}, redis.call('HGETALL', key)
  for i = 1, #flat, 2 do out[flat[i]] = tonumber(flat[i + 1]) end
  return out
end

local function mark_changed()
  redis.call('HSET', K.meta, 'dirty', 1)
end

-- The phase moves scheduled -> buffering -> drawing by time alone, in whichever
-- script runs first: the window closes at drop_at exactly, however late the
-- clock is, and the buffer is frozen (its size recorded) in the same step.
local function current_phase(now)
  local phase = redis.call('HMGET', K.meta, 'state', 'round_state')
  local state = phase[1]
  if not state then return nil end
  -- A resale round's window (buffer/rounds.py) closes the same way: frozen at
  -- its drop, and its block of queue numbers kept right after every number
  -- given before, so whoever comes later is behind all of its entrants.
  if phase[2] == 'buffering' and now >= meta_num('round_drop_at') then
    local entrants = redis.call('SCARD', K.round_buffer)
    local first = meta_num('frozen') + meta_num('late') + 1
    redis.call('HSET', K.meta, 'round_state', 'drawing', 'round_frozen', entrants,
      'round_first', first)
    redis.call('HINCRBY', K.meta, 'late', entrants)
    mark_changed()
  end
  if state == 'scheduled' and now >= meta_num('opens_at') then
    state = 'buffering'
    redis.call('HSET', K.meta, 'state', state)
    mark_changed()
  end
  if state == 'buffering' and now >= meta_num('drop_at') then
    state = 'drawing'
    redis.call('HSET', K.meta, 'state', state, 'frozen', redis.call('SCARD', K.buffer),
      'draw_started_at', now)
    mark_changed()
  end
  return state
end

-- Why this fan may not enter the sale, or nil when they may. ``satisfied`` is
-- the space-separated list of access policies the fan's identity meets; on a
-- list sale the fan must also be on the organiser's list.
local function entry_refusal(fan, satisfied)
  local policy = redis.call('HGET', K.meta, 'access') or 'open'
  if not string.find(' ' .. satisfied .. ' ', ' ' .. policy .. ' ', 1, true) then
    return 'sign_in_required'
  end
  if policy == 'list' and redis.call('HEXISTS', K.allowance, fan) == 0 then
    return 'not_on_list'
  end
  return nil
end

-- A hold by id; nil and the refusal to return when there is no such hold.
local function find_hold(hold_id)
  local raw = redis.call('HGET', K.holds, hold_id)
  if not raw then
    return nil, cjson.encode({ok = false, code = 'unknown_hold', message = 'no such hold'})
  end
  return cjson.decode(raw), nil
end

-- A discount code's uses change by ``used`` (held or paid) and ``paid``; a
-- code the sale no longer has is left alone.
local function count_discount_use(code, used, paid)
  local raw = redis.call('HGET', K.discounts, code)
  if not raw then return end
  local discount = cjson.decode(raw)
  discount.used = discount.used + used
  discount.paid = discount.paid + paid
  redis.call('HSET', K.discounts, code, cjson.encode(discount))
end

-- Why a hold may not take a use of the code now (a code and a message), or
-- nil and the code's terms as a hold carries them. ``items`` as check_items
-- gives them; a per-type code needs a ticket of its type.
local function discount_refusal(code, items, now)
  local raw = redis.call('HGET', K.discounts, code)
  if not raw then return 'unknown_discount', 'no discount code ' .. code .. ' for this sale' end
  local discount = cjson.decode(raw)
  if discount.expires_at <= now then
    return 'discount_expired', 'the discount code ' .. code .. ' has expired'
  end
  if discount.used >= discount.limit then
    return 'discount_used_up', 'the discount code ' .. code .. ' is used up'
  end
  if discount.type ~= '' then
    local found = false
    for _, item in ipairs(items) do found = found or item[1] == discount.type end
    if not found then
      return 'discount_not_applicable', 'the discount code ' .. code .. ' is for another ticket type'
    end
  end
  return nil, {code = code, kind = discount.kind, amount = discount.amount, type = discount.type}
end

-- Gives a live hold's tickets back. The status check makes it happen exactly
-- once per hold, whoever calls it (expiry, cancel, failed payment).
local function release_hold(hold_id, new_status)
  redis.call('ZREM', K.hold_expiry, hold_id)
  local raw = redis.call('HGET', K.holds, hold_id)
  if not raw then return false end
  local hold = cjson.decode(raw)
  if hold.status ~= 'held' then return false end
  local back = 0
  for _, item in ipairs(hold.items) do
    local t, q = item[1], item[2]
    redis.call('HINCRBY', K.available, t, q)
    redis.call('HINCRBY', K.held, t, -q)
    redis.call('HINCRBY', K.bought, hold.fan .. '|' .. t, -q)
    back = back + q
  end
  -- Queue holds' tickets that came back, for the fan page's odds (progress).
  if not hold.presale then redis.call('HINCRBY', K.meta, 'returned', back) end
  hold.status = new_status
  redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
  if redis.call('HGET', K.fan_hold, hold.fan) == hold_id then
    redis.call('HDEL', K.fan_hold, hold.fan)
  end
  redis.call('ZREM', K.shopping, hold.fan)
  -- A presale hold that ends unpaid gives its tickets back to its link too.
  local raw_link = hold.presale and redis.call('HGET', K.presales, hold.presale)
  if raw_link then
    local link = cjson.decode(raw_link)
    for _, item in ipairs(hold.items) do link.left = link.left + item[2] end
    redis.call('HSET', K.presales, hold.presale, cjson.encode(link))
  end
  -- And its discount code's use (purchase/discounts.py).
  if hold.discount then count_discount_use(hold.discount.code, -1, 0) end
  record_change(new_status, hold)  -- 'released' or 'expired'
  mark_changed()
  return true
end

-- A hold request's answer, kept under its id: a retried or duplicated request
-- gets the same answer and changes nothing twice (hold.lua, presale_hold.lua).
local function answer_request(request_id, result)
  local encoded = cjson.encode(result)
  redis.call('HSET', K.requests, request_id, encoded)
  return encoded
end

local function refuse_request(request_id, fan, code, message)
  return answer_request(request_id,
    {ok = false, code = code, message = message, request_id = request_id, fan = fan})
end

-- The items a fan asks for, checked against the ticket types, the per-person
-- limits, the list's allowance (all types together) and the stock: the items,
-- or nil and a refusal's code and message. Changes nothing.
local function check_items(fan, raw_items)
  local ok, items = pcall(cjson.decode, raw_items)
  if not ok or type(items) ~= 'table' or #items == 0 then
    return nil, 'invalid_field', 'items must be a non-empty list of [type, quantity]'
  end
  local allowance = tonumber(redis.call('HGET', K.allowance, fan) or '-1')
  local wanted = 0
  local seen = {}
  for _, item in ipairs(items) do
    local t, q = item[1], tonumber(item[2])
    if type(t) ~= 'string' or not q or q < 1 or q ~= math.floor(q) or seen[t] then
      return nil, 'invalid_field', 'each item needs a ticket type once and a whole quantity >= 1'
    end
    seen[t] = true
    if redis.call('HEXISTS', K.stock, t) == 0 then
      return nil, 'unknown_ticket_type', 'no ticket type ' .. t .. ' in this event'
    end
    local limit = tonumber(redis.call('HGET', K.limits, t))
    local mine = tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0')
    if mine + q > limit then
      return nil, 'limit_exceeded', 'at most ' .. limit .. ' of ' .. t .. ' per person'
    end
    wanted = wanted + q
    local left = tonumber(redis.call('HGET', K.available, t))
    if left < q then
      if left == 0 then return nil, 'sold_out', t .. ' is sold out' end
      return nil, 'not_enough_stock', 'only ' .. left .. ' of ' .. t .. ' left'
    end
  end
  -- A fan on the organiser's list may buy their allowance, all types together.
  if allowance >= 0 then
    for _, t in ipairs(redis.call('HKEYS', K.stock)) do
      wanted = wanted + tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0')
    end
    if wanted > allowance then
      return nil, 'limit_exceeded', 'your allowance is ' .. allowance .. ' ticket(s) in all'
    end
  end
  return items, nil, nil
end

-- Moves checked items from available into a new live hold for the fan, which
-- counts as shopping until it ends. ``presale`` names the link the hold uses
-- (its tickets go back to the link if the hold ends unpaid), or nil.
local function take_hold(fan, hold_id, request_id, items, now, presale)
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
    buyer = redis.call('HGET', K.identities, fan) or '', presale = presale}
  redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
  redis.call('ZADD', K.hold_expiry, expires, hold_id)
  redis.call('HSET', K.fan_hold, fan, hold_id)
  redis.call('ZADD', K.shopping, expires, fan)
  record_change('held', hold)
  mark_changed()
  return hold
end

-- A new sale's state from its spec (create.lua; restore_sale.lua after Redis
-- lost it): the schedule, every ticket available, the committed seed.
local function create_sale(sale)
  redis.call('HSET', K.meta,
    'state', 'scheduled', 'opens_at', sale.opens_at, 'drop_at', sale.drop_at,
    'rate_per_min', sale.rate_per_min, 'cap', sale.cap, 'hold_ms', sale.hold_ms,
    'seed_hash', sale.seed_hash, 'serving', 0, 'frozen', 0, 'late', 0, 'paused', 0,
    'tokens', 0, 'tokens_at', 0, 'dirty', 1, 'published_at', 0,
    'access', sale.access or 'open',
    'algorithm', sale.algorithm or 'fairdrop-draw-v1', 'beacon', sale.beacon or '',
    'pause_message', sale.pause_message or '')
  for _, t in ipairs(sale.types) do
    redis.call('HSET', K.stock, t[1], t[2])
    redis.call('HSET', K.available, t[1], t[2])
    redis.call('HSET', K.held, t[1], 0)
    redis.call('HSET', K.sold, t[1], 0)
    redis.call('HSET', K.limits, t[1], t[3])
  end
  redis.call('SET', K.seed, sale.seed)
end

-- Sold out only when nothing is left and no live hold could bring any back;
-- while holds are live, waiting fans are told tickets may still come back.
-- ``ran_out`` marks that the sale sold out once: from then on a seat that
-- comes back with nobody left in line goes to a resale round (round_due).
local function settle_sold_out()
  if redis.call('HGET', K.meta, 'state') == 'queueing'
      and hash_total(K.available) <= 0 and redis.call('ZCARD', K.hold_expiry) == 0 then
    redis.call('HSET', K.meta, 'state', 'sold_out', 'ran_out', 1)
    mark_changed()
  end
end

-- Whether a resale round should open (buffer/rounds.py): the sale sold out
-- once, tickets are back (a resale, a refund, a hold that ended, more stock)
-- and nobody is left in line or choosing to take them. Given to whoever asked first, they
-- would go to whoever polls fastest: a script. The round draws them instead
-- among everyone who enters its window, as the sale's own draw did.
local function round_due()
  local m = redis.call('HMGET', K.meta, 'state', 'ran_out', 'round_state', 'paused',
    'frozen', 'late', 'serving')
  return m[1] == 'queueing' and m[2] == '1' and (m[3] or '') == '' and m[4] ~= '1'
    and tonumber(m[5]) + tonumber(m[6]) <= tonumber(m[7]) and hash_total(K.available) > 0
    and redis.call('ZCARD', K.shopping) <= redis.call('HLEN', K.fan_hold)
end

-- Tickets came back to a sale that had sold out (more stock, a refund, a
-- resale): it queues again, and tick.lua admits while available > 0.
local function reopen_sold_out()
  if redis.call('HGET', K.meta, 'state') == 'sold_out' and hash_total(K.available) > 0 then
    redis.call('HSET', K.meta, 'state', 'queueing')
  end
end

-- What buyers took so far: how many bought (hold.lua counts every queue hold
-- in the meta fields takers, taken and taken_sq), the tickets and the sum of
-- their squares; and the most one fan may take now: the per-person limits of
-- the types with stock left added up.
local function takes_so_far()
  local most = 0
  for t, left in pairs(hash_numbers(K.available)) do
    if left > 0 then most = most + tonumber(redis.call('HGET', K.limits, t) or '0') end
  end
  local m = redis.call('HMGET', K.meta, 'takers', 'taken', 'taken_sq')
  return tonumber(m[1] or '0'), tonumber(m[2] or '0'), tonumber(m[3] or '0'), math.max(1, most)
end

-- How many tickets a fan let in is likely to take, as a mean and a variance,
-- for the admission bound (tick.lua); the most one fan may take, and how many
-- takes (real and imagined) the mean is made of. Before
-- anyone has bought that most is the guess; then the tickets per buyer so
-- far, drawn toward it by TAKE_PRIOR imagined buyers who take the most with
-- the widest spread a take between 1 and the most can have, so a few first
-- buyers who all took one cannot make the clock promise tickets to too many.
local TAKE_PRIOR = 2
local function likely_take()
  local takers, taken, taken_sq, most = takes_so_far()
  local prior_var = ((most - 1) / 2) ^ 2
  local mean = (TAKE_PRIOR * most + taken) / (TAKE_PRIOR + takers)
  local square = (TAKE_PRIOR * (prior_var + most * most) + taken_sq) / (TAKE_PRIOR + takers)
  -- A type sold out since: nobody can take more than the types still selling allow.
  mean = math.max(1, math.min(mean, most))
  return mean, math.max(0, square - mean * mean), most, TAKE_PRIOR + takers
end

local function rounded(x)
  return math.floor(x * 1000 + 0.5) / 1000
end

-- Fans let in who have been choosing CHOSE_MARGIN times longer than any buyer
-- so far took (once CHOOSERS_SEEN have bought): most such fans buy nothing,
-- and the page's odds count them so long before their turn runs out. The
-- margin: the first buyers are the quick ones, and the longest any took grows
-- as the drop goes on. Fans let in before a moment are those whose shopping
-- deadline (let in + hold time) is before it plus the hold time; holds taken
-- before it have the same in hold_expiry, so the two counts differ by them.
local CHOOSERS_SEEN, CHOSE_MARGIN = 5, 2
local function choosing_long(now, hold_ms, chose_max_ms, choosing)
  if meta_num('takers') < CHOOSERS_SEEN or choosing <= 0 then return 0 end
  local since = now - CHOSE_MARGIN * tonumber(chose_max_ms or '0')
  local line = '(' .. (since + tonumber(hold_ms or '0'))
  local long = redis.call('ZCOUNT', K.shopping, '-inf', line)
    - redis.call('ZCOUNT', K.hold_expiry, '-inf', line)
  return math.max(0, math.min(choosing, long))
end

-- What every fan page and the organiser see; one encoding per broadcast.
local function progress(now)
  local m = redis.call('HMGET', K.meta, 'state', 'serving', 'frozen', 'late', 'paused',
    'rate_per_min', 'cap', 'hold_ms', 'drop_at', 'opens_at', 'tokens', 'tokens_at',
    'returned', 'admit_limit', 'chose_max_ms', 'pause_message', 'round', 'round_state',
    'round_drop_at')
  local held = hash_total(K.held)
  local remaining = hash_numbers(K.available)
  local shopping = redis.call('ZCARD', K.shopping)
  local buyers, taken, taken_sq, most = takes_so_far()
  local per_buyer = buyers > 0 and taken / buyers or 0
  local take_var = buyers > 0 and math.max(0, taken_sq / buyers - per_buyer ^ 2) or 0
  -- Of the queue holds' tickets that ended, the share that came back unpaid.
  local returned = tonumber(m[13] or '0')
  local ended = math.max(returned, taken - held)
  local choosing = shopping - redis.call('HLEN', K.fan_hold)
  return {
    t = 'progress',
    at = now,
    state = m[1],
    serving = tonumber(m[2] or '0'),
    last_number = tonumber(m[3] or '0') + tonumber(m[4] or '0'),
    -- Entrants drawn (the frozen window); numbers after them are late joiners.
    drawn = tonumber(m[3] or '0'),
    paused = m[5] == '1',
    -- The organiser's words to waiting fans while paused ('' for none).
    pause_message = m[16] or '',
    rate_per_min = tonumber(m[6]),
    cap = tonumber(m[7]),
    hold_ms = tonumber(m[8]),
    drop_at = tonumber(m[9]),
    opens_at = tonumber(m[10]),
    shopping = shopping,
    held = held,
    remaining = remaining,
    -- For the fan page's odds and wait (queue_engine/odds.py): fans let in who
    -- hold nothing yet, what buyers took so far (0 before anyone has), the
    -- admission rate's bucket and what holds the queue back.
    choosing = choosing,
    choosing_long = choosing_long(now, m[8], m[15], choosing),
    buyers = buyers,
    per_buyer = rounded(per_buyer),
    per_buyer_sd = rounded(math.sqrt(take_var)),
    most_per_fan = most,
    hold_return_share = ended > 0 and rounded(returned / ended) or 0,
    tokens = rounded(tonumber(m[11] or '0')),
    tokens_at = tonumber(m[12] or '0'),
    admit_limit = m[14] or '',
    -- The latest resale round (buffer/rounds.py): its number (0 before any), its
    -- state ('buffering', 'drawing', or '' once drawn), when its window closes
    -- and how many have entered it while it is open.
    round = tonumber(m[17] or '0'),
    round_state = m[18] or '',
    round_drop_at = tonumber(m[19] or '0'),
    round_entered = (m[18] or '') ~= '' and redis.call('SCARD', K.round_buffer) or 0,
  }
end
