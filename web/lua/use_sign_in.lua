-- Uses an email sign-in challenge once, by its link or by its code.
-- The challenge (web/sign_in_keys.py) is a hash: state (open | used | dead),
-- email, next, code (the keyed digest of its six digits), wrong (wrong codes
-- so far). Deciding and writing happen in this one step, so two clicks, or a
-- click and a code, cannot both sign in, and no more than ARGV[3] wrong codes
-- are ever counted however many guesses arrive at once.
-- KEYS[1] the challenge
-- ARGV[1] 'link' or 'code'
-- ARGV[2] the digest of the code typed (ignored for 'link')
-- ARGV[3] wrong codes a challenge takes before it closes
-- Returns {'ok', email, next}, {'wrong', tries left}, {'unknown'} (never made,
-- or expired), {'used'} or {'dead'} (closed after too many wrong codes).
-- The challenge's expiry is not touched: a used one is remembered as used
-- until it would have expired.

-- Compares two digests in time that does not depend on where they differ.
local function same(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    diff = bit.bor(diff, bit.bxor(string.byte(a, i), string.byte(b, i)))
  end
  return diff == 0
end

local challenge = KEYS[1]
local state = redis.call('HGET', challenge, 'state')
if not state then return {'unknown'} end
if state ~= 'open' then return {state} end
if ARGV[1] == 'code' and not same(redis.call('HGET', challenge, 'code'), ARGV[2]) then
  local left = tonumber(ARGV[3]) - redis.call('HINCRBY', challenge, 'wrong', 1)
  if left <= 0 then
    redis.call('HSET', challenge, 'state', 'dead')
    left = 0
  end
  return {'wrong', left}
end
redis.call('HSET', challenge, 'state', 'used')
return {'ok', redis.call('HGET', challenge, 'email'), redis.call('HGET', challenge, 'next')}
