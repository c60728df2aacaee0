--[[
  One instance's heartbeat for one channel: pushes its deadline forward for
  every member it holds, records again any the store lost (a Redis restart,
  or a deadline missed), and prunes instances whose heartbeat lapsed. It
  never overwrites member JSON the store has (see presenceUpdate).

  KEYS     conns, counts, members, answer (see includes/presence.lua;
           the answer is kept for replays by includes/replay_memo.lua)
  ARGV[1]  now (ms)
  ARGV[2]  the new deadline (ms)
  ARGV[3]  instance id
  ARGV[4]  time to live of the keys (ms)
  ARGV[5…] pairs of user id, member JSON

  Output: { readded, stale }
    readded  member JSONs that no instance held and that this instance recorded again
    stale    member JSONs pruned because their instances stopped heartbeating

  The answer is kept for a replay only when it names someone: a heartbeat
  that changed nobody's presence may simply run again, and most do.
]]
-- @include "presence.lua"
-- @include "replay_memo.lua"

local replayed = replayedAnswer(answerKey)
if replayed then return replayed end

local now, deadline, instance, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local stale = pruneLapsed(now, instance)

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
expireAll(ttl)
if #readded > 0 or #stale > 0 then keepAnswer(answerKey, { readded, stale }, ttl) end
return { readded, stale }
