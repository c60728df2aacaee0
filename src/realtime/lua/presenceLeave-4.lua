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
-- @include "presence.lua"

local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]
local now, instance, user, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local stale = pruneLapsed(conns, counts, members, now, instance)

local removed = ""
if redis.call("ZREM", conns, instance .. "|" .. user) == 1 then
  removed = dropHolder(counts, members, user) or ""
end
local answer = { removed, stale }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", keep)
return answer
