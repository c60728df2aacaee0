--[[
  An operator's action on jobs, each checked against the job's state inside
  this one step, so racing a worker (completing, failing) or another operator
  acts at most once:
    remove   deletes a waiting, delayed, completed or failed job with its data;
             an active job is cancelled instead: its lease is taken away (the
             worker's next renewal learns it and aborts the handler) and it goes
             to the failed store with a JobCancelledError, without retry
    promote  moves a delayed job to ready now
    retry    moves a failed job back to ready with a fresh retry budget (errors,
             attempt and stall counts, progress and logs cleared); the step that
             failed its chain takes the chain up again, a batch's failed member is
             pending in its batch again (includes/workflows.lua)
    forget   deletes a failed job with its data
  The answer is remembered under the call's token, so a replay answers the same.

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)
  KEYS[29]     memo  STRING  this call's answer, for a replay

  ARGV[1]  action: "remove", "promote", "retry" or "forget"
  ARGV[2]  "all" to take the oldest failed jobs (retry, forget), "ids" for the ids that follow
  ARGV[3]  with "all": at most this many
  ARGV[4]  how long the answer is remembered (ms)
  ARGV[5]  now (epoch ms)
  ARGV[6]  failed jobs kept
  ARGV[7]  failed jobs' longest stay (ms, 0: no limit)
  ARGV[8..]  with "ids": the job ids

  Output:
    how many jobs the action changed
]]
-- @include "jobs.lua"
-- @include "workflows.lua"
-- @include "flow.lua"
-- @include "cancel.lua"

local memo = redis.call("GET", KEYS[29])
if memo then return tonumber(memo) end
local action, now = ARGV[1], tonumber(ARGV[5])
local keepFailed = { count = tonumber(ARGV[6]), age = tonumber(ARGV[7]) }
local ids = {}
if ARGV[2] == "all" then
  ids = redis.call("ZRANGE", q.failed, 0, tonumber(ARGV[3]) - 1)
else
  for i = 8, #ARGV do ids[#ids + 1] = ARGV[i] end
end

local done = 0

-- Puts a job at the back of its band, now waiting.
local function requeue(id, record)
  local band = tonumber(string.match(record, '^{"b":(%d)'))
  redis.call("ZADD", q.ready, band * 1e13 + redis.call("HINCRBY", q.stats, "seq", 1), id)
  done = done + 1
  changed(id, "waiting")
end

for _, id in ipairs(ids) do
  local record = redis.call("HGET", q.jobs, id)
  if record then
    if action == "promote" then
      if redis.call("ZREM", q.delayed, id) == 1 then requeue(id, record) end
    elseif action == "retry" then
      if redis.call("ZREM", q.failed, id) == 1 then
        for _, key in ipairs({ q.attempts, q.errors, q.stalls, q.progress, q.logs, q.leases }) do
          redis.call("HDEL", key, id)
        end
        local uk = endingOf(record)
        if uk ~= "" then redis.call("HSETNX", q.unique, uk, id) end
        workflowRetried(id, record)
        requeue(id, record)
      end
    elseif action == "forget" then
      if redis.call("ZREM", q.failed, id) == 1 then
        dropJobs({ id })
        done = done + 1
        changed(id, "removed")
      end
    elseif cancelActive(id, record, now, keepFailed) then
      done = done + 1
    else
      local removed = 0
      for _, set in ipairs({ q.ready, q.delayed, q.completed, q.failed }) do
        removed = removed + redis.call("ZREM", set, id)
      end
      -- A job waiting on its key (flow.lua) leaves its line, and hands on its turn.
      local rules = flowOf(record)
      if rules and flowForget(id, rules, now) then removed = removed + 1 end
      if removed > 0 then
        local uk = endingOf(record)
        if uk ~= "" and redis.call("HGET", q.unique, uk) == id then redis.call("HDEL", q.unique, uk) end
        dropJobs({ id })
        done = done + 1
        changed(id, "removed")
        -- A removed chain step fails its chain; a removed batch member counts as failed.
        workflowEnded(id, false, cjson.encode({
          attempt = 0, name = "JobRemovedError", message = "The job was removed before it ran", at = now,
        }), now, keepFailed)
      end
    end
  end
end
redis.call("SET", KEYS[29], done, "PX", tonumber(ARGV[4]))
flushMetrics(now)
publish(now)
return done
