--[[
  Marks a queue as watched for a while, so the scripts that change its jobs
  publish the changes (see includes/jobs.lua): the "watched" field of its
  stats holds the latest deadline any watcher asked for, on Redis's clock, so
  watchers on machines with skewed clocks agree. A watcher renews it well
  before it runs out; one that stops just lets it run out.

  It also publishes the changes takes held back (publish() in includes/jobs.lua):
  a worker's backend calls it with a duration of 0 for just that when it sends
  no take soon after one that held changes, and a watcher's renewal (every 10 s)
  publishes what a worker that died before doing so left.

  KEYS[1]  stats  HASH    the queue's counters, paused flag and watched deadline
  KEYS[2]  held   STRING  the changes takes held back, comma-separated JSON objects

  ARGV[1]  how long the mark lasts from now (ms); 0 publishes held changes only

  Output:
    the deadline now held (epoch ms, Redis's clock)
]]
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local current = tonumber(redis.call("HGET", KEYS[1], "watched")) or 0
-- Read with pcall: a held key of another type (someone else's write) is dropped, not
-- left to fail every renewal and every take while a watcher listens.
local held = redis.pcall("GET", KEYS[2])
if type(held) == "table" then
  redis.call("DEL", KEYS[2])
  held = false
end
if held then
  -- The queue's channel: the keys' common part, then "events" (as includes/jobs.lua names it).
  redis.call("PUBLISH", string.sub(KEYS[1], 1, -6) .. "events", "[" .. held .. "]")
  redis.call("HSET", KEYS[1], "eventsAt", string.format("%.0f", now))
  redis.call("DEL", KEYS[2])
end
if deadline > now and deadline > current then
  redis.call("HSET", KEYS[1], "watched", string.format("%.0f", deadline))
  return deadline
end
return current
