--[[
  Counts one hit in a sliding window, refusing it (uncounted) once the
  window holds max hits. Each hit is a member named by the caller's token,
  so a replayed request counts once.

  KEYS[1]  the window  ZSET  token by time of the hit

  ARGV[1]  now (epoch ms)
  ARGV[2]  window length (ms)
  ARGV[3]  max hits per window
  ARGV[4]  this hit's token

  Output:
    { 1, 0 } allowed, or { 0, ms until a slot frees } refused
]]
local now, window, max, token = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - window)
if redis.call("ZSCORE", KEYS[1], token) then return { 1, 0 } end
if redis.call("ZCARD", KEYS[1]) < max then
  redis.call("ZADD", KEYS[1], now, token)
  redis.call("PEXPIRE", KEYS[1], window)
  return { 1, 0 }
end
local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
local wait = tonumber(oldest[2]) + window - now
if wait < 1 then wait = 1 end
return { 0, wait }
