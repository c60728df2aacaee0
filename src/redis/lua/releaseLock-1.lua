--[[
  Releases a lock, but only for the token that holds it, so a holder whose
  lock expired can never release the next holder's lock.

  KEYS[1]  the lock key
  ARGV[1]  the holder's token

  Output:
    1  released
    0  not held by this token
]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("DEL", KEYS[1])
  return 1
end
return 0
