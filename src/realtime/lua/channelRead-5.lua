--[[
  Reads the subscribers other server instances hold, per channel, after
  taking away the counts of instances whose heartbeat lapsed (never the
  reading instance's own). The reader adds its own subscribers, which are
  fresher than what it last stored.

  KEYS     instances, held, mine, totals, answer (see includes/channels.lua;
           the answer is kept for replays by includes/replay_memo.lua)
  ARGV[1]  now (ms)
  ARGV[2]  the reading instance's id
  ARGV[3]  how long a pruning answer is kept for replays (ms)
  ARGV[4…] the channels to read; none for every channel with subscribers

  Output: { others, occupied, vacated, counts }
    others    channel, subscribers on the other instances, ... (channels with none left out)
    occupied, vacated, counts  what the pruning changed, as channelSync answers

  Only the pruning is kept for a replay (it reads the counts again), and only
  when it changed something: a read that pruned nothing may simply run again.
]]
-- @include "channels.lua"
-- @include "replay_memo.lua"

local now, instance, keep = ARGV[1], ARGV[2], ARGV[3]

local pruned = replayedAnswer(answerKey)
if not pruned then
  pruneLapsed(now, instance)
  pruned = { change.occupied, change.vacated, change.counts }
  if #change.counts > 0 then keepAnswer(answerKey, pruned, keep) end
end

local others = {}
local function add(channel, total)
  local count = tonumber(total) - storedCount(instance, channel)
  if count > 0 then
    table.insert(others, channel)
    table.insert(others, count)
  end
end
if #ARGV >= 4 then
  for i = 4, #ARGV do
    local total = redis.call("HGET", totals, ARGV[i])
    if total then add(ARGV[i], total) end
  end
else
  local all = redis.call("HGETALL", totals)
  for i = 1, #all, 2 do add(all[i], all[i + 1]) end
end
return { others, pruned[1], pruned[2], pruned[3] }
