--[[
  One worker round trip on one queue: completes a batch (kept within the
  retention limits, or dropped), then reserves up to N due jobs, first
  reclaiming expired leases (a stall: back to ready, or to the failed store
  past max stalls) and promoting due delayed jobs. Only the token holding a
  lease completes it. The outcome is remembered under the caller's unique
  reservation token, so a replay returns the same. Leases on Redis's clock.
  Also beats the worker's heartbeat, counts metrics, publishes the changes (or holds
  them back for the next call, see publish() in includes/jobs.lua).

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)
  KEYS[29]     reservation  STRING  this call's remembered outcome

  ARGV[1]   now (epoch ms, the caller's clock)
  ARGV[2]   how many jobs to reserve (0: only complete); nothing is reserved while
            the queue is paused (the "paused" field of stats)
  ARGV[3]   lease duration (ms)
  ARGV[4]   reservation token
  ARGV[5]   completed jobs kept (-1: deleted at once)
  ARGV[6]   completed jobs' longest stay (ms, 0: no limit)
  ARGV[7]   failed jobs kept
  ARGV[8]   failed jobs' longest stay (ms, 0: no limit)
  ARGV[9]   max stalls for jobs whose record sets none ("s":-1)
  ARGV[10]  the worker's id, kept with each job it reserves
  ARGV[11]  the worker's heartbeat: its details as JSON ("" for none)
  ARGV[12]  how long a heartbeat lasts (ms)
  ARGV[13]  number of completions, n
  ARGV[14]  "1" to count metrics, "0" not to (the Queue's `metrics` option)
  ARGV[15]  "1" to keep each reserved job's start time and worker, "0" not to
            (the Queue's `search` option)
  ARGV[16 + 8i .. 23 + 8i]  per completion: id, token, unique key ("" for none),
            dedupe window (ms, 0 for none), result JSON ("" for none), log lines as a
            JSON array ("" for none), run time (ms), flow rules ("" for none: flow.lua)

  Output:
    { lost ids, stalled ids, jobs, next due, ids of stalled jobs moved to the failed store,
      1 when this call held its published changes back (includes/jobs.lua), else 0 }
    jobs is flat: id, record, attempts, errors JSON ("" for none), stalls, per job
    next due is the earliest delayed run-at or lease deadline, on the caller's clock, -1 for none
]]
-- @include "jobs.lua"
-- @include "heartbeat.lua"
-- @include "workflows.lua"
-- @include "flow.lua"

local now = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local leaseMs = tonumber(ARGV[3])
local token = ARGV[4]
local keepCompleted = { count = tonumber(ARGV[5]), age = tonumber(ARGV[6]) }
local keepFailed = { count = tonumber(ARGV[7]), age = tonumber(ARGV[8]) }
local defaultMaxStalls = tonumber(ARGV[9])
local workerId = ARGV[10]
local n = tonumber(ARGV[13])
metricsOn = ARGV[14] ~= "0"
local keepRuns = ARGV[15] ~= "0"
local PER = 8
local FIRST = 16
local memoKey = KEYS[29]
-- Numbers handed to Redis for every job become text once (as Lua would, "%.14g"): a
-- Lua number passed to redis.call goes through sprintf each time.
local nowText = tostring(now)
-- Two clocks, on purpose. Leases are set and compared on Redis's own clock, never
-- the caller's: a worker whose clock runs ahead must not reclaim other workers'
-- live leases, nor one running behind hand out leases already over. Redis 7
-- replicates a script's effects, so reading TIME is allowed, and a replay stays
-- deterministic through the caller's token, not its clock. Delayed jobs' run-at
-- times stay on the caller's clock (ARGV[1]), as their dispatcher computed them.
local leaseNow = redisNow()
-- Whether anyone watches, read before the first write: every take needs it (to publish
-- or hold its changes), and a read that failed after the writes below would leave them
-- half done (Redis does not roll a script back).
watched()

local function jobsOf(ids, records, attempts)
  local out = {}
  if #ids == 0 then return out end
  records = records or redis.call("HMGET", q.jobs, unpack(ids))
  attempts = attempts or redis.call("HMGET", q.attempts, unpack(ids))
  -- A queue whose jobs have not failed or stalled has neither hash: one EXISTS each
  -- instead of handing every id to an HMGET that finds nothing.
  local errors = redis.call("EXISTS", q.errors) == 1 and redis.call("HMGET", q.errors, unpack(ids)) or {}
  local stalls = redis.call("EXISTS", q.stalls) == 1 and redis.call("HMGET", q.stalls, unpack(ids)) or {}
  -- Counted, not appended with #out + 1: the length operator searches the table each time.
  local o = 0
  for i, id in ipairs(ids) do
    if records[i] then
      out[o + 1] = id
      out[o + 2] = records[i]
      out[o + 3] = tonumber(attempts[i]) or 0
      out[o + 4] = errors[i] or ""
      out[o + 5] = tonumber(stalls[i]) or 0
      o = o + 5
    end
  end
  return out
end

local function nextDue()
  local due = -1
  local d = redis.call("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
  if d[2] then due = tonumber(d[2]) end
  local a = redis.call("ZRANGE", q.active, 0, 0, "WITHSCORES")
  if a[2] then
    -- A lease deadline is on Redis's clock: say it on the caller's.
    local leaseDue = now + math.max(0, tonumber(a[2]) - leaseNow)
    if due < 0 or leaseDue < due then due = leaseDue end
  end
  return due
end

-- A replay: answer what the first run answered.
local memo = redis.call("GET", memoKey)
if memo then
  local saved = cjson.decode(memo)
  local held = {}
  for _, id in ipairs(saved.ids) do
    if redis.call("HGET", q.leases, id) == token then held[#held + 1] = id end
  end
  -- Changes held back since go out now: this call has none of its own to hold.
  return { saved.lost, {}, jobsOf(held), want > 0 and nextDue() or -1, {}, publish(now, true) and 1 or 0 }
end

-- Complete: kept with their result for viewing (within the retention limits), or dropped.
local lost = {}
if n > 0 then
  local ids = {}
  for i = 0, n - 1 do ids[i + 1] = ARGV[FIRST + i * PER] end
  local holders = redis.call("HMGET", q.leases, unpack(ids))
  local done, finished, results, outputs = {}, {}, {}, {}
  for i = 0, n - 1 do
    local base = FIRST + i * PER
    local id, tok, uk, dd = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
    if holders[i + 1] == tok then
      local d = #done + 1
      done[d] = id
      outputs[d] = ARGV[base + 4]
      if keepCompleted.count >= 0 then
        finished[#finished + 1] = nowText
        finished[#finished + 1] = id
        if ARGV[base + 4] ~= "" then
          results[#results + 1] = id
          results[#results + 1] = ARGV[base + 4]
        end
      end
      -- A plain job (no logs, unique key nor dedupe window) makes neither call.
      if ARGV[base + 5] ~= "" then appendLogs(id, ARGV[base + 5]) end
      if uk ~= "" or dd ~= "0" then reserveOrRelease(id, uk, tonumber(dd), now) end
      if metricsOn then sample("r", tonumber(ARGV[base + 6])) end
      if listening ~= false then changed(id, "completed") end -- no call once nobody watches
      if ARGV[base + 7] ~= "" then flowRelease(parseFlow(ARGV[base + 7]), now) end
    else
      lost[#lost + 1] = id
    end
  end
  if #done > 0 then
    -- Without retention dropJobs deletes the leases with the rest of the jobs' data: one
    -- HDEL, not a second one that looks for every id again in the leases still held.
    if keepCompleted.count >= 0 then redis.call("HDEL", q.leases, unpack(done)) end
    redis.call("ZREM", q.active, unpack(done))
    redis.call("HINCRBY", q.stats, "completed", #done)
    count("completed", #done)
    if keepCompleted.count >= 0 then
      redis.call("ZADD", q.completed, unpack(finished))
      if #results > 0 then redis.call("HSET", q.results, unpack(results)) end
      trim(q.completed, keepCompleted.count, keepCompleted.age, now)
    else
      dropJobs(done)
    end
    trim(q.failed, keepFailed.count, keepFailed.age, now)
    workflowsCompleted(done, outputs, now, keepFailed)
  end
end

beat(q.workers, q.seen, ARGV[11] ~= "" and workerId or "", ARGV[11], now, tonumber(ARGV[12]))
if want > 0 and redis.call("HEXISTS", q.stats, "paused") == 1 then want = 0 end
if want <= 0 then
  if n > 0 then
    redis.call("SET", memoKey, cjson.encode({ lost = lost, ids = {} }), "PX", leaseMs)
  end
  flushMetrics(now)
  return { lost, {}, {}, -1, {}, publish(now, true) and 1 or 0 }
end

-- Reclaim expired leases: a stall, not a failed attempt.
local stalled, stalledOut = {}, {}
local expired = redis.call("ZRANGEBYSCORE", q.active, "-inf", leaseNow, "LIMIT", 0, 1000)
for _, id in ipairs(expired) do
  redis.call("ZREM", q.active, id)
  redis.call("HDEL", q.leases, id)
  local record = redis.call("HGET", q.jobs, id)
  if record then
    stalled[#stalled + 1] = id
    local count = redis.call("HINCRBY", q.stalls, id, 1)
    -- "s":-1 (or a record without "s") takes the worker's default.
    local limit = tonumber(string.match(record, '^{"b":%d,"m":%d+,"s":(%d+)')) or defaultMaxStalls
    if count > limit then
      appendError(id, cjson.encode({
        attempt = tonumber(redis.call("HGET", q.attempts, id)) or 0,
        name = "JobStalledError",
        message = string.format(
          "The job stalled too many times: its lease expired %d times before it finished (maxStalls %d)",
          count, limit),
        at = now,
      }))
      local uk, dd = endingOf(record)
      deadLetter(id, uk, dd, now, keepFailed)
      stalledOut[#stalledOut + 1] = id
    else
      local band = string.match(record, '^{"b":(%d)')
      local seq = redis.call("HINCRBY", q.stats, "seq", 1)
      redis.call("ZADD", q.ready, tonumber(band) * 1e13 + seq, id)
      changed(id, "waiting")
    end
    flowRelease(flowOf(record), now)
  end
end
count("stalled", #stalled)

-- Promote due delayed jobs.
local due = redis.call("ZRANGEBYSCORE", q.delayed, "-inf", now, "LIMIT", 0, 1000)
if #due > 0 then
  redis.call("ZREM", q.delayed, unpack(due))
  local records = redis.call("HMGET", q.jobs, unpack(due))
  local last = redis.call("HINCRBY", q.stats, "seq", #due)
  local seq = last - #due
  local ready = {}
  for i, id in ipairs(due) do
    if records[i] then
      seq = seq + 1
      local band = string.match(records[i], '^{"b":(%d)')
      ready[#ready + 1] = tonumber(band) * 1e13 + seq
      ready[#ready + 1] = id
      changed(id, "waiting")
    end
  end
  if #ready > 0 then redis.call("ZADD", q.ready, unpack(ready)) end
end

-- Reserve, noting when and by whom each job started.
-- A job under flow control (flow.lua) that may not start now is parked instead of
-- reserved, and the next is taken in its place; one that starts may put its key's
-- next job in line. Either way ready is read again (at most 1,000 looked at per
-- call); a call that met only plain jobs reads it once, as before. A job put in line
-- may rank before the rest of those popped with it (a higher band): they go back,
-- and ready is read again, so each job taken is the best one due at that moment
-- (as MemoryBackend takes them).
local reserved, records = {}, {}
local looked = 0
repeat
  local popped = redis.call("ZPOPMIN", q.ready, want - #reserved)
  if #popped == 0 then break end
  local ids = {}
  for i = 1, #popped, 2 do ids[#ids + 1] = popped[i] end
  local found = redis.call("HMGET", q.jobs, unpack(ids))
  local flowing = false
  for i, id in ipairs(ids) do
    if flowing then
      local best = redis.call("ZRANGE", q.ready, 0, 0, "WITHSCORES")[2]
      if best and tonumber(best) < tonumber(popped[i * 2]) then
        local back = {}
        for j = i, #ids do
          back[#back + 1] = popped[j * 2]
          back[#back + 1] = ids[j]
          flowInHand[ids[j]] = nil
        end
        redis.call("ZADD", q.ready, unpack(back))
        break
      end
    end
    local rules = flowOf(found[i])
    if flowing then
      flowInHand[id] = nil
    elseif rules then
      -- The first flow job of this pop: the ids after it are in hand while it is
      -- admitted (a plain pop marks none, as a table write per job costs).
      for j = i + 1, #ids do flowInHand[ids[j]] = true end
      flowing = true
    end
    if not rules or flowAdmit(id, rules, tonumber(popped[i * 2]), now) then
      reserved[#reserved + 1] = id
      records[#reserved] = found[i]
    end
    looked = looked + 1
  end
until not flowing or #reserved >= want or looked >= 1000
-- Stopped short with jobs still in ready (all looked at were parked): say a job is
-- due now, so the worker (and drain()) asks again instead of taking the queue for empty.
local short = looked >= 1000 and #reserved < want and redis.call("ZCARD", q.ready) > 0
local jobs = {}
if #reserved > 0 then
  local deadline = tostring(leaseNow + leaseMs)
  local run = '{"startedAt":' .. string.format("%.0f", now) .. ',"workerId":' .. cjson.encode(workerId) .. '}'
  local leases, active, runs = {}, {}, {}
  -- Each job's attempt count goes up by one: read and written once for all of them, not
  -- one HINCRBY per job (a redis.call costs more than the Lua around it).
  local attempts = redis.call("HMGET", q.attempts, unpack(reserved))
  local bumped = {}
  for i, id in ipairs(reserved) do
    local attempt = (tonumber(attempts[i]) or 0) + 1
    attempts[i] = attempt
    local pair = i * 2 -- pairs at 2i-1, 2i, without a length search per append
    bumped[pair - 1] = id
    bumped[pair] = attempt == 1 and "1" or tostring(attempt)
    -- Wait time: from when a job was due to its first start.
    local first = attempt == 1
    if first and metricsOn and records[i] then
      -- A plain find, not a pattern tried at every position of the record.
      local at = string.find(records[i], '"runAt":', 1, true)
      local due = at and tonumber(string.match(records[i], "^%d+", at + 8))
      if due then sample("w", math.max(0, now - due)) end
    end
    if listening ~= false then changed(id, "active") end
    leases[pair - 1] = id
    leases[pair] = token
    active[pair - 1] = deadline
    active[pair] = id
    if keepRuns then
      runs[pair - 1] = id
      runs[pair] = run
    end
  end
  redis.call("HSET", q.attempts, unpack(bumped))
  redis.call("HSET", q.leases, unpack(leases))
  redis.call("ZADD", q.active, unpack(active))
  if keepRuns then redis.call("HSET", q.runs, unpack(runs)) end
  jobs = jobsOf(reserved, records, attempts)
end

if #reserved > 0 or n > 0 then
  redis.call("SET", memoKey, cjson.encode({ lost = lost, ids = reserved }), "PX", leaseMs)
end
flushMetrics(now)
local heldBack = publish(now, true) and 1 or 0
return { lost, stalled, jobs, short and now or nextDue(), stalledOut, heldBack }
