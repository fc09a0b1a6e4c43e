-- One clock step for one sale: moves the phase on by time, returns expired
-- holds and idle admissions, and admits the next fans in queue order at the
-- organiser's rate while fewer than the cap are shopping and the tickets left
-- serve what the admitted fans still choosing are likely to take.
-- Several clocks may run it at once: the rate bucket and the serving counter
-- change only here, atomically, so two steps admit what one would (invariant 4).
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] most fans to admit
-- ARGV[3] most holds or admissions to expire  ARGV[4] heartbeat in ms
-- ARGV[5] '1': publish with SPUBLISH (sharded pub/sub, Redis 7), else PUBLISH
--   (the rule is queue_engine/notify.py's; the channel is in KEYS, in the event's slot)
-- Returns {state, serving, admitted, expired holds, expired admissions, published 0/1,
--   1 when a resale round should open (round_due), the round's state ('' for none)}

-- How many fans let in may be choosing at once with ``left`` tickets left:
-- as many as it serves if each takes the most one fan may, or, as buyers show
-- what they take (likely_take), as many as it serves with TAKE_MARGIN standard
-- deviations of their total to spare, counting both how buyers differ and how
-- far the tickets per buyer so far may be from the truth; and one while any
-- ticket is left, who finds it. So fans who find nothing are rare (at most 1%
-- in the demo and the locust drop) while fewer tickets per buyer let more
-- fans choose at once.
local TAKE_MARGIN = 2
local function choosing_allowed(left)
  if left <= 0 then return 0 end
  local mean, var, most, seen = likely_take()
  -- The largest u with u * mean + TAKE_MARGIN * sqrt(u * var + u^2 * var / seen)
  -- <= left: the smaller root of a quadratic in u, in the form that stays exact
  -- when the margin is small.
  local z2 = TAKE_MARGIN * TAKE_MARGIN
  local a = mean * mean - z2 * var / seen
  local b = 2 * left * mean + z2 * var
  local c = left * left
  local u = 2 * c / (b + math.sqrt(b * b - 4 * a * c))
  return math.max(1, math.floor(left / most), math.floor(u + 1e-9))
end

local now = now_ms(ARGV[1])
local max_admit = tonumber(ARGV[2])
local max_expire = tonumber(ARGV[3])
local heartbeat = tonumber(ARGV[4])
local state = current_phase(now)
if not state then return {'unknown_event', 0, 0, 0, 0, 0} end

local expired_holds = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.hold_expiry, '-inf', now, 'LIMIT', 0, max_expire)) do
  if release_hold(id, 'expired') then expired_holds = expired_holds + 1 end
end

-- Admitted fans who did nothing in time lose their turn, so the cap frees up.
-- A fan with a live hold keeps the hold's deadline; the hold expiry above ends it.
local expired_admissions = 0
for _, fan in ipairs(redis.call('ZRANGEBYSCORE', K.shopping, '-inf', now, 'LIMIT', 0, max_expire)) do
  if redis.call('HEXISTS', K.fan_hold, fan) == 0 then
    redis.call('ZREM', K.shopping, fan)
    expired_admissions = expired_admissions + 1
  end
end
if expired_admissions > 0 then mark_changed() end

local serving = meta_num('serving')
local admitted = 0
-- While a resale round is drawn its block of numbers is kept but not written
-- yet: admitting now would pass over its entrants to whoever came after.
local round_state = redis.call('HGET', K.meta, 'round_state') or ''
if state == 'queueing' and redis.call('HGET', K.meta, 'paused') ~= '1' and round_state ~= 'drawing' then
  local rate = meta_num('rate_per_min')
  local burst = math.max(1, rate / 30)  -- at most two seconds' worth at once
  local last = meta_num('tokens_at')
  -- The bucket starts full: the first fans go in at the drop, not a step later.
  local tokens = burst
  if last > 0 then
    tokens = math.min(burst, meta_num('tokens') + math.max(0, now - last) * rate / 60000)
  end
  local room = meta_num('cap') - redis.call('ZCARD', K.shopping)
  local waiting = meta_num('frozen') + meta_num('late') - serving
  -- Never more fans choosing than the tickets left serve: letting in more
  -- would only show "your turn" to fans who find the shop empty. With nothing
  -- left at all, fans wait until a hold comes back.
  local undecided = redis.call('ZCARD', K.shopping) - redis.call('HLEN', K.fan_hold)
  local unspoken = choosing_allowed(hash_total(K.available)) - undecided
  local n = math.min(math.floor(tokens), room, waiting, max_admit, unspoken)
  -- What holds the next fans back, for the wait their pages show
  -- (queue_engine/odds.py): the rate (worked out from the bucket), the cap on
  -- fans shopping, or the tickets left (all promised to fans choosing now).
  local limit = 'rate'
  if waiting <= n then
    limit = ''
  elseif unspoken <= math.min(math.floor(tokens), room) then
    limit = 'stock'
  elseif room < math.floor(tokens) then
    limit = 'cap'
  end
  if redis.call('HGET', K.meta, 'admit_limit') ~= limit then
    redis.call('HSET', K.meta, 'admit_limit', limit)
    mark_changed()
  end
  if n > 0 then
    local deadline = now + meta_num('hold_ms')
    local next_fans = redis.call('ZRANGEBYSCORE', K.queue, '(' .. serving, '+inf',
      'WITHSCORES', 'LIMIT', 0, n)
    for i = 1, #next_fans, 2 do
      redis.call('ZADD', K.shopping, deadline, next_fans[i])
      serving = tonumber(next_fans[i + 1])
      admitted = admitted + 1
    end
    tokens = tokens - admitted
    redis.call('HSET', K.meta, 'serving', serving)
    mark_changed()
  end
  -- Never move the bucket's clock back: a step with an older time (another
  -- clock's) must not let the next step count the same time twice.
  redis.call('HSET', K.meta, 'tokens', tokens, 'tokens_at', math.max(last, now))
end

settle_sold_out()

local published = 0
if redis.call('HGET', K.meta, 'dirty') == '1' or now - meta_num('published_at') >= heartbeat then
  redis.call(ARGV[5] == '1' and 'SPUBLISH' or 'PUBLISH', K.channel, cjson.encode(progress(now)))
  redis.call('HSET', K.meta, 'dirty', 0, 'published_at', now)
  published = 1
end
return {redis.call('HGET', K.meta, 'state'), serving, admitted, expired_holds, expired_admissions,
  published, round_due() and 1 or 0, round_state}
