-- Worker heartbeats, written by requests a worker makes anyway (take, extend),
-- so an idle worker sends no extra request for them.

-- Records that worker `id` (its details as JSON) was seen at `now`, and forgets
-- a few workers not seen for `ttl` ms.
local function beat(workersKey, seenKey, id, info, now, ttl)
  if id == "" then return end
  redis.call("HSET", workersKey, id, info)
  redis.call("ZADD", seenKey, now, id)
  local gone = redis.call("ZRANGEBYSCORE", seenKey, "-inf", now - ttl, "LIMIT", 0, 20)
  if #gone > 0 then
    redis.call("ZREM", seenKey, unpack(gone))
    redis.call("HDEL", workersKey, unpack(gone))
  end
end
