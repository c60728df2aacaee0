-- Shared by the presence scripts, which all take the same four keys:
--
--   KEYS[1]  conns    ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
--   KEYS[2]  counts   HASH  user -> number of instances holding them
--   KEYS[3]  members  HASH  user -> member JSON
--   KEYS[4]  answer   STRING  this call's answer, kept so a replay of the call
--                     (an HTTP retry after a lost reply) gets the same answer;
--                     unique per call (read and written through
--                     includes/replay_memo.lua)
local conns, counts, members, answerKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

-- Counts one instance fewer for `user`; when none is left, forgets the user
-- and returns their member JSON (false otherwise).
local function dropHolder(user)
  if redis.call("HINCRBY", counts, user, -1) <= 0 then
    redis.call("HDEL", counts, user)
    local json = redis.call("HGET", members, user)
    redis.call("HDEL", members, user)
    return json
  end
  return false
end

-- Removes entries whose heartbeat deadline has passed, except the calling
-- instance's own (it is alive: it is running this script), and returns the
-- member JSONs of users no instance holds any more.
local function pruneLapsed(now, instance)
  local stale = {}
  for _, pair in ipairs(redis.call("ZRANGEBYSCORE", conns, "-inf", now)) do
    if string.sub(pair, 1, #instance + 1) ~= instance .. "|" then
      redis.call("ZREM", conns, pair)
      local json = dropHolder(string.sub(pair, string.find(pair, "|", 1, true) + 1))
      if json then table.insert(stale, json) end
    end
  end
  return stale
end

-- Renews the keys' time to live (ms).
local function expireAll(ttl)
  for _, key in ipairs({ conns, counts, members }) do redis.call("PEXPIRE", key, ttl) end
end
