-- Shared by the presence scripts. `conns` is the ZSET "<instance>|<user>" ->
-- heartbeat deadline, `counts` the HASH user -> instances holding them, and
-- `members` the HASH user -> member JSON.

-- Counts one instance fewer for `user`; when none is left, forgets the user
-- and returns their member JSON (false otherwise).
local function dropHolder(counts, members, user)
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
local function pruneLapsed(conns, counts, members, now, instance)
  local stale = {}
  for _, pair in ipairs(redis.call("ZRANGEBYSCORE", conns, "-inf", now)) do
    if string.sub(pair, 1, #instance + 1) ~= instance .. "|" then
      redis.call("ZREM", conns, pair)
      local json = dropHolder(counts, members, string.sub(pair, string.find(pair, "|", 1, true) + 1))
      if json then table.insert(stale, json) end
    end
  end
  return stale
end
