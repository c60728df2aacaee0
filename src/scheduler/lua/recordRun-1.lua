--[[
  Records one finished run in a task's history and trims it to the newest
  runs. The history is a sorted set scored by the run's scheduled time, so a
  replayed request (the HTTP client retries) adds the same member again and
  changes nothing.

  KEYS[1]  the task's history key (sorted set)
  ARGV[1]  the run's scheduled time, epoch milliseconds (the score)
  ARGV[2]  the run record as JSON (the member)
  ARGV[3]  how many runs to keep
  ARGV[4]  how long the history lives after its last write, in milliseconds

  Output:
    the number of runs kept
]]
local key = KEYS[1]
redis.call("ZADD", key, ARGV[1], ARGV[2])
local excess = redis.call("ZCARD", key) - tonumber(ARGV[3])
if excess > 0 then
  redis.call("ZREMRANGEBYRANK", key, 0, excess - 1)
end
redis.call("PEXPIRE", key, ARGV[4])
return redis.call("ZCARD", key)
