--[[
  Extends the leases still held by their tokens and reports the others.
  Deadlines are on Redis's clock (TIME), like take's: a caller's skewed
  clock can neither shorten nor stretch a lease.

  KEYS[1]  active  ZSET  id by lease deadline (Redis's clock)
  KEYS[2]  leases  HASH  id -> token

  ARGV[1]  lease duration from now (ms; 0 ends the lease at once)
  ARGV[2 + 2i], ARGV[3 + 2i]  per lease: job id, token

  Output:
    the ids whose lease is no longer held by the given token
]]
local time = redis.call("TIME")
local deadline = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call("HGET", KEYS[2], id) == token then
    redis.call("ZADD", KEYS[1], deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
