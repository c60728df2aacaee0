--[[
  One instance's heartbeat for one channel: pushes its deadline forward for
  every member it holds, records again any the store lost (a Redis restart,
  or a deadline missed), and prunes instances whose heartbeat lapsed. It
  never overwrites member JSON the store has (see presenceUpdate).

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  KEYS[4]  STRING  this call's answer, kept so a replay of the call (an HTTP
           retry after a lost reply) gets the same answer; unique per call
  ARGV[1]  now (ms)
  ARGV[2]  the new deadline (ms)
  ARGV[3]  instance id
  ARGV[4]  time to live of the keys (ms)
  ARGV[5…] pairs of user id, member JSON

  Output: { readded, stale }
    readded  member JSONs that no instance held and that this instance recorded again
    stale    member JSONs pruned because their instances stopped heartbeating
]]
-- @include "presence.lua"

local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]
local now, deadline, instance, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local stale = pruneLapsed(conns, counts, members, now, instance)

local readded = {}
for i = 5, #ARGV, 2 do
  local user, member = ARGV[i], ARGV[i + 1]
  if redis.call("ZADD", conns, deadline, instance .. "|" .. user) == 1 then
    if redis.call("HINCRBY", counts, user, 1) == 1 then table.insert(readded, member) end
  end
  -- Only where the store lost the member: another instance may have updated its info
  -- since this instance recorded it, and a heartbeat must not put the old info back.
  redis.call("HSETNX", members, user, member)
end
for _, key in ipairs({ conns, counts, members }) do redis.call("PEXPIRE", key, ttl) end
local answer = { readded, stale }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", ttl)
return answer
