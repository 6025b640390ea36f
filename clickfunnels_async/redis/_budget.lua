-- The shared pacing state of RedisRateBudget, updated in one atomic step per call.
-- Mirrors the in-process budget: spaced starts at `rate`, cut to 95 % of the observed rate after a 429
-- (at most once a second), raised step by step on successes, paused by Retry-After.
-- The clock is the server's TIME, so processes need no synchronised clocks.
-- KEYS[1] state hash, KEYS[2] sorted set of the starts within the last second.
-- ARGV: op ("start" | "limited"), successes to apply first, configured rate ("" = none), min rate,
--       default pause, retry-after ("" = none), key ttl in ms, starts granted locally since the last call
--       (while unpaced a process counts its starts and reports them here, at most `sync_interval` late).
-- Returns {wait, rate}: wait 0 = one start granted and counted; > 0 = nothing granted, ask again then.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'rate', 'tat', 'paused', 'cut', 'resume', 'seen', 'lift', 'seq')
local configured = tonumber(ARGV[3])
local min_rate = tonumber(ARGV[4])
local default_pause = tonumber(ARGV[5])
local NONE = 'none'
local rate
if h[1] == false then rate = configured elseif h[1] == NONE then rate = nil else rate = tonumber(h[1]) end
local tat = tonumber(h[2]) or 0
local paused = tonumber(h[3]) or 0
local cut = tonumber(h[4]) or 0
local resume = tonumber(h[5]) or 0
local seen = tonumber(h[6]) or 1e308
local lift = tonumber(h[7])
local seq = tonumber(h[8]) or 0

redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('%.17g', now - 1.0))
for _ = 1, tonumber(ARGV[8]) do
  seq = seq + 1
  redis.call('ZADD', KEYS[2], now, seq)
end

for _ = 1, tonumber(ARGV[2]) do
  if rate == nil or now < paused then break end
  local step = math.max(1.0, 0.05 * rate) / rate
  if rate >= 0.97 * seen then step = step / 4 end
  local raised = rate + step
  if configured ~= nil then
    rate = math.min(raised, configured)
  elseif lift ~= nil and raised >= lift then
    rate = nil
    lift = nil
  else
    rate = raised
  end
end

local wait = 0
if ARGV[1] == 'start' then
  if now < paused then
    wait = paused - now
  elseif rate ~= nil then
    local interval = 1.0 / rate
    -- A waiter polls a little after its time (later on a busy machine): up to one spacing of lateness
    -- is made up so the long-run rate stays the allowed one; after a longer idle time the schedule
    -- restarts from now (no burst).
    local start = tat
    if tat < now - interval then start = now end
    if start > now then wait = start - now else tat = start + interval end
  end
  if wait == 0 then
    seq = seq + 1
    redis.call('ZADD', KEYS[2], now, seq)
  end
else
  if now - cut >= 1.0 then
    cut = now
    local observed = redis.call('ZCARD', KEYS[2])
    local current = rate or 1e308
    local base
    if observed > 0 then base = math.min(current, observed) else base = rate or min_rate end
    if rate == nil or configured == nil then lift = 2 * math.max(observed, min_rate) end
    seen = base
    rate = math.max(min_rate, 0.95 * base)
    -- Limits count over a sliding second: hold the next start until the last second holds fewer
    -- starts than the new rate.
    local keep = math.max(1, math.floor(rate))
    if observed >= keep then
      local kept = redis.call('ZREVRANGE', KEYS[2], keep - 1, keep - 1, 'WITHSCORES')
      resume = tonumber(kept[2]) + 1.0
    end
  end
  local pause = tonumber(ARGV[6]) or default_pause
  if pause > 0 then paused = math.max(paused, now + pause) end
  tat = math.max(paused, now + 1.0 / (rate or min_rate), resume)
end

local function f(x) if x == nil then return NONE end return string.format('%.17g', x) end
redis.call('HSET', KEYS[1], 'rate', f(rate), 'tat', f(tat), 'paused', f(paused), 'cut', f(cut),
  'resume', f(resume), 'seen', f(seen), 'lift', f(lift), 'seq', seq)
local ttl = tonumber(ARGV[7])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return {string.format('%.6f', wait), f(rate)}
