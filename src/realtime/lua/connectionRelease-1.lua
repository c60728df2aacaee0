--[[
  Gives one connection slot back; the user's key goes when it is empty.
  Releasing a slot twice does nothing the second time.

  KEYS[1]  ZSET  "<instance>|<connection>" -> when the slot was taken (ms): one user's slots
  ARGV[1]  "<instance>|<connection>"

  Output: 1 when the slot was held, else 0
]]
local removed = redis.call("ZREM", KEYS[1], ARGV[1])
if redis.call("ZCARD", KEYS[1]) == 0 then redis.call("DEL", KEYS[1]) end
return removed
