--[[
  Saves an existing upload's record; never brings back a removed upload.

  KEYS[1]  the upload's record key
  KEYS[2]  the sweep ZSET
  ARGV[1]  the upload id
  ARGV[2]  the record, as JSON
  ARGV[3]  the sweep time in milliseconds, or "" for never

  Output:
    1  saved
    0  the upload no longer exists
]]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
redis.call("SET", KEYS[1], ARGV[2])
if ARGV[3] == "" then
  redis.call("ZREM", KEYS[2], ARGV[1])
else
  redis.call("ZADD", KEYS[2], ARGV[3], ARGV[1])
end
return 1
