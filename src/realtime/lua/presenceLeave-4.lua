--[[
  Records that one server instance no longer holds a member, after pruning
  instances whose heartbeat lapsed.

  KEYS     conns, counts, members, answer (see includes/presence.lua;
           the answer is kept for replays by includes/replay_memo.lua)
  ARGV[1]  now (ms)
  ARGV[2]  instance id
  ARGV[3]  user id
  ARGV[4]  how long the answer is kept for replays (ms)

  Output: { removed, stale }
    removed  the member JSON when no instance holds the user any more, else ""
    stale    member JSONs pruned because their instances stopped heartbeating
]]
-- @include "presence.lua"
-- @include "replay_memo.lua"

local replayed = replayedAnswer(answerKey)
if replayed then return replayed end

local now, instance, user, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

local stale = pruneLapsed(now, instance)

local removed = ""
if redis.call("ZREM", conns, instance .. "|" .. user) == 1 then
  removed = dropHolder(user) or ""
end
return keepAnswer(answerKey, { removed, stale }, keep)
