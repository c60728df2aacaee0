--[[
  Marks a queue as watched for a while, so the scripts that change its jobs
  publish the changes (see includes/jobs.lua): the "watched" field of its
  stats holds the latest deadline any watcher asked for, on Redis's clock, so
  watchers on machines with skewed clocks agree. A watcher renews it well
  before it runs out; one that stops just lets it run out.

  KEYS[1]  stats  HASH  the queue's counters, paused flag and watched deadline

  ARGV[1]  how long the mark lasts from now (ms)

  Output:
    the deadline now held (epoch ms, Redis's clock)
]]
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local current = tonumber(redis.call("HGET", KEYS[1], "watched")) or 0
if deadline > current then
  redis.call("HSET", KEYS[1], "watched", string.format("%.0f", deadline))
  return deadline
end
return current
