--[[
  Enqueues a batch of jobs of one queue, all or nothing: every check runs
  before the first write. A job whose id is taken, or whose unique key is held,
  is skipped and reported with the holder's id, which also makes a replayed
  request (the HTTP client retries) enqueue nothing.

  An id is taken by a job that exists, except a completed job kept only for
  viewing: a new dispatch with its id replaces it, unless the job was
  dispatched with a dedupe window (`dedupeFor`) that is still open. A unique
  key is held by a waiting, delayed or active job, or by an open dedupe window.

  Each record starts {"b":band,"m":maxRetries,"s":maxStalls,"d":"dispatch token",
  and the token is unique per dispatch call. A job that exists with the same
  token as the one being enqueued was created by this very call, replayed:
  it is reported as created again, so the replay answers what the first call
  answered, while another caller dispatching the same id is told "skipped".

  A job under flow control (includes/flow.lua) that is due waits on its key's
  line instead of ready; a throttled one within its key's window is skipped and
  reported with the id that opened the window; a debounced one whose key has a
  job still delayed folds into it (that job takes its record, labels and run-at,
  keeping its id, dispatch time and token: flowFold in flow.lua) and is reported
  with that job's id, as is a replay of a dispatch that folded.

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)

  ARGV[1]  now (epoch ms)
  ARGV[2]  number of jobs, n
  ARGV[3 + 9i .. 11 + 9i]  per job: id, record JSON, band (0 high, 1 normal, 2 low),
                           run-at (epoch ms), unique key ("" for none), name,
                           created-at (epoch ms), tags as a JSON array ("" for none),
                           "1" to index it for search (labels and index entries), "0" not
                           (a job without labels has no index entries to drop later)

  Output:
    a flat array: id, created (1) or skipped (0), for each job in order
]]
-- @include "jobs.lua"
-- @include "flow.lua"

local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local PER = 9
local ids = {}
for i = 0, n - 1 do ids[i + 1] = ARGV[3 + i * PER] end
local existing = n > 0 and redis.call("HMGET", q.jobs, unpack(ids)) or {}

-- Forget dedupe windows that have closed, and the unique keys only they held.
local windows = redis.call("ZCARD", q.dedupe) > 0
if windows then
  local closed = redis.call("ZRANGEBYSCORE", q.dedupe, "-inf", now, "LIMIT", 0, 100)
  for _, member in ipairs(closed) do
    redis.call("ZREM", q.dedupe, member)
    local kind = string.sub(member, 1, 1)
    if kind == "t" or kind == "r" or kind == "f" then
      -- A throttle window, a rate window's last start or a fold's replay window is over (flow.lua).
      redis.call("HDEL", q.flow, kind .. "/" .. string.sub(member, 3))
    elseif string.sub(member, 1, 1) == "u" then
      local uk = string.sub(member, 3)
      local holder = redis.call("HGET", q.unique, uk)
      if holder and redis.call("HEXISTS", q.jobs, holder) == 0 then
        redis.call("HDEL", q.unique, uk)
      end
    end
  end
end

-- Whether a job still counts as pending for its unique key: it exists and has not ended.
local function pending(id)
  return redis.call("HEXISTS", q.jobs, id) == 1 and not redis.call("ZSCORE", q.completed, id)
    and not redis.call("ZSCORE", q.failed, id)
end

-- A job's tags from their JSON array: split as text when no tag needs escaping (a
-- backslash would say one does), which is most, else decoded.
local function tagList(json)
  if string.find(json, "\\", 1, true) then return cjson.decode(json) end
  local tags, from, last = {}, 3, #json - 2
  while from <= last + 1 do
    local at = string.find(json, '","', from, true)
    if not at or at > last then
      tags[#tags + 1] = string.sub(json, from, last)
      break
    end
    tags[#tags + 1] = string.sub(json, from, at - 1)
    from = at + 3
  end
  return tags
end

-- The record prefix up to and including the dispatch token, when it has one.
local function tokenOf(record)
  return string.match(record, '^{"b":%d,"m":%d+,"s":%-?%d+,"d":"[^"]+"')
end

local seen = {}
local heldBy = {}
local records, ready, delayed, uniques, entries, replaced, releases = {}, {}, {}, {}, {}, {}, {}
local labels = {}
local readyCount, recordCount = 0, 0
local flowReady, flowFolds, flowMarks = {}, {}, {}
local out = {}
for i = 0, n - 1 do
  local base = 3 + i * PER
  local id, record, band, runAt, uk =
    ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), ARGV[base + 4]
  local holder = nil
  local mine = false
  if seen[id] then
    holder = id
  elseif existing[i + 1] then
    local token = tokenOf(existing[i + 1])
    if token and token == tokenOf(record) then
      -- The same call, replayed: answer "created" again and hold the key as the first run did.
      holder = id
      mine = true
      seen[id] = true
      if uk ~= "" then heldBy[uk] = id end
    elseif not (redis.call("ZSCORE", q.completed, id) and not (windows and reserved("i", id, now))) then
      holder = id
    else
      replaced[#replaced + 1] = id
      -- Its unique key, if it still holds one, must not point at the new job.
      local oldKey = endingOf(existing[i + 1])
      if oldKey ~= "" and redis.call("HGET", q.unique, oldKey) == id then
        releases[#releases + 1] = oldKey
      end
    end
  elseif windows and reserved("i", id, now) then
    holder = id
  end
  if not holder and not mine and uk ~= "" then
    holder = heldBy[uk]
    if not holder then
      local current = redis.call("HGET", q.unique, uk)
      if current and (pending(current) or (windows and reserved("u", uk, now))) then
        holder = current
      end
    end
  end
  -- Flow control (flow.lua): a throttled job within its key's window is dropped, and a
  -- debounced one folds into its key's waiting job, which then looks like it (flowFold).
  local rules = not holder and not mine and flowOf(record)
  if rules and rules.d and windows then
    -- A replay of a dispatch that folded (flow.lua): answered with its job, nothing changes.
    local token = string.match(record, '^{"b":%d,"m":%d+,"s":%-?%d+,"d":"([^"]+)"')
    holder = token and foldedBy(token, now)
  end
  if rules and rules.t and not holder then
    local open = redis.call("ZSCORE", q.dedupe, "t" .. SEP .. rules.t.key)
    if open and tonumber(open) > now then holder = redis.call("HGET", q.flow, "t/" .. rules.t.key) or id end
  end
  if rules and rules.d and not holder then
    local waiting = redis.call("HGET", q.flow, rules.d)
    if waiting and waiting ~= id and redis.call("ZSCORE", q.delayed, waiting) then
      holder = waiting
      -- With a longest wait (maxWait), no later than the first dispatch's deadline.
      local latest = tonumber(redis.call("HGET", q.flow, "e" .. string.sub(rules.d, 2)))
      local tags = ARGV[base + 8] ~= "0" and (ARGV[base + 7] ~= "" and tagList(ARGV[base + 7]) or {})
      flowFolds[#flowFolds + 1] = {
        waiting, record, latest and math.min(runAt, latest) or runAt, ARGV[base + 5], tags,
      }
    end
  end
  -- Each job has its pair in out at 2i+1, 2i+2 (indexes, not #out + 1: the length operator
  -- searches the table at every use); records and ready are counted the same way.
  if holder then
    out[i * 2 + 1] = holder
    out[i * 2 + 2] = mine and 1 or 0
  else
    seen[id] = true
    recordCount = recordCount + 2
    records[recordCount - 1] = id
    records[recordCount] = record
    if uk ~= "" then
      heldBy[uk] = id
      uniques[#uniques + 1] = uk
      uniques[#uniques + 1] = id
    end
    -- Once a call knows nobody watches (listening false), no call per job is spent on it.
    if listening ~= false then changed(id, runAt > now and "delayed" or "waiting") end
    if rules then flowMarks[#flowMarks + 1] = { id, rules } end
    if runAt > now then
      delayed[#delayed + 1] = runAt
      delayed[#delayed + 1] = id
    elseif rules then
      flowReady[#flowReady + 1] = { id, rules, band }
    else
      readyCount = readyCount + 1
      ready[readyCount * 2 - 1] = band
      ready[readyCount * 2] = id
    end
    if ARGV[base + 8] ~= "0" then
      local tags = ARGV[base + 7]
      local label = labelsOf(ARGV[base + 5], ARGV[base + 6], tags ~= "" and tagList(tags) or nil)
      labels[#labels + 1] = id
      labels[#labels + 1] = label
      indexEntries(id, label, entries)
    end
    out[i * 2 + 1] = id
    out[i * 2 + 2] = 1
  end
end

if #replaced > 0 then
  redis.call("ZREM", q.completed, unpack(replaced))
  dropJobs(replaced, true)
end
if #releases > 0 then redis.call("HDEL", q.unique, unpack(releases)) end
if #records > 0 then
  redis.call("HSET", q.jobs, unpack(records))
  if #labels > 0 then redis.call("HSET", q.labels, unpack(labels)) end
end
if #uniques > 0 then redis.call("HSET", q.unique, unpack(uniques)) end
if #delayed > 0 then redis.call("ZADD", q.delayed, unpack(delayed)) end
if readyCount > 0 then
  local last = redis.call("HINCRBY", q.stats, "seq", readyCount)
  local seq = last - readyCount
  for j = 1, #ready, 2 do
    seq = seq + 1
    ready[j] = ready[j] * 1e13 + seq
  end
  redis.call("ZADD", q.ready, unpack(ready))
end
if #flowReady > 0 then
  local seq = redis.call("HINCRBY", q.stats, "seq", #flowReady) - #flowReady
  for j, job in ipairs(flowReady) do flowEnqueue(job[1], job[2], job[3], seq + j, now) end
end
for _, mark in ipairs(flowMarks) do
  local id, rules = mark[1], mark[2]
  if rules.d then
    redis.call("HSET", q.flow, rules.d, id)
    if rules.dmax then
      redis.call("HSET", q.flow, "e" .. string.sub(rules.d, 2), now + rules.dmax)
    else
      redis.call("HDEL", q.flow, "e" .. string.sub(rules.d, 2))
    end
  end
  if rules.t then
    redis.call("ZADD", q.dedupe, now + rules.t.window, "t" .. SEP .. rules.t.key)
    redis.call("HSET", q.flow, "t/" .. rules.t.key, id)
  end
end
for _, fold in ipairs(flowFolds) do
  flowFold(fold[1], fold[2], fold[3], fold[4], fold[5], now)
  redis.call("ZADD", q.delayed, fold[3], fold[1])
  changed(fold[1], "delayed")
end
indexWrite("ZADD", entries)
publish(now)
return out
