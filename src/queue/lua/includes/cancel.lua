-- Cancels an active job (queue.remove() of a running job, cancelBatch()): the lease
-- goes to CANCELLED, so no worker's token completes or fails it any more, the attempt
-- ends with a JobCancelledError, and the job moves to the failed store without retry,
-- freeing its key's slot (flow.lua). Included after jobs.lua and flow.lua.
-- Returns whether the job was active (false: nothing changed).
local function cancelActive(id, record, now, keep)
  if redis.call("ZREM", q.active, id) == 0 then return false end
  redis.call("HSET", q.leases, id, CANCELLED)
  appendError(id, cjson.encode({
    attempt = tonumber(redis.call("HGET", q.attempts, id)) or 0,
    name = "JobCancelledError",
    message = "The job was cancelled while it ran",
    at = now,
  }))
  local uk, dd = endingOf(record)
  deadLetter(id, uk, dd, now, keep)
  flowRelease(flowOf(record), now)
  return true
end
