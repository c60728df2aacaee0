--[[
  Records a new upload unless its id is taken. A replay of the same request
  (the HTTP client retries) finds its own record and succeeds again.

  KEYS[1]  the upload's record key
  KEYS[2]  the sweep ZSET (id scored by when cleanupExpired deals with it)
  ARGV[1]  the upload id
  ARGV[2]  the record, as JSON
  ARGV[3]  the sweep time in milliseconds, or "" for never

  Output:
    1  created
    0  the id is taken by another upload
]]
local current = redis.call("GET", KEYS[1])
if current and current ~= ARGV[2] then
  return 0
end
redis.call("SET", KEYS[1], ARGV[2])
if ARGV[3] ~= "" then
  redis.call("ZADD", KEYS[2], ARGV[3], ARGV[1])
end
return 1
