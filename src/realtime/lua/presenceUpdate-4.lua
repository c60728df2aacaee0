--[[
  Replaces the member JSON of a user this instance holds (their token was
  refreshed with new claims), after pruning instances whose heartbeat lapsed.
  Every instance holding the user shares the one JSON; the latest update wins.

  KEYS     conns, counts, members, answer (see includes/presence.lua;
           the answer is kept for replays by includes/replay_memo.lua)
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
-- @include "replay_memo.lua"

local replayed = replayedAnswer(answerKey)
if replayed then return replayed end

local now, instance, user, member, keep = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

local stale = pruneLapsed(now, instance)

local changed = 0
if redis.call("ZSCORE", conns, instance .. "|" .. user) then
  if redis.call("HGET", members, user) ~= member then
    redis.call("HSET", members, user, member)
    changed = 1
  end
end
return keepAnswer(answerKey, { changed, stale }, keep)
