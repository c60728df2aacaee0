--[[
  Lists a presence channel's members, after pruning instances whose
  heartbeat lapsed (never the asking instance's own).

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  ARGV[1]  now (ms)
  ARGV[2]  the asking instance's id (its own members are never pruned)

  Output: { members, stale }
    members  every member JSON
    stale    member JSONs pruned because their instances stopped heartbeating
]]
local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]

local stale = {}
for _, pair in ipairs(redis.call("ZRANGEBYSCORE", conns, "-inf", ARGV[1])) do
  if string.sub(pair, 1, #ARGV[2] + 1) ~= ARGV[2] .. "|" then
    redis.call("ZREM", conns, pair)
    local gone = string.sub(pair, string.find(pair, "|", 1, true) + 1)
    if redis.call("HINCRBY", counts, gone, -1) <= 0 then
      redis.call("HDEL", counts, gone)
      local json = redis.call("HGET", members, gone)
      redis.call("HDEL", members, gone)
      if json then table.insert(stale, json) end
    end
  end
end
return { redis.call("HVALS", members), stale }
