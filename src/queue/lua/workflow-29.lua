--[[
  Starts and changes chains and batches (see includes/workflows.lua for their
  keys). Ids and templates come from the dispatcher, and the answer is
  remembered under the call's token, so a replay (the HTTP client retrying)
  changes nothing twice.

    chain   stores a chain and enqueues its first step
    batch   stores a batch and enqueues its first jobs
    add     adds jobs to a running batch
    cancel  cancels a running batch: pending members are removed, running ones
            cancelled as queue.remove() cancels them (their lease taken away,
            the failed store with a JobCancelledError), then `finally` runs

  A batch sent in several calls holds itself open ("open" on the first, "close"
  on the last): an extra pending count, so it cannot finish before its last
  jobs are in, whatever the workers do between the calls. Each hold is named
  by its caller and kept in `members` as "<batch>\0\1<name>" (cancel drops it
  with the members), so a hold is taken and released at most once: a caller
  whose last call's answer was lost can release it again safely.

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)
  KEYS[29]     memo  STRING  this call's answer, for a replay

  ARGV[1]  action: "chain", "batch", "add" or "cancel"
  ARGV[2]  now (epoch ms)
  ARGV[3]  the chain's or batch's id
  ARGV[4]  failed jobs kept (finished workflows are kept as long)
  ARGV[5]  failed jobs' longest stay (ms, 0: no limit)
  ARGV[6]  how long the answer is remembered (ms)
  ARGV[7]  chain: its JSON { steps = {template…}, catch = template? }
           batch: its settings JSON { name, allow, ok, ko, fin, createdAt }
           add, cancel: ""
  ARGV[8]  batch, add: the name of a hold to take after this call, "" for none
  ARGV[9]  batch, add: the name of a hold to release at the end of this call, "" for none
  ARGV[10..]  batch, add: the jobs' templates as JSON, one per argument

  Output:
    1 done, 0 refused (chain, batch: a chain or batch with this id exists, or
    its first job does, a caller's id taken by jobs its workflow outlived;
    add, cancel: no running batch with this id)
]]
-- @include "jobs.lua"
-- @include "workflows.lua"
-- @include "flow.lua"
-- @include "cancel.lua"

local memo = redis.call("GET", KEYS[29])
if memo then return tonumber(memo) end
local action, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local keep = { count = tonumber(ARGV[4]), age = tonumber(ARGV[5]) }

local function answer(result)
  redis.call("SET", KEYS[29], result, "PX", tonumber(ARGV[6]))
  publish(now)
  return result
end

if action == "chain" then
  local base = "c" .. SEP .. id
  local chain = cjson.decode(ARGV[7])
  local first = chain.steps[1]
  -- A caller's id (a random one never meets these) must not take over another's jobs.
  if redis.call("HEXISTS", q.workflows, base) == 1 or redis.call("HEXISTS", q.workflows, "b" .. SEP .. id) == 1
    or redis.call("HEXISTS", q.jobs, first.i) == 1 then
    return answer(0)
  end
  redis.call("HSET", q.workflows, base, ARGV[7], base .. SEP .. "p", 1, base .. SEP .. "s", "running",
    "j" .. SEP .. first.i, "c" .. SEP .. id)
  wfEnqueue(first, "", now)
  return answer(1)
end

local base = "b" .. SEP .. id

-- Enqueues the jobs of ARGV[10..] as members; ids already taken are skipped.
local function addMembers()
  local added = 0
  for i = 10, #ARGV do
    local tpl = cjson.decode(ARGV[i])
    if redis.call("HEXISTS", q.jobs, tpl.i) == 0 then
      wfEnqueue(tpl, "", now)
      redis.call("HSET", q.workflows, "j" .. SEP .. tpl.i, "b" .. SEP .. id)
      redis.call("ZADD", q.members, 0, id .. SEP .. tpl.i)
      added = added + 1
    end
  end
  local hold = 0
  if ARGV[8] ~= "" then hold = redis.call("ZADD", q.members, "NX", 0, id .. SEP .. "\1" .. ARGV[8]) end
  if ARGV[9] ~= "" then hold = hold - redis.call("ZREM", q.members, id .. SEP .. "\1" .. ARGV[9]) end
  redis.call("HINCRBY", q.workflows, base .. SEP .. "t", added)
  local pending = redis.call("HINCRBY", q.workflows, base .. SEP .. "p", added + hold)
  if pending == 0 then
    local failed = tonumber(redis.call("HGET", q.workflows, base .. SEP .. "f")) or 0
    wfBatchDone(id, wfRecord(base) or {}, failed, now, keep)
  end
end

-- Whether the batch exists and has neither finished nor been cancelled.
local function running()
  local state = redis.call("HMGET", q.workflows, base, base .. SEP .. "e", base .. SEP .. "x")
  return state[1] and not state[2] and not state[3]
end

if action == "batch" then
  local first = ARGV[10] and cjson.decode(ARGV[10])
  if redis.call("HEXISTS", q.workflows, base) == 1 or redis.call("HEXISTS", q.workflows, "c" .. SEP .. id) == 1
    or (first and redis.call("HEXISTS", q.jobs, first.i) == 1) then
    return answer(0)
  end
  redis.call("HSET", q.workflows, base, ARGV[7], base .. SEP .. "t", 0, base .. SEP .. "p", 0,
    base .. SEP .. "c", 0, base .. SEP .. "f", 0)
  addMembers()
  return answer(1)
end

if not running() then return answer(0) end

if action == "add" then
  addMembers()
  return answer(1)
end

-- cancel: the members' links go first, so a running member dead-lettered below is not
-- counted again; ZREM, HDEL and the pending members' data go 1,000 at a time rather than
-- one call each (a 10,000-job batch is cancelled in one script, which blocks Redis).
local members = redis.call("ZRANGEBYLEX", q.members, "[" .. id .. SEP, "(" .. id .. "\1")
local ids, links = {}, {}
for i, member in ipairs(members) do
  ids[i] = string.sub(member, #id + 2)
  links[i] = "j" .. SEP .. ids[i]
end
for from = 1, #members, 1000 do
  local to = math.min(from + 999, #members)
  redis.call("ZREM", q.members, unpack(members, from, to))
  redis.call("HDEL", q.workflows, unpack(links, from, to))
end
local gone = {}
for _, jobId in ipairs(ids) do
  local record = redis.call("HGET", q.jobs, jobId)
  if record then
    if not cancelActive(jobId, record, now, keep) then
      local removed = redis.call("ZREM", q.ready, jobId) + redis.call("ZREM", q.delayed, jobId)
      -- A member waiting on its key (flow.lua) leaves its line and hands on its turn.
      local rules = flowOf(record)
      if rules and flowForget(jobId, rules, now) then removed = removed + 1 end
      if removed > 0 then
        gone[#gone + 1] = jobId
        changed(jobId, "removed")
      end
    end
  end
end
for from = 1, #gone, 1000 do dropJobs({ unpack(gone, from, math.min(from + 999, #gone)) }) end
redis.call("HSET", q.workflows, base .. SEP .. "x", now, base .. SEP .. "p", 0)
wfCallback(id, wfRecord(base) or {}, "fin", ',"bx":1', now, "n")
wfFinish("b", id, now, keep)
flushMetrics(now)
return answer(1)
