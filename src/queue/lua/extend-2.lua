--[[
  Extends the leases still held by their tokens and reports the others.

  KEYS[1]  active  ZSET  id by lease deadline
  KEYS[2]  leases  HASH  id -> token

  ARGV[1]  now (epoch ms)
  ARGV[2]  lease duration (ms)
  ARGV[3 + 2i], ARGV[4 + 2i]  per lease: job id, token

  Output:
    the ids whose lease is no longer held by the given token
]]
local deadline = tonumber(ARGV[1]) + tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call("HGET", KEYS[2], id) == token then
    redis.call("ZADD", KEYS[1], deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
