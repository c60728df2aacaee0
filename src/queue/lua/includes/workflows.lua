-- Chains and batches (issue 16), included after jobs.lua by every script that
-- ends jobs (take, fail, manage) and by workflow-29.lua. All their state is in
-- the queue's `workflows` HASH and `members` ZSET:
--   j\0<job id>        the workflow a live step or member belongs to: "c\0<chain>" or "b\0<batch>"
--   c\0<id>            a chain as its dispatcher built it: { steps = {template…}, catch = template? }
--   c\0<id>\0p|s|e|f   its current step (1-based), state, finish time, failed step { jobId, error }
--   c\0<id>\0r         how many times an operator retried its failed step (names the next catch)
--   b\0<id>            a batch's settings: { name, allow, ok, ko, fin (callback templates), createdAt }
--   b\0<id>\0t|p|c|f   its total, pending, completed and failed counters
--   b\0<id>\0x|e       when it was cancelled, when it finished (last: a retried member reopens it)
--   b\0<id>\0k|n       when its catch, its finally was enqueued: each at most once, however
--                    often an operator retries its failed members
-- A template is a job the dispatcher encoded in full ({ i = id, r = record, b = band,
-- l = labels or "" }), so a script enqueues it without knowing the record's layout.
-- `members` holds "<batch>\0<job id>" for each pending member (score 0, ranged as text)
-- and "<batch>\0\1<name>" for each hold keeping a batch open (workflow-29.lua),
-- and "\255<finish time, 13 digits>\0<c or b>\0<id>" for each finished workflow, so the
-- oldest are trimmed within the failed jobs' retention.
local FINISHED = "\255"

-- Enqueues a template's job due `now` (its wait-time metric counts from here, not from
-- the workflow's dispatch), with `extra` JSON fields appended to its record; a job
-- whose id exists is left alone, so each callback and step is enqueued at most once.
local function wfEnqueue(tpl, extra, now)
  -- A template that is not one the dispatcher wrote (a forged hash field) enqueues nothing.
  if type(tpl) ~= "table" or type(tpl.i) ~= "string" or type(tpl.r) ~= "string"
    or string.sub(tpl.r, -1) ~= "}" or type(tpl.l) ~= "string" or not tonumber(tpl.b) then
    return
  end
  if redis.call("HEXISTS", q.jobs, tpl.i) == 1 then return end
  local record = tpl.r
  -- The first "runAt": is the record's own (a string's quotes are escaped), as take reads it.
  local at = string.find(record, '"runAt":', 1, true)
  local digits = at and string.match(record, "^%d+", at + 8)
  if digits then
    record = string.sub(record, 1, at + 7) .. string.format("%.0f", now) .. string.sub(record, at + 8 + #digits)
  end
  if extra ~= "" then record = string.sub(record, 1, -2) .. extra .. "}" end
  redis.call("HSET", q.jobs, tpl.i, record)
  local seq = redis.call("HINCRBY", q.stats, "seq", 1)
  redis.call("ZADD", q.ready, tonumber(tpl.b) * 1e13 + seq, tpl.i)
  if tpl.l ~= "" then
    redis.call("HSET", q.labels, tpl.i, tpl.l)
    indexWrite("ZADD", indexEntries(tpl.i, tpl.l, {}))
  end
  changed(tpl.i, "waiting")
end

local WF_PARTS = { c = { "p", "s", "e", "f", "r" }, b = { "t", "p", "c", "f", "x", "e", "k", "n" } }

-- Marks a workflow finished, then forgets the oldest finished ones beyond `keep`.
local function wfFinish(kind, id, now, keep)
  redis.call("HSET", q.workflows, kind .. SEP .. id .. SEP .. "e", now)
  redis.call("ZADD", q.members, 0, FINISHED .. stamp(now) .. SEP .. kind .. SEP .. id)
  local old = {}
  if keep.age > 0 then
    old = redis.call("ZRANGEBYLEX", q.members, "[" .. FINISHED, "(" .. FINISHED .. stamp(now - keep.age),
      "LIMIT", 0, 100)
  end
  local over = redis.call("ZLEXCOUNT", q.members, "[" .. FINISHED, "+") - #old - keep.count
  if over > 0 then
    local more = redis.call("ZRANGEBYLEX", q.members, "[" .. FINISHED, "+", "LIMIT", #old, math.min(over, 100))
    for _, marker in ipairs(more) do old[#old + 1] = marker end
  end
  for _, marker in ipairs(old) do
    local k, wid = string.match(marker, "^\255%d+%z(%a)%z(.*)$")
    if k and WF_PARTS[k] then
      local fields = { k .. SEP .. wid }
      for _, part in ipairs(WF_PARTS[k]) do fields[#fields + 1] = k .. SEP .. wid .. SEP .. part end
      redis.call("HDEL", q.workflows, unpack(fields))
    end
    redis.call("ZREM", q.members, marker)
  end
end

-- A workflow's stored JSON, or nil when it is missing or not what a dispatcher wrote:
-- a forged field must not fail the script that completes a job (Redis keeps the writes
-- a failing script already made).
local function wfRecord(field)
  local raw = redis.call("HGET", q.workflows, field)
  if not raw then return nil end
  local ok, record = pcall(cjson.decode, raw)
  if ok and type(record) == "table" then return record end
  return nil
end

-- The last error kept for a job, as JSON.
local function wfLastError(id)
  local list = redis.call("HGET", q.errors, id)
  if list then
    local ok, errors = pcall(cjson.decode, list)
    if ok and type(errors) == "table" and errors[#errors] then return cjson.encode(errors[#errors]) end
  end
  return '{"attempt":0,"name":"Error","message":"The step ended without an error kept","at":0}'
end

-- A chain's step ended: enqueue the next (reading the result as ctx.previous), or
-- finish the chain; a step that did not complete fails it and enqueues its catch.
local function wfChainStep(cid, id, ok, data, now, keep)
  local base = "c" .. SEP .. cid
  local chain = wfRecord(base)
  if not chain or type(chain.steps) ~= "table" then return end
  local pos = tonumber(redis.call("HGET", q.workflows, base .. SEP .. "p")) or #chain.steps
  if ok then
    if pos < #chain.steps then
      local step = chain.steps[pos + 1]
      wfEnqueue(step, ',"pv":' .. (data ~= "" and data or "null"), now)
      if type(step) == "table" and type(step.i) == "string" then
        redis.call("HSET", q.workflows, base .. SEP .. "p", pos + 1, "j" .. SEP .. step.i, "c" .. SEP .. cid)
      end
    else
      redis.call("HSET", q.workflows, base .. SEP .. "s", "completed")
      wfFinish("c", cid, now, keep)
    end
    return
  end
  local failed = '{"jobId":' .. cjson.encode(id) .. ',"error":' .. (data or wfLastError(id)) .. "}"
  redis.call("HSET", q.workflows, base .. SEP .. "s", "failed", base .. SEP .. "f", failed)
  if type(chain.catch) == "table" then
    -- After an operator's retry failed again, catch runs again as a new job (Laravel
    -- does the same): "<catch id>-2" after the first retry, and so on.
    local round = tonumber(redis.call("HGET", q.workflows, base .. SEP .. "r")) or 0
    local catch = chain.catch
    if round > 0 and type(catch.i) == "string" then
      catch = { i = catch.i .. "-" .. (round + 1), r = catch.r, b = catch.b, l = catch.l }
    end
    wfEnqueue(catch, ',"cf":' .. failed, now)
  end
  wfFinish("c", cid, now, keep)
end

-- Enqueues a batch's callback (ok, ko or fin), if it has one. `once`, the batch's
-- part recording that it ran (k for ko, n for fin), keeps it to once per batch.
local function wfCallback(bid, batch, name, extra, now, once)
  if once and redis.call("HSETNX", q.workflows, "b" .. SEP .. bid .. SEP .. once, now) == 0 then return end
  if type(batch[name]) == "table" then wfEnqueue(batch[name], extra, now) end
end

-- A batch ran out of pending jobs: `then` when none failed (once: no member of such a
-- batch can be retried), `finally` the first time.
local function wfBatchDone(bid, batch, failed, now, keep)
  if failed == 0 then wfCallback(bid, batch, "ok", "", now) end
  wfCallback(bid, batch, "fin", "", now, "n")
  wfFinish("b", bid, now, keep)
end

-- A batch's member ended: count it; the update that crosses a threshold enqueues
-- the callback, in this same script, so each runs exactly once.
local function wfBatchMember(bid, id, ok, now, keep)
  local base = "b" .. SEP .. bid
  if redis.call("HEXISTS", q.workflows, base) == 0 then return end
  redis.call("ZREM", q.members, bid .. SEP .. id)
  local pending = redis.call("HINCRBY", q.workflows, base .. SEP .. "p", -1)
  local failed
  if ok then
    redis.call("HINCRBY", q.workflows, base .. SEP .. "c", 1)
    failed = tonumber(redis.call("HGET", q.workflows, base .. SEP .. "f")) or 0
  else
    failed = redis.call("HINCRBY", q.workflows, base .. SEP .. "f", 1)
  end
  if (ok or failed > 1) and pending > 0 then return end
  local batch = wfRecord(base)
  if not batch then return end
  if not ok and failed == 1 and not batch.allow then wfCallback(bid, batch, "ko", "", now, "k") end
  if pending == 0 then wfBatchDone(bid, batch, failed, now, keep) end
end

-- A job ended: completed (`ok`, `data` its result JSON or "") or not (`data` its
-- error JSON, or nil to read the last one kept). Declared in jobs.lua, so its
-- deadLetter() reaches it.
workflowEnded = function(id, ok, data, now, keep)
  local field = "j" .. SEP .. id
  local ref = redis.call("HGET", q.workflows, field)
  if not ref then return end
  redis.call("HDEL", q.workflows, field)
  local wid = string.sub(ref, 3)
  if string.sub(ref, 1, 1) == "c" then
    wfChainStep(wid, id, ok, data, now, keep)
  else
    wfBatchMember(wid, id, ok, now, keep)
  end
end

-- Takes a finished workflow back to running: no finish time, no retention marker.
local function wfReopen(kind, wid, finishedAt)
  if not finishedAt then return end
  redis.call("HDEL", q.workflows, kind .. SEP .. wid .. SEP .. "e")
  redis.call("ZREM", q.members, FINISHED .. stamp(tonumber(finishedAt)) .. SEP .. kind .. SEP .. wid)
end

-- An operator retried the failed job `id` (manage-29.lua; `record` its stored JSON).
-- The step that failed its chain takes the chain up again from there; a failed member
-- of a batch that was not cancelled is pending again (failed - 1, pending + 1), and
-- reopens its batch if it had finished. Any other job (a callback, a step of a chain
-- that failed elsewhere or was trimmed) just runs again.
local function workflowRetried(id, record)
  if redis.call("EXISTS", q.workflows) == 0 or not string.find(record, '"w":{', 1, true) then return end
  local ok, rec = pcall(cjson.decode, record)
  if not ok or type(rec) ~= "table" or type(rec.w) ~= "table" then return end
  local link = "j" .. SEP .. id
  if type(rec.w.c) == "string" then
    local cid = rec.w.c
    local base = "c" .. SEP .. cid
    local state = redis.call("HMGET", q.workflows, base .. SEP .. "s", base .. SEP .. "f", base .. SEP .. "e")
    if state[1] ~= "failed" or not state[2] then return end
    local fine, failed = pcall(cjson.decode, state[2])
    if not fine or type(failed) ~= "table" or failed.jobId ~= id then return end
    wfReopen("c", cid, state[3])
    redis.call("HDEL", q.workflows, base .. SEP .. "f")
    redis.call("HSET", q.workflows, base .. SEP .. "s", "running", link, "c" .. SEP .. cid)
    redis.call("HINCRBY", q.workflows, base .. SEP .. "r", 1)
  elseif type(rec.w.b) == "string" then
    local bid = rec.w.b
    local base = "b" .. SEP .. bid
    local state = redis.call("HMGET", q.workflows, base .. SEP .. "x", base .. SEP .. "e", base .. SEP .. "f", link)
    if state[1] or state[4] or (tonumber(state[3]) or 0) < 1 then return end
    local batch = wfRecord(base)
    if not batch then return end
    -- Its callbacks carry its mark too, but were never members.
    for _, name in ipairs({ "ok", "ko", "fin" }) do
      if type(batch[name]) == "table" and batch[name].i == id then return end
    end
    wfReopen("b", bid, state[2])
    redis.call("HINCRBY", q.workflows, base .. SEP .. "f", -1)
    redis.call("HINCRBY", q.workflows, base .. SEP .. "p", 1)
    redis.call("HSET", q.workflows, link, "b" .. SEP .. bid)
    redis.call("ZADD", q.members, 0, bid .. SEP .. id)
  end
end

-- Completed jobs (ids, and their results JSON or "" at the same index): one EXISTS
-- for a queue that never used a workflow, one HMGET for one that did.
local function workflowsCompleted(ids, results, now, keep)
  if #ids == 0 or redis.call("EXISTS", q.workflows) == 0 then return end
  local fields = {}
  for i, id in ipairs(ids) do fields[i] = "j" .. SEP .. id end
  local refs = redis.call("HMGET", q.workflows, unpack(fields))
  for i, id in ipairs(ids) do
    if refs[i] then workflowEnded(id, true, results[i], now, keep) end
  end
end
