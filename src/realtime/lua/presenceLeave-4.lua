--[[
  Records that one server instance no longer holds a member, after pruning
  instances whose heartbeat lapsed.

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  KEYS[4]  STRING  this call's answer, kept so a replay of the call (an HTTP
           retry after a lost reply) gets the same answer; unique per call
  ARGV[1]  now (ms)
  ARGV[2]  instance id
  ARGV[3]  user id
  ARGV[4]  how long the answer is kept for replays (ms)

  Output: { removed, stale }
    removed  the member JSON when no instance holds the user any more, else ""
    stale    member JSONs pruned because their instances stopped heartbeating
]]
local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]
local now, instance, user, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local function drop(gone)
  if redis.call("HINCRBY", counts, gone, -1) <= 0 then
    redis.call("HDEL", counts, gone)
    local json = redis.call("HGET", members, gone)
    redis.call("HDEL", members, gone)
    return json
  end
  return false
end

local stale = {}
for _, pair in ipairs(redis.call("ZRANGEBYSCORE", conns, "-inf", now)) do
  if string.sub(pair, 1, #instance + 1) ~= instance .. "|" then
    redis.call("ZREM", conns, pair)
    local json = drop(string.sub(pair, string.find(pair, "|", 1, true) + 1))
    if json then table.insert(stale, json) end
  end
end

local removed = ""
if redis.call("ZREM", conns, instance .. "|" .. user) == 1 then
  removed = drop(user) or ""
end
local answer = { removed, stale }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", keep)
return answer
