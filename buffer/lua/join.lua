-- Puts a fan in the sale, once: into the buffer while the window is open,
-- afterwards at the back of the queue in arrival order. Joining again (a second
-- tab, a reload) returns the same place.
-- Who may enter is the sale's access policy (meta 'access'), checked here in
-- the same step that places the fan, so a policy or list change can never let
-- one join slip through half-checked (invariant 5).
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)  ARGV[2] fan (entrant) id
-- ARGV[3] the access policies this fan's identity satisfies, space-separated
--         (fairdrop/identity.py policies_for), e.g. "open email list"
-- ARGV[4] who signed in, for the organiser's export ('' when anonymous)
-- ARGV[5] the client address a new anonymous entrant is counted against
--         ('' for a signed-in fan: a person, not an address)
-- ARGV[6] ms between two new entrants of one address, ARGV[7] how many at once
--         (0 0: no limit)
-- ARGV[8] '1' when this is the fan's own join call, '0' when the page's socket
--         joins on the fan's behalf: only the fan's own are counted as refused
--         for the fairness report (tallies; buffer/entry_tallies.py)
-- Returns {status, number, serving, admission deadline ms, live hold id, tickets bought}
--   status: unknown_event | sign_in_required | not_on_list | not_open | buffered
--           | queued | sold_out | address_busy
--   number 0 while the fan waits in the buffer for the draw.
--   address_busy: the address placed its share; the deadline field is when it
--   may place the next (ms), and nothing but the refusal's count was changed.
local now = now_ms(ARGV[1])
local fan = ARGV[2]
local address, interval, burst = ARGV[5] or '', tonumber(ARGV[6] or '0'), tonumber(ARGV[7] or '0')

-- Whether a new entrant of this address may be placed now; if so, counts it.
-- Counted here, in the step that places, and not when a session is made: a
-- script's sessions made before the window (or at any other time) are no
-- entries until placed, and a burst of joins cannot all slip past a check.
-- A generic cell rate (GCRA): one hash field per address, the moment the
-- address's next entrant would be due; it may run ahead of now by burst places.
local function address_refusal()
  if address == '' or interval <= 0 then return nil end
  local due = math.max(tonumber(redis.call('HGET', K.addresses, address) or '0'), now) + interval
  local free_at = due - burst * interval
  if free_at > now then return free_at end
  redis.call('HSET', K.addresses, address, due)
  return nil
end

-- The fairness report's counters (buffer/entry_tallies.py): nothing reads them
-- to decide a place. A refused join of the fan's own, by reason ...
local own_join = ARGV[8] ~= '0'
local function tally_refusal(reason)
  if own_join then redis.call('HINCRBY', K.tallies, 'refused:' .. reason, 1) end
end
-- ... and each entrant once, when placed ('drawn' in the window, 'late'
-- after it, 'round' in a resale round's), by access route: the kind of who signed in, anon when nobody.
local function tally_placed(where)
  local route = string.match(ARGV[4] or '', '^(%a+):') or 'anon'
  redis.call('HINCRBY', K.tallies, where .. ':' .. route, 1)
end
local state = current_phase(now)
if not state then return {'unknown_event', 0, 0, 0, '', 0} end
local serving = meta_num('serving')
local refusal = entry_refusal(fan, ARGV[3])
if refusal then
  tally_refusal(refusal)
  return {refusal, 0, serving, 0, '', 0}
end
if state == 'scheduled' then
  tally_refusal('not_open')
  return {'not_open', 0, serving, 0, '', 0}
end
if ARGV[4] ~= '' then redis.call('HSETNX', K.identities, fan, ARGV[4]) end
if state == 'buffering' then
  if redis.call('SISMEMBER', K.buffer, fan) == 0 then
    local free_at = address_refusal()
    if free_at then
      tally_refusal('address_busy')
      return {'address_busy', 0, serving, free_at, '', 0}
    end
    redis.call('SADD', K.buffer, fan)
    -- When it came, for the fairness report's chart and nothing else: the
    -- draw reads the buffer set alone, so arrival time cannot matter.
    redis.call('RPUSH', K.arrivals, string.format('%d %s', now, fan))
    tally_placed('drawn')
  else
    tally_refusal('duplicate')
  end
  return {'buffered', 0, serving, 0, '', 0}
end
if redis.call('SISMEMBER', K.round_buffer, fan) == 1 then
  -- In the resale round (buffer/rounds.py), drawn when its window closes.
  tally_refusal('duplicate')
  return {'buffered', 0, serving, 0, '', 0}
end
local number = redis.call('ZSCORE', K.queue, fan)
if not number then
  if redis.call('SISMEMBER', K.buffer, fan) == 1 then
    -- Joined in the window; the draw has not written the numbers yet.
    tally_refusal('duplicate')
    return {'buffered', 0, serving, 0, '', 0}
  end
  if state == 'sold_out' then
    tally_refusal('sold_out')
    return {'sold_out', 0, serving, 0, '', 0}
  end
  local free_at = address_refusal()
  if free_at then
    tally_refusal('address_busy')
    return {'address_busy', 0, serving, free_at, '', 0}
  end
  if redis.call('HGET', K.meta, 'round_state') == 'buffering' then
    -- Tickets came back after the sale sold out: a new fan enters the resale
    -- round's draw, where arriving first inside its window gives no edge.
    redis.call('SADD', K.round_buffer, fan)
    tally_placed('round')
    mark_changed()
    return {'buffered', 0, serving, 0, '', 0}
  end
  -- Contiguous numbers after the drawn ones keep "how many are ahead" exact.
  number = meta_num('frozen') + redis.call('HINCRBY', K.meta, 'late', 1)
  redis.call('ZADD', K.queue, number, fan)
  tally_placed('late')
  mark_changed()
else
  tally_refusal('duplicate')
end
local deadline = tonumber(redis.call('ZSCORE', K.shopping, fan) or '0')
local hold = redis.call('HGET', K.fan_hold, fan) or ''
-- Tickets this fan has bought: "bought" counts the live hold too, so take it out.
local tickets = 0
for _, t in ipairs(redis.call('HKEYS', K.stock)) do
  tickets = tickets + tonumber(redis.call('HGET', K.bought, fan .. '|' .. t) or '0')
end
if hold ~= '' then
  for _, item in ipairs(cjson.decode(redis.call('HGET', K.holds, hold)).items) do
    tickets = tickets - item[2]
  end
end
local status = 'queued'
if state == 'sold_out' then status = 'sold_out' end
return {status, tonumber(number), serving, deadline, hold, tickets}
