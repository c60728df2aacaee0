--[[
  Lists a presence channel's members, after pruning instances whose
  heartbeat lapsed (never the asking instance's own).

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  KEYS[4]  STRING  this call's answer, kept so a replay of the call (an HTTP
           retry after a lost reply) gets the same answer; unique per call
  ARGV[1]  now (ms)
  ARGV[2]  the asking instance's id (its own members are never pruned)
  ARGV[3]  how long the answer is kept for replays (ms)

  Output: { members, stale }
    members  every member JSON
    stale    member JSONs pruned because their instances stopped heartbeating
]]
-- @include "presence.lua"

local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]

local stale = pruneLapsed(conns, counts, members, ARGV[1], ARGV[2])
local answer = { redis.call("HVALS", members), stale }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", ARGV[3])
return answer
