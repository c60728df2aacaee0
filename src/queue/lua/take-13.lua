--[[
  One worker round trip on one queue: completes a batch of jobs, then
  reserves up to N due jobs, first reclaiming expired leases and promoting
  due delayed jobs. A reclaimed job "stalled": its stall count goes up and it
  goes back to ready (a stall is not a failed attempt, so it costs no retry),
  unless it has now stalled more than its max stalls, when it goes to the
  failed store with a JobStalledError.

  A completion counts only when the job's lease is still held by the token
  that reserved it, so a worker that lost its lease can never complete the job.
  The reservation token is the caller's and unique per call: the outcome is
  remembered under it for the lease's duration, and a replay returns the
  same jobs and completions instead of taking more.
  Lease deadlines are on Redis's clock (TIME); run-at times on the caller's.

  KEYS[1]   jobs         HASH  id -> record JSON ({"b":band,"m":maxRetries,"s":maxStalls,...})
  KEYS[2]   attempts     HASH  id -> reservations so far
  KEYS[3]   errors       HASH  id -> JSON array of attempt errors
  KEYS[4]   ready        ZSET  id by band * 1e13 + sequence
  KEYS[5]   delayed      ZSET  id by run-at
  KEYS[6]   active       ZSET  id by lease deadline
  KEYS[7]   leases       HASH  id -> token
  KEYS[8]   failed       ZSET  id by failed-at
  KEYS[9]   unique       HASH  unique key -> id
  KEYS[10]  stats        HASH  seq, completed, failed
  KEYS[11]  stalls       HASH  id -> times its lease expired
  KEYS[12]  progress     HASH  id -> latest progress reported
  KEYS[13]  reservation  STRING  this call's remembered outcome

  ARGV[1]  now (epoch ms, the caller's clock)
  ARGV[2]  how many jobs to reserve (0: only complete)
  ARGV[3]  lease duration (ms)
  ARGV[4]  reservation token
  ARGV[5]  failed-store retention limit
  ARGV[6]  max stalls for jobs whose record sets none ("s":-1)
  ARGV[7]  number of completions, n
  ARGV[8 + 3i .. 10 + 3i]  per completion: id, token, unique key ("" for none)

  Output:
    { lost ids, stalled ids, jobs, next due, ids of stalled jobs moved to the failed store }
    jobs is flat: id, record, attempts, errors JSON ("" for none), stalls, per job
    next due is the earliest delayed run-at or lease deadline, on the caller's clock, -1 for none
]]
-- @include "jobs.lua"

local now = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local leaseMs = tonumber(ARGV[3])
local token = ARGV[4]
local failedLimit = tonumber(ARGV[5])
local defaultMaxStalls = tonumber(ARGV[6])
local n = tonumber(ARGV[7])
-- Two clocks, on purpose. Leases are set and compared on Redis's own clock, never
-- the caller's: a worker whose clock runs ahead must not reclaim other workers'
-- live leases, nor one running behind hand out leases already over. Redis 7
-- replicates a script's effects, so reading TIME is allowed, and a replay stays
-- deterministic through the caller's token, not its clock. Delayed jobs' run-at
-- times stay on the caller's clock (ARGV[1]), as their dispatcher computed them.
local time = redis.call("TIME")
local leaseNow = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local queueKeys = {
  failed = KEYS[8], unique = KEYS[9], stats = KEYS[10],
  hashes = { KEYS[1], KEYS[2], KEYS[3], KEYS[11], KEYS[12] },
}

local function jobsOf(ids)
  local out = {}
  if #ids == 0 then return out end
  local records = redis.call("HMGET", KEYS[1], unpack(ids))
  local attempts = redis.call("HMGET", KEYS[2], unpack(ids))
  local errors = redis.call("HMGET", KEYS[3], unpack(ids))
  local stalls = redis.call("HMGET", KEYS[11], unpack(ids))
  for i, id in ipairs(ids) do
    if records[i] then
      out[#out + 1] = id
      out[#out + 1] = records[i]
      out[#out + 1] = tonumber(attempts[i]) or 0
      out[#out + 1] = errors[i] or ""
      out[#out + 1] = tonumber(stalls[i]) or 0
    end
  end
  return out
end

local function nextDue()
  local due = -1
  local d = redis.call("ZRANGE", KEYS[5], 0, 0, "WITHSCORES")
  if d[2] then due = tonumber(d[2]) end
  local a = redis.call("ZRANGE", KEYS[6], 0, 0, "WITHSCORES")
  if a[2] then
    -- A lease deadline is on Redis's clock: say it on the caller's.
    local leaseDue = now + math.max(0, tonumber(a[2]) - leaseNow)
    if due < 0 or leaseDue < due then due = leaseDue end
  end
  return due
end

-- A replay: answer what the first run answered.
local memo = redis.call("GET", KEYS[13])
if memo then
  local saved = cjson.decode(memo)
  local held = {}
  for _, id in ipairs(saved.ids) do
    if redis.call("HGET", KEYS[7], id) == token then held[#held + 1] = id end
  end
  return { saved.lost, {}, jobsOf(held), want > 0 and nextDue() or -1, {} }
end

-- Complete.
local lost = {}
if n > 0 then
  local ids = {}
  for i = 0, n - 1 do ids[i + 1] = ARGV[8 + i * 3] end
  local holders = redis.call("HMGET", KEYS[7], unpack(ids))
  local done = {}
  for i = 0, n - 1 do
    local id, tok, uk = ARGV[8 + i * 3], ARGV[9 + i * 3], ARGV[10 + i * 3]
    if holders[i + 1] == tok then
      done[#done + 1] = id
      if uk ~= "" and redis.call("HGET", KEYS[9], uk) == id then redis.call("HDEL", KEYS[9], uk) end
    else
      lost[#lost + 1] = id
    end
  end
  if #done > 0 then
    dropJobData(queueKeys.hashes, done)
    redis.call("HDEL", KEYS[7], unpack(done))
    redis.call("ZREM", KEYS[6], unpack(done))
    redis.call("HINCRBY", KEYS[10], "completed", #done)
  end
end

if want <= 0 then
  if n > 0 then
    redis.call("SET", KEYS[13], cjson.encode({ lost = lost, ids = {} }), "PX", leaseMs)
  end
  return { lost, {}, {}, -1, {} }
end

-- Reclaim expired leases: a stall, not a failed attempt.
local stalled, stalledOut = {}, {}
local expired = redis.call("ZRANGEBYSCORE", KEYS[6], "-inf", leaseNow, "LIMIT", 0, 1000)
for _, id in ipairs(expired) do
  redis.call("ZREM", KEYS[6], id)
  redis.call("HDEL", KEYS[7], id)
  local record = redis.call("HGET", KEYS[1], id)
  if record then
    stalled[#stalled + 1] = id
    local count = redis.call("HINCRBY", KEYS[11], id, 1)
    -- "s":-1 (or a record without "s") takes the worker's default.
    local limit = tonumber(string.match(record, '^{"b":%d,"m":%d+,"s":(%d+)')) or defaultMaxStalls
    if count > limit then
      appendError(KEYS[3], id, cjson.encode({
        attempt = tonumber(redis.call("HGET", KEYS[2], id)) or 0,
        name = "JobStalledError",
        message = string.format(
          "The job stalled too many times: its lease expired %d times before it finished (maxStalls %d)",
          count, limit),
        at = now,
      }))
      local ok, decoded = pcall(cjson.decode, record)
      deadLetter(queueKeys, id, ok and type(decoded.u) == "string" and decoded.u or nil, now, failedLimit)
      stalledOut[#stalledOut + 1] = id
    else
      local band = string.match(record, '^{"b":(%d)')
      local seq = redis.call("HINCRBY", KEYS[10], "seq", 1)
      redis.call("ZADD", KEYS[4], tonumber(band) * 1e13 + seq, id)
    end
  end
end

-- Promote due delayed jobs.
local due = redis.call("ZRANGEBYSCORE", KEYS[5], "-inf", now, "LIMIT", 0, 1000)
if #due > 0 then
  redis.call("ZREM", KEYS[5], unpack(due))
  local records = redis.call("HMGET", KEYS[1], unpack(due))
  local last = redis.call("HINCRBY", KEYS[10], "seq", #due)
  local seq = last - #due
  local ready = {}
  for i, id in ipairs(due) do
    if records[i] then
      seq = seq + 1
      local band = string.match(records[i], '^{"b":(%d)')
      ready[#ready + 1] = tonumber(band) * 1e13 + seq
      ready[#ready + 1] = id
    end
  end
  if #ready > 0 then redis.call("ZADD", KEYS[4], unpack(ready)) end
end

-- Reserve.
local reserved = {}
local popped = redis.call("ZPOPMIN", KEYS[4], want)
for i = 1, #popped, 2 do reserved[#reserved + 1] = popped[i] end
local jobs = {}
if #reserved > 0 then
  local deadline = leaseNow + leaseMs
  local leases, active = {}, {}
  for _, id in ipairs(reserved) do
    redis.call("HINCRBY", KEYS[2], id, 1)
    leases[#leases + 1] = id
    leases[#leases + 1] = token
    active[#active + 1] = deadline
    active[#active + 1] = id
  end
  redis.call("HSET", KEYS[7], unpack(leases))
  redis.call("ZADD", KEYS[6], unpack(active))
  jobs = jobsOf(reserved)
end

if #reserved > 0 or n > 0 then
  redis.call("SET", KEYS[13], cjson.encode({ lost = lost, ids = reserved }), "PX", leaseMs)
end
return { lost, stalled, jobs, nextDue(), stalledOut }
