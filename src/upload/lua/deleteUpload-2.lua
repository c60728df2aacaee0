--[[
  Removes an upload's record and its place in the sweep ZSET.

  KEYS[1]  the upload's record key
  KEYS[2]  the sweep ZSET
  ARGV[1]  the upload id

  Output:
    1  removed
    0  there was no record
]]
redis.call("ZREM", KEYS[2], ARGV[1])
return redis.call("DEL", KEYS[1])
