-- Reads a sale's live figures for the organiser (changes nothing).
-- KEYS: the event keys (see _prelude.lua).
-- ARGV[1] now in ms (0: Redis's clock)
-- Returns the progress object as JSON plus buffered, sold and held per type,
-- or an empty string for an unknown event.
local now = now_ms(ARGV[1])
if redis.call('EXISTS', K.meta) == 0 then return '' end
local p = progress(now)
p.t = 'snapshot'
p.buffered = redis.call('SCARD', K.buffer)
p.sold_by_type = hash_numbers(K.sold)
p.held_by_type = hash_numbers(K.held)
p.stock_by_type = hash_numbers(K.stock)
p.live_holds = redis.call('ZCARD', K.hold_expiry)
local m = redis.call('HMGET', K.meta, 'seed_hash', 'entrants_digest', 'seed_revealed', 'frozen',
  'algorithm', 'beacon', 'draw_started_at', 'digest_at', 'drawn_at', 'promise')
p.seed_hash = m[1]
p.entrants_digest = m[2] or ''
p.seed = m[3] or ''
p.entrants = tonumber(m[4] or '0')
-- The draw (buffer/draw.py): sales made before v2 have no algorithm field.
p.algorithm = m[5] or 'fairdrop-draw-v1'
p.beacon = m[6] or ''
p.frozen_at = tonumber(m[7] or '0')
p.digest_at = tonumber(m[8] or '0')
p.drawn_at = tonumber(m[9] or '0')
p.promise = m[10] or ''
p.access = redis.call('HGET', K.meta, 'access') or 'open'
p.on_list = redis.call('HLEN', K.allowance)
return cjson.encode(p)
