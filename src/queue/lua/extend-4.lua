--[[
  Extends the leases still held by their tokens and reports the others.
  Deadlines are on Redis's clock (TIME), like take's: a caller's skewed
  clock can neither shorten nor stretch a lease. A busy worker renews instead
  of polling, so its heartbeat rides on this call.

  KEYS[1]  active   ZSET  id by lease deadline (Redis's clock)
  KEYS[2]  leases   HASH  id -> token
  KEYS[3]  workers  HASH  worker id -> its details as JSON
  KEYS[4]  seen     ZSET  worker id by when it was last seen

  ARGV[1]  lease duration from now (ms; 0 ends the lease at once)
  ARGV[2]  the worker's id ("" for no heartbeat)
  ARGV[3]  its details as JSON
  ARGV[4]  how long a heartbeat lasts (ms)
  ARGV[5]  now (epoch ms, the caller's clock: heartbeats are on it)
  ARGV[6 + 2i], ARGV[7 + 2i]  per lease: job id, token

  Output:
    the ids whose lease is no longer held by the given token
]]
-- @include "heartbeat.lua"

local time = redis.call("TIME")
local deadline = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + tonumber(ARGV[1])
beat(KEYS[3], KEYS[4], ARGV[2], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[4]))
local lost = {}
for i = 6, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if redis.call("HGET", KEYS[2], id) == token then
    redis.call("ZADD", KEYS[1], deadline, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
