/**
 * The Lua scripts of the Redis Meter (meter.ts), one per operation, so every operation
 * is one atomic step and one round trip. Each script reads the clock once: the caller's
 * (tests pass a hand-moved one as ARGV[1]) or Redis's own `TIME`, so every node agrees on
 * when a holding lapses and where a window starts.
 *
 * Numbers: Lua numbers are doubles, exact for integers up to 2^53 (the port's safe
 * integers); they are written back with `%d` so that large values never turn into
 * exponent notation.
 *
 * Key expiries are relative (PEXPIRE), computed on the script's clock: a hand-moved test
 * clock may lie anywhere in time, and a relative expiry still bounds the key by what it
 * holds. Every key gets `margin` ms on top of the last moment it matters, so a key never
 * vanishes while a request that counted on it is still being served.
 */

const COMMON = `
local function clock(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(x) return string.format('%d', x) end
local function delmany(cmd, key, list)
  for i = 1, #list, 1000 do redis.call(cmd, key, unpack(list, i, math.min(i + 999, #list))) end
end
-- Drops the key's lapsed holders (expiry <= now).
local function dropLapsed(h, z, now)
  local lapsed = redis.call('ZRANGEBYSCORE', z, '-inf', int(now))
  if #lapsed > 0 then
    delmany('HDEL', h, lapsed)
    redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now))
  end
end
local function sumHash(h)
  local vals = redis.call('HVALS', h)
  local s = 0
  for i = 1, #vals do s = s + tonumber(vals[i]) end
  return s
end
-- The holdings' keys live until their longest holding lapses, plus the margin.
local function expireHoldings(h, z, now, margin)
  local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
  if #last == 0 then
    redis.call('DEL', h, z)
    return
  end
  local ms = int(math.max(0, tonumber(last[2]) - now) + margin)
  redis.call('PEXPIRE', h, ms)
  redis.call('PEXPIRE', z, ms)
end
-- A sliding window's live buckets {index, count} and their sum, after deleting the buckets that left it.
local function slide(key, current, buckets)
  local all = redis.call('HGETALL', key)
  local total, kept, old = 0, {}, {}
  for i = 1, #all, 2 do
    local b = tonumber(all[i])
    local n = tonumber(all[i + 1])
    if b <= current - buckets then
      old[#old + 1] = all[i]
    else
      total = total + n
      kept[#kept + 1] = { b, n }
    end
  end
  if #old > 0 then delmany('HDEL', key, old) end
  return total, kept
end
`;

/**
 * take (and reserve). KEYS: per hold line its holdings hash, expiry zset and balance view;
 * then per window line its counter. ARGV: now, holder, ttlMs, margin, number of hold
 * lines, then per hold line n and limit ('' = the balance view), then per window line
 * kind ('s' sliding, 'f' fixed), n, limit, and windowMs, buckets (sliding) or endsAt, 0 (fixed).
 *
 * Replies {1, mark...} granted; {0, line, used, limit, retryAfterMs or -1, total held} full;
 * {2, line} unknown balance. `line` counts from 1 over holds then windows.
 */
export const TAKE = `${COMMON}
local now = clock(ARGV[1])
local holder = ARGV[2]
local ttl = tonumber(ARGV[3])
local margin = tonumber(ARGV[4])
local nh = tonumber(ARGV[5])
local a = 6
for i = 1, nh do
  local h, z, bal = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local n = tonumber(ARGV[a])
  local limit = ARGV[a + 1]
  a = a + 2
  if limit == '' then
    local view = redis.call('HMGET', bal, 'balance', 'until')
    if not view[1] or (view[2] ~= '' and tonumber(view[2]) <= now) then return { 2, i } end
    limit = tonumber(view[1])
  else
    limit = tonumber(limit)
  end
  dropLapsed(h, z, now)
  local total = sumHash(h)
  local held = total - (tonumber(redis.call('HGET', h, holder)) or 0)
  if held + n > limit then return { 0, i, held, limit, -1, total } end
end
local nw = #KEYS - 3 * nh
local marks = {}
local wa = a
for j = 1, nw do
  local key = KEYS[3 * nh + j]
  local kind, n, limit = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local p, q = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  a = a + 5
  if kind == 's' then
    local bucketMs = p / q
    local current = math.floor(now / bucketMs)
    local used, kept = slide(key, current, q)
    if used + n > limit then
      local excess = used + n - limit
      table.sort(kept, function(x, y) return x[1] < y[1] end)
      local freed, retry = 0, p
      for k = 1, #kept do
        freed = freed + kept[k][2]
        if freed >= excess then
          retry = math.max(0, (kept[k][1] + q) * bucketMs - now)
          break
        end
      end
      return { 0, nh + j, used, limit, retry, used }
    end
    marks[j] = int(current)
  else
    local used = tonumber(redis.call('GET', key)) or 0
    if used + n > limit then return { 0, nh + j, used, limit, math.max(0, p - now), used } end
    marks[j] = '0'
  end
end
-- Every line has room: write them all.
a = 6
for i = 1, nh do
  local h, z = KEYS[3 * i - 2], KEYS[3 * i - 1]
  redis.call('HSET', h, holder, ARGV[a])
  redis.call('ZADD', z, int(now + ttl), holder)
  expireHoldings(h, z, now, margin)
  a = a + 2
end
a = wa
for j = 1, nw do
  local key = KEYS[3 * nh + j]
  local kind, n = ARGV[a], tonumber(ARGV[a + 1])
  local p = tonumber(ARGV[a + 3])
  a = a + 5
  if kind == 's' then
    if n > 0 then redis.call('HINCRBY', key, marks[j], n) end
    redis.call('PEXPIRE', key, int(p + margin))
  else
    if n > 0 then redis.call('INCRBY', key, n) end
    redis.call('PEXPIRE', key, int(math.max(0, p - now) + margin))
  end
end
local reply = { 1 }
for j = 1, nw do reply[j + 1] = marks[j] end
return reply
`;

/**
 * finish (and release). KEYS: per released key its hash and zset, per correction its
 * counter, per carry its hash and zset. ARGV: now, holder, margin, released, corrections,
 * carries, then per correction kind, mark, delta, windowMs/endsAt, buckets/0, then per
 * carry holder, n, ttlMs.
 */
export const FINISH = `${COMMON}
local now = clock(ARGV[1])
local holder = ARGV[2]
local margin = tonumber(ARGV[3])
local nr, nc, ncarry = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
for i = 1, nr do
  redis.call('HDEL', KEYS[2 * i - 1], holder)
  redis.call('ZREM', KEYS[2 * i], holder)
end
local a = 7
for j = 1, nc do
  local key = KEYS[2 * nr + j]
  local kind, mark, delta = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  local p, q = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  a = a + 5
  if kind == 's' then
    -- A count whose bucket has left the window is left alone: correcting it changes nothing anyone reads.
    if tonumber(mark) > math.floor(now / (p / q)) - q then
      if redis.call('HINCRBY', key, mark, delta) <= 0 then redis.call('HDEL', key, mark) end
      redis.call('PEXPIRE', key, int(p + margin))
    end
  else
    local v = math.max(0, (tonumber(redis.call('GET', key)) or 0) + delta)
    if v == 0 then
      redis.call('DEL', key)
    else
      redis.call('SET', key, int(v), 'PX', int(math.max(0, p - now) + margin))
    end
  end
end
local base = 2 * nr + nc
for k = 1, ncarry do
  local h, z = KEYS[base + 2 * k - 1], KEYS[base + 2 * k]
  local who, n, ttl = ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  dropLapsed(h, z, now)
  redis.call('HINCRBY', h, who, n)
  redis.call('ZADD', z, int(now + ttl), who)
  expireHoldings(h, z, now, margin)
end
return 1
`;

/**
 * rebase. KEYS: the key's balance view, hash and zset. ARGV: now, balance, seq, validUntil
 * ('' = none), drop holder ('' = none), drop n, the view's time-to-live (ms).
 */
export const REBASE = `${COMMON}
local now = clock(ARGV[1])
local bal, h, z = KEYS[1], KEYS[2], KEYS[3]
local stored = redis.call('HMGET', bal, 'seq', 'until')
-- A view past its validUntil also takes a reload at the same seq (a grant expired: no newer ledger row exists).
local lapsed = stored[2] and stored[2] ~= '' and tonumber(stored[2]) <= now
if not stored[1] or tonumber(ARGV[3]) > tonumber(stored[1]) or (lapsed and tonumber(ARGV[3]) == tonumber(stored[1])) then
  redis.call('HSET', bal, 'balance', ARGV[2], 'seq', ARGV[3], 'until', ARGV[4])
  redis.call('PEXPIRE', bal, ARGV[7])
end
local n = tonumber(ARGV[6])
if ARGV[5] ~= '' and n > 0 then
  dropLapsed(h, z, now)
  local had = tonumber(redis.call('HGET', h, ARGV[5]))
  if had then
    if had - n <= 0 then
      redis.call('HDEL', h, ARGV[5])
      redis.call('ZREM', z, ARGV[5])
    else
      redis.call('HSET', h, ARGV[5], int(had - n))
    end
  end
end
return 1
`;

/** held. KEYS: hash, zset. ARGV: now. */
export const HELD = `${COMMON}
local now = clock(ARGV[1])
dropLapsed(KEYS[1], KEYS[2], now)
return sumHash(KEYS[1])
`;

/** counted. KEYS: the window's counter. ARGV: now, kind, windowMs, buckets (sliding). */
export const COUNTED = `${COMMON}
local now = clock(ARGV[1])
if ARGV[2] == 's' then
  local p, q = tonumber(ARGV[3]), tonumber(ARGV[4])
  local total = slide(KEYS[1], math.floor(now / (p / q)), q)
  return total
end
return tonumber(redis.call('GET', KEYS[1])) or 0
`;

/**
 * incrementWindow: a hash holding only the current window's count (field = window
 * number). KEYS: the hash. ARGV: now, n, windowMs, margin.
 */
export const INCREMENT_WINDOW = `${COMMON}
local now = clock(ARGV[1])
local n, w, margin = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local index = int(math.floor(now / w))
local fields = redis.call('HKEYS', KEYS[1])
local old = {}
for i = 1, #fields do if fields[i] ~= index then old[#old + 1] = fields[i] end end
if #old > 0 then delmany('HDEL', KEYS[1], old) end
if n == 0 then return tonumber(redis.call('HGET', KEYS[1], index)) or 0 end
local v = redis.call('HINCRBY', KEYS[1], index, n)
redis.call('PEXPIRE', KEYS[1], int((tonumber(index) + 1) * w - now + margin))
return v
`;
