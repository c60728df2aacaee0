--[[
  Replaces the member JSON of a user this instance holds (their token was
  refreshed with new claims), after pruning instances whose heartbeat lapsed.
  Every instance holding the user shares the one JSON; the latest update wins.

  KEYS[1]  ZSET  "<instance>|<user>" -> heartbeat deadline (ms)
  KEYS[2]  HASH  user -> number of instances holding them
  KEYS[3]  HASH  user -> member JSON
  KEYS[4]  STRING  this call's answer, kept so a replay of the call (an HTTP
           retry after a lost reply) gets the same answer; unique per call
  ARGV[1]  now (ms)
  ARGV[2]  instance id
  ARGV[3]  user id
  ARGV[4]  the new member JSON
  ARGV[5]  how long the answer is kept for replays (ms)

  Output: { changed, stale }
    changed  1 when the stored JSON changed, 0 when it was the same or this
             instance does not hold the user (the next heartbeat records it)
    stale    member JSONs pruned because their instances stopped heartbeating
]]
-- @include "presence.lua"

local replayed = redis.call("GET", KEYS[4])
if replayed then return cjson.decode(replayed) end

local conns, counts, members = KEYS[1], KEYS[2], KEYS[3]
local now, instance, user, member, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local stale = pruneLapsed(conns, counts, members, now, instance)

local changed = 0
if redis.call("ZSCORE", conns, instance .. "|" .. user) then
  if redis.call("HGET", members, user) ~= member then
    redis.call("HSET", members, user, member)
    changed = 1
  end
end
local answer = { changed, stale }
redis.call("SET", KEYS[4], cjson.encode(answer), "PX", keep)
return answer
