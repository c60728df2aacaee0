--[[
  Sets how many subscribers one server instance holds on some channels, and
  renews its heartbeat, after taking away the counts of instances whose
  heartbeat lapsed. The values are absolute, so a replay changes nothing more;
  a channel's total going from 0 up is reported as occupied, and down to 0 as
  vacated, by exactly one call, whichever instance makes it.

  KEYS     instances, held, mine, totals, answer (see includes/channels.lua;
           the answer is kept for replays by includes/replay_memo.lua)
  ARGV[1]  now (ms)
  ARGV[2]  this instance's new deadline (ms)
  ARGV[3]  instance id (no "|")
  ARGV[4]  time to live of the keys (ms)
  ARGV[5…] pairs of channel, this instance's subscribers there now (0 when none)

  Output: { occupied, vacated, counts, fresh }
    occupied  channels whose total went up from 0
    vacated   channels whose total went down to 0
    counts    channel, total, ... for every channel whose total moved
    fresh     1 when the store did not know the instance (its first call, or
              its counts were taken away after a missed heartbeat, or Redis
              lost them): the instance sends all its counts again
]]
-- @include "channels.lua"
-- @include "replay_memo.lua"

local replayed = replayedAnswer(answerKey)
if replayed then return replayed end

local now, deadline, instance, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

pruneLapsed(now, instance)
local fresh = redis.call("ZADD", instances, deadline, instance)
for i = 5, #ARGV, 2 do
  local channel = ARGV[i]
  move(instance, channel, storedCount(instance, channel), tonumber(ARGV[i + 1]))
end
local answer = { change.occupied, change.vacated, change.counts, fresh }
expireAll(ttl)
return keepAnswer(answerKey, answer, ttl)
