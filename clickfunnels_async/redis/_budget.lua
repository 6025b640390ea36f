-- The shared pacing state of RedisRateBudget, updated in one atomic step per call.
-- The same law as the in-process budget (`_pacing.InProcessRateBudget`), whose numbers `_budget.py`
-- prepends as locals (CUT, RAISE, SIGNIFICANT, LIMIT_429S, INFORMATIVE, NEAR_LOW, NEAR_HIGH,
-- MAX_DOUBLINGS, GENTLE, UNDERSENT): spaced starts at `rate`; after a 429 (at most one cut a second)
-- a cut in proportion to the share of the last second's starts that were refused; unpaced, only a limit's
-- share cuts; a limit (a large share, or the first cut) cuts to 95 % and probes gently near it; a cut from
-- unpaced is made again while fresh as more of its burst's 429s arrive; a sporadic 429 while paced cuts only
-- its share and keeps the raise doubling per second spent away from the last limit; Retry-After pauses.
-- The clock is the server's TIME, so processes need no synchronised clocks.
-- KEYS[1] state hash, KEYS[2] sorted set of the starts within the last second, KEYS[3] sorted set of the
-- 429s within the last second, KEYS[4] sorted set of the turns reserved (member: the asking process's id,
-- score: its start time), KEYS[5] sorted set of the successes applied within the last second; all five
-- share a hash tag.
-- ARGV: op ("start" | "limited"), successes to apply first, configured rate ("" = none), min rate,
--       default pause, retry-after ("" = none), key ttl in ms, starts granted locally since the last call
--       (while unpaced a process counts its starts and reports them here, at most `sync_interval` late),
--       the asking process's id.
-- Returns {wait, rate}: wait 0 = one start granted and counted; > 0 = the process's turn is reserved
-- that far ahead: ask again then and it is granted. Each process holds at most one turn, so processes
-- that keep asking are served in turn (round robin), however promptly each one polls.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'rate', 'tat', 'paused', 'cut', 'resume', 'seen', 'lift', 'seq',
  'limited', 'calm', 'lastok', 'first')
local configured = tonumber(ARGV[3])
local min_rate = tonumber(ARGV[4])
local default_pause = tonumber(ARGV[5])
local NONE = 'none'
local EARLY = 0.001 -- seconds
local rate
if h[1] == false then rate = configured elseif h[1] == NONE then rate = nil else rate = tonumber(h[1]) end
local tat = tonumber(h[2]) or 0
local paused = tonumber(h[3]) or 0
local cut = tonumber(h[4]) or 0
local resume = tonumber(h[5]) or 0
local seen = tonumber(h[6]) or 1e308 -- what the server took at the last limit
local lift = tonumber(h[7])
local seq = tonumber(h[8]) or 0
local limited = h[9] == '1' -- a limit was met; sporadic 429s are told apart after that
local calm = tonumber(h[10]) or 0 -- seconds of successes away from the last limit since it was met
local lastok = tonumber(h[11]) or 0 -- the last success applied
local first = tonumber(h[12]) -- while a cut from unpaced is fresh: the starts it went by

local horizon = string.format('%.17g', now - 1.0)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', horizon)
-- A turn its process did not come back for within a second (gone, or stalled) is given up.
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', horizon)
local asker = ARGV[9]
for _ = 1, tonumber(ARGV[8]) do
  seq = seq + 1
  redis.call('ZADD', KEYS[2], now, seq)
end

local function near(r)
  return NEAR_LOW * seen <= r and r <= NEAR_HIGH * seen
end

for _ = 1, tonumber(ARGV[2]) do
  seq = seq + 1
  redis.call('ZADD', KEYS[5], now, seq)
end
for _ = 1, tonumber(ARGV[2]) do
  if rate == nil or now < paused then break end
  local gentle = near(rate) and seen >= INFORMATIVE
  if not gentle then calm = calm + math.max(0, now - math.max(lastok, paused)) end
  lastok = now
  local step = math.max(1.0, RAISE * rate) * 2.0 ^ math.min(math.max(0, calm - 1.0), MAX_DOUBLINGS) / rate
  if gentle then step = step / GENTLE end
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
  local turn = tonumber(redis.call('ZSCORE', KEYS[4], asker))
  if now < paused then
    wait = paused - now
  elseif turn ~= nil then
    -- A timer may fire a hair before the server's clock says the turn is due.
    if turn > now + EARLY then wait = turn - now else redis.call('ZREM', KEYS[4], asker) end
  elseif rate ~= nil then
    local interval = 1.0 / rate
    -- A waiter polls a little after its time (later on a busy machine): up to one spacing of lateness
    -- is made up so the long-run rate stays the allowed one; after a longer idle time the schedule
    -- restarts from now (no burst).
    local start = tat
    if tat < now - interval then start = now end
    tat = start + interval
    if start > now + EARLY then
      wait = start - now
      redis.call('ZADD', KEYS[4], start, asker)
    end
  end
  if wait == 0 then
    seq = seq + 1
    redis.call('ZADD', KEYS[2], now, seq)
  end
else
  seq = seq + 1
  redis.call('ZADD', KEYS[3], now, seq)
  local observed = redis.call('ZCARD', KEYS[2])
  local refused = redis.call('ZCARD', KEYS[3])
  local took = redis.call('ZCARD', KEYS[5]) -- the successes of the last second
  -- Nothing started in the last second: no share to go by, the usual cut.
  local share = 1.0 - CUT
  if observed > 0 then share = math.min(1.0, refused / observed) end
  local significant = share >= SIGNIFICANT and refused >= LIMIT_429S
  local pause = tonumber(ARGV[6]) or default_pause
  -- Nothing started in the last second (answers slower than that): the last second's answers tell.
  local answers_show = observed == 0 and refused >= LIMIT_429S and refused / (refused + took) >= SIGNIFICANT
  if rate == nil and not significant and not answers_show then
    -- Unpaced and a small share refused: sporadic 429s, not a limit; the request retries after its own
    -- backoff and nothing is paced. A Retry-After still pauses every start.
    if pause > 0 then
      paused = math.max(paused, now + pause)
      calm = 0
    end
  else
    if now - cut >= 1.0 or rate == nil then
      cut = now
      local base
      -- A cut from unpaced goes by the starts of a burst that may be mostly in flight.
      first = nil
      if rate == nil then
        base = min_rate
        if observed > 0 then base = observed end
        first = base
        lift = 2 * math.max(observed, min_rate)
      else
        -- What we sent when probing near the last limit, at a limit, or when we sent much less than
        -- allowed; otherwise the rate (the last second's starts lag a fast raise).
        base = rate
        if (near(rate) or significant or observed < UNDERSENT * rate) and observed > 0 then
          base = math.min(rate, observed)
        end
        if configured == nil and significant then lift = 2 * math.max(observed, min_rate) end
      end
      -- What the server took: the share of our starts it did not refuse, or (when 429s answer starts
      -- older than the last second, e.g. after a burst) at least what it accepted.
      local taken = math.min(base, math.max(base * (1.0 - share), took))
      if significant or not limited then -- a limit (or our first 429)
        limited = true
        seen = taken
        calm = 0
        lastok = now
        if significant then rate = math.max(min_rate, CUT * taken) else rate = math.max(min_rate, CUT * base) end
      else
        rate = math.max(min_rate, taken)
      end
    elseif first ~= nil and significant then
      -- More 429s answering that burst within its second: the cut is made again by the share now refused,
      -- from all of the burst's starts (some are reported late by processes granting their own).
      local base = math.max(first, observed)
      local taken = math.min(base, math.max(base * (1.0 - share), took))
      seen = taken
      calm = 0
      lastok = now
      rate = math.max(min_rate, CUT * taken)
      lift = 2 * math.max(observed, min_rate)
    end
    -- Only starts that have not happened move: the next one waits one interval from now, and (limits count
    -- over a sliding second) until the last second holds fewer starts than the rate.
    local hold = now + 1.0 / rate
    local keep = math.max(1, math.floor(rate))
    if observed >= keep then
      local kept = redis.call('ZREVRANGE', KEYS[2], keep - 1, keep - 1, 'WITHSCORES')
      hold = math.max(hold, tonumber(kept[2]) + 1.0)
    end
    resume = math.max(resume, hold)
    if pause > 0 then
      paused = math.max(paused, now + pause)
      calm = 0
    end
    tat = math.max(paused, resume)
    -- Reserved turns have not happened: they move behind the hold, in the order they were given.
    local turns = redis.call('ZRANGE', KEYS[4], 0, -1)
    for _, member in ipairs(turns) do
      redis.call('ZADD', KEYS[4], tat, member)
      tat = tat + 1.0 / rate
    end
  end
end

local function f(x) if x == nil then return NONE end return string.format('%.17g', x) end
local flag = '0'
if limited then flag = '1' end
redis.call('HSET', KEYS[1], 'rate', f(rate), 'tat', f(tat), 'paused', f(paused), 'cut', f(cut),
  'resume', f(resume), 'seen', f(seen), 'lift', f(lift), 'seq', seq, 'limited', flag, 'calm', f(calm),
  'lastok', f(lastok), 'first', f(first))
local ttl = tonumber(ARGV[7])
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ttl) end
return {string.format('%.6f', wait), f(rate)}
