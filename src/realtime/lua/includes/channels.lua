-- Shared by the channel count scripts, which all take the same five keys,
-- under the hub's one hash tag (a count read or change spans every channel):
--
--   KEYS[1]  instances  ZSET    instance -> heartbeat deadline (ms)
--   KEYS[2]  held       ZSET    "<instance>|<channel>", all scored 0: each
--                               instance's channels, listed by a lex range
--   KEYS[3]  mine       HASH    "<instance>|<channel>" -> that instance's subscribers
--   KEYS[4]  totals     HASH    channel -> subscribers on every live instance
--   KEYS[5]  answer     STRING  this call's answer, kept so a replay of the call
--                               (an HTTP retry after a lost reply) gets the
--                               same answer; unique per call (read and written
--                               through includes/replay_memo.lua)
local instances, held, mine, totals, answerKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- What one call changed: channels that gained their first subscriber on any
-- instance, channels that lost their last, and the new total of every
-- channel whose total moved (channel, total, channel, total...).
local change = { occupied = {}, vacated = {}, counts = {} }

-- Moves one instance's count of `channel` from `old` to `new`.
local function move(instance, channel, old, new)
  if new == old then return end
  local entry = instance .. "|" .. channel
  if new > 0 then
    redis.call("HSET", mine, entry, new)
    redis.call("ZADD", held, 0, entry)
  else
    redis.call("HDEL", mine, entry)
    redis.call("ZREM", held, entry)
  end
  local total = redis.call("HINCRBY", totals, channel, new - old)
  local before = total - (new - old)
  if total <= 0 then
    redis.call("HDEL", totals, channel)
    total = 0
  end
  if before <= 0 and total > 0 then table.insert(change.occupied, channel) end
  if before > 0 and total == 0 then table.insert(change.vacated, channel) end
  table.insert(change.counts, channel)
  table.insert(change.counts, total)
end

-- One instance's count of `channel` as stored (0 when it holds none).
local function storedCount(instance, channel)
  return tonumber(redis.call("HGET", mine, instance .. "|" .. channel) or "0")
end

-- Takes away the counts of instances whose heartbeat deadline has passed,
-- except the calling instance's own (it is alive: it is running this script).
local function pruneLapsed(now, instance)
  for _, lapsed in ipairs(redis.call("ZRANGEBYSCORE", instances, "-inf", "(" .. now)) do
    if lapsed ~= instance then
      -- "}" follows "|": the range is every entry beginning "<lapsed>|".
      local from = #lapsed + 2
      for _, entry in ipairs(redis.call("ZRANGEBYLEX", held, "[" .. lapsed .. "|", "(" .. lapsed .. "}")) do
        local channel = string.sub(entry, from)
        move(lapsed, channel, storedCount(lapsed, channel), 0)
      end
      redis.call("ZREM", instances, lapsed)
    end
  end
end

-- Renews the keys' time to live (ms): they go only when every instance has gone.
local function expireAll(ttl)
  for _, key in ipairs({ instances, held, mine, totals }) do redis.call("PEXPIRE", key, ttl) end
end
