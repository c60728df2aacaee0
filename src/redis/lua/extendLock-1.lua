--[[
  Extends a lock's time to live, but only for the token that holds it.

  KEYS[1]  the lock key
  ARGV[1]  the holder's token
  ARGV[2]  new time to live in milliseconds

  Output:
    1  extended
    0  not held by this token (expired, or taken by another)
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
