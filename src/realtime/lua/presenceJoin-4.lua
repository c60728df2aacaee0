--[[
  Records a presence member as held by one server instance, after pruning
  instances whose heartbeat lapsed. A member counts once however many
  instances (and tabs) hold them.

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  KEYS[4]  STRING  this call's answer, kept so a replay of the call (an HTTP
           retry after a lost reply) gets the same answer; unique per call
  ARGV[1]  now (ms)
  ARGV[2]  this instance's new deadline (ms)
  ARGV[3]  instance id (no "|")
  ARGV[4]  user id
  ARGV[5]  member JSON
  ARGV[6]  time to live of the keys (ms)

  Output: { added, members, stale, updated }
    added    1 when no instance held the user before, else 0
    members  every member JSON, the new one included
    stale    member JSONs pruned because their instances stopped heartbeating
    updated  1 when the user was held already with other member JSON (the
             latest authorization wins, and is announced), else 0
]]
-- @include "presence.lua"

local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]
local now, deadline, instance, user, member, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local stale = pruneLapsed(conns, counts, members, now, instance)

local added = 0
if redis.call("ZADD", conns, deadline, instance .. "|" .. user) == 1 then
  if redis.call("HINCRBY", counts, user, 1) == 1 then added = 1 end
end
local updated = 0
if added == 0 then
  local previous = redis.call("HGET", members, user)
  if previous and previous ~= member then updated = 1 end
end
redis.call("HSET", members, user, member)
for _, key in ipairs({ conns, counts, members }) do redis.call("PEXPIRE", key, ttl) end
local answer = { added, redis.call("HVALS", members), stale, updated }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", ttl)
return answer
