--[[
  Lists a presence channel's members, after pruning instances whose
  heartbeat lapsed (never the asking instance's own).

  KEYS     conns, counts, members, answer (see includes/presence.lua)
  ARGV[1]  now (ms)
  ARGV[2]  the asking instance's id (its own members are never pruned)
  ARGV[3]  how long the answer is kept for replays (ms)

  Output: { members, stale }
    members  every member JSON
    stale    member JSONs pruned because their instances stopped heartbeating
]]
-- @include "presence.lua"

local replayed = replayedAnswer()
if replayed then return replayed end

local stale = pruneLapsed(ARGV[1], ARGV[2])
return keepAnswer({ redis.call("HVALS", members), stale }, ARGV[3])
