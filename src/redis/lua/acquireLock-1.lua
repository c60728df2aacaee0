--[[
  Takes a lock for a token, or renews it when that token already holds it.
  Renewing on a match makes a replayed request (the HTTP client retries) safe.

  KEYS[1]  the lock key
  ARGV[1]  the would-be holder's token
  ARGV[2]  time to live in milliseconds

  Output:
    1  the token holds the lock
    0  another token holds it
]]
local key, token, ttl = KEYS[1], ARGV[1], ARGV[2]
if redis.call("GET", key) == token then
  redis.call("PEXPIRE", key, ttl)
  return 1
end
if redis.call("SET", key, token, "NX", "PX", ttl) then
  return 1
end
return 0
