--[[
  Ends an attempt that did not complete: retries the job (ready now or
  delayed until run-at), moves it to the failed store, or releases it (back
  to the front of its band, no failure counted). Only the token holding the
  lease may do this. Once done the lease is gone, so a replay changes
  nothing; the outcome is remembered under the token for a while, so a replay
  (the HTTP client retrying) answers what the first call answered instead of
  "lost".

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)
  KEYS[29]     outcomes  HASH  id -> outcome, for the token's calls (the replay memo)

  ARGV[1]   now (epoch ms)
  ARGV[2]   job id
  ARGV[3]   lease token
  ARGV[4]   outcome: "retry", "dead" or "release"
  ARGV[5]   run-at for retry and release (epoch ms)
  ARGV[6]   the attempt's error as JSON ("" for none)
  ARGV[7]   "1" to undo the reservation's attempt count (a job handed back unstarted)
  ARGV[8]   the job's unique key ("" for none)
  ARGV[9]   failed jobs kept
  ARGV[10]  failed jobs' longest stay (ms, 0: no limit)
  ARGV[11]  how long the replay memo is kept (ms)
  ARGV[12]  the job's dedupe window (ms, 0 for none)
  ARGV[13]  the attempt's log lines as a JSON array ("" for none)
  ARGV[14]  the attempt's run time (ms, "" for none: a release)
  ARGV[15]  "1" to count metrics, "0" not to (the Queue's `metrics` option)

  Output:
    0  the token does not hold the lease (lost)
    1  retried
    2  moved to the failed store
    3  released
]]
-- @include "jobs.lua"
-- @include "workflows.lua"
-- @include "flow.lua"

local now, id, token, outcome = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local runAt, errorJson, undo, uk = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local keepFailed = { count = tonumber(ARGV[9]), age = tonumber(ARGV[10]) }
local outcomes = KEYS[29]
metricsOn = ARGV[15] ~= "0"

local replayed = redis.call("HGET", outcomes, id)
if replayed then return tonumber(replayed) end
if redis.call("HGET", q.leases, id) ~= token then return 0 end
redis.call("HDEL", q.leases, id)
redis.call("ZREM", q.active, id)
local record = redis.call("HGET", q.jobs, id)
if not record then return 0 end
-- The attempt is over, whatever comes next: its key's concurrency slot frees, and an
-- unstarted job's start leaves its rate window (flow.lua).
flowRelease(flowOf(record), now, undo == "1" and outcome == "release")

local function remember(result)
  redis.call("HSET", outcomes, id, result)
  redis.call("PEXPIRE", outcomes, tonumber(ARGV[11]))
end

if errorJson ~= "" then appendError(id, errorJson) end
appendLogs(id, ARGV[13])
if ARGV[14] ~= "" then sample("r", tonumber(ARGV[14])) end

if outcome == "dead" then
  deadLetter(id, uk, tonumber(ARGV[12]), now, keepFailed)
  remember(2)
  flushMetrics(now)
  publish(now)
  return 2
end

if undo == "1" then
  local left = redis.call("HINCRBY", q.attempts, id, -1)
  if left <= 0 then redis.call("HDEL", q.attempts, id) end
end
if runAt > now then
  redis.call("ZADD", q.delayed, runAt, id)
else
  local band = tonumber(string.match(record, '^{"b":(%d)'))
  -- A released job goes to the front of its band; a retry queues behind the others.
  local seq = 0
  if outcome ~= "release" then seq = redis.call("HINCRBY", q.stats, "seq", 1) end
  redis.call("ZADD", q.ready, band * 1e13 + seq, id)
end
local result = outcome == "release" and 3 or 1
if result == 1 then count("retried", 1) end
changed(id, runAt > now and "delayed" or "waiting")
remember(result)
flushMetrics(now)
publish(now)
return result
