--[[
  Lists a presence channel's members, after pruning instances whose
  heartbeat lapsed (never the asking instance's own).

  KEYS     conns, counts, members, answer (see includes/presence.lua;
           the answer is kept for replays by includes/replay_memo.lua)
  ARGV[1]  now (ms)
  ARGV[2]  the asking instance's id (its own members are never pruned)
  ARGV[3]  how long the answer is kept for replays (ms)

  Output: { members, stale }
    members  every member JSON
    stale    member JSONs pruned because their instances stopped heartbeating

  Only the pruned members are kept for a replay (it lists the members again),
  and only when there are some: a replay of a call that pruned nothing may
  simply run again.
]]
-- @include "presence.lua"
-- @include "replay_memo.lua"

local kept = replayedAnswer(answerKey)
if kept then return { redis.call("HVALS", members), kept } end

local stale = pruneLapsed(ARGV[1], ARGV[2])
if #stale > 0 then keepAnswer(answerKey, stale, ARGV[3]) end
return { redis.call("HVALS", members), stale }
