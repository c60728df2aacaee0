-- Shared by the queue scripts. `hashes` lists the per-job HASHes (record,
-- attempts, errors, stalls, progress), in whatever KEYS order a script has.

-- Deletes everything the per-job hashes hold for `ids` (a non-empty list).
local function dropJobData(hashes, ids)
  for _, key in ipairs(hashes) do redis.call("HDEL", key, unpack(ids)) end
end

-- Appends one attempt's error (a JSON object) to the job's JSON array of errors.
local function appendError(errorsKey, id, errorJson)
  local list = redis.call("HGET", errorsKey, id)
  if list then
    list = string.sub(list, 1, -2) .. "," .. errorJson .. "]"
  else
    list = "[" .. errorJson .. "]"
  end
  redis.call("HSET", errorsKey, id, list)
end

-- Moves a job to the failed store (`q.failed`, a ZSET by failed-at), frees its
-- unique key `uk` in `q.unique` if the job still owns it, counts it in
-- `q.stats`, and trims the store to `limit`, dropping the oldest failed jobs
-- with all their data (`q.hashes`).
local function deadLetter(q, id, uk, now, limit)
  redis.call("ZADD", q.failed, now, id)
  if uk and uk ~= "" and redis.call("HGET", q.unique, uk) == id then
    redis.call("HDEL", q.unique, uk)
  end
  redis.call("HINCRBY", q.stats, "failed", 1)
  local over = redis.call("ZCARD", q.failed) - limit
  if over > 0 then
    local oldest = redis.call("ZRANGE", q.failed, 0, over - 1)
    redis.call("ZREM", q.failed, unpack(oldest))
    dropJobData(q.hashes, oldest)
  end
end
