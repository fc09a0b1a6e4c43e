-- One clock step for one sale: moves the phase on by time, returns expired
-- holds and idle admissions, and admits the next fans in queue order at the
-- organiser's rate while fewer than the cap are shopping and there are more
-- tickets left than admitted fans still choosing.
-- Several clocks may run it at once: the rate bucket and the serving counter
-- change only here, atomically, so two steps admit what one would (invariant 4).
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] most fans to admit
-- ARGV[3] most holds or admissions to expire  ARGV[4] heartbeat in ms
-- Returns {state, serving, admitted, expired holds, expired admissions, published 0/1}
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
if state == 'queueing' and redis.call('HGET', K.meta, 'paused') ~= '1' then
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
  -- Never more fans deciding than tickets left: each admitted fan without a
  -- hold yet may take at least one, so letting in more would only show
  -- "your turn" to fans who find the shop empty. With nothing left at all,
  -- fans wait until a hold comes back.
  local undecided = redis.call('ZCARD', K.shopping) - redis.call('HLEN', K.fan_hold)
  local unspoken = hash_total(K.available) - undecided
  local n = math.min(math.floor(tokens), room, waiting, max_admit, unspoken)
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
  redis.call('PUBLISH', K.channel, cjson.encode(progress(now)))
  redis.call('HSET', K.meta, 'dirty', 0, 'published_at', now)
  published = 1
end
return {redis.call('HGET', K.meta, 'state'), serving, admitted, expired_holds, expired_admissions, published}
