--[[
  Records a presence member as held by one server instance, after pruning
  instances whose heartbeat lapsed. A member counts once however many
  instances (and tabs) hold them.

  KEYS     conns, counts, members, answer (see includes/presence.lua;
           the answer is kept for replays by includes/replay_memo.lua)
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

  A replay gets the first run's added, stale and updated, and the members as
  they are then: the member list is not kept with the answer, or each join
  would keep the whole channel and N joins N² bytes.
]]
-- @include "presence.lua"
-- @include "replay_memo.lua"

local kept = replayedAnswer(answerKey)
if kept then return { kept[1], redis.call("HVALS", members), kept[2], kept[3] } end

local now, deadline, instance, user, member, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]

local stale = pruneLapsed(now, instance)

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
expireAll(ttl)
keepAnswer(answerKey, { added, stale, updated }, ttl)
return { added, redis.call("HVALS", members), stale, updated }
