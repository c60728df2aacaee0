--[[
  Stores a running job's latest progress, only while the given token holds
  its lease (a worker that lost the lease cannot overwrite a newer run's
  progress). Setting the same value again is harmless, so a replay is too.

  KEYS[1]  leases    HASH  id -> token
  KEYS[2]  progress  HASH  id -> latest progress

  ARGV[1]  job id
  ARGV[2]  lease token
  ARGV[3]  the progress, as JSON text

  Output:
    1 stored, 0 the token does not hold the lease
]]
if redis.call("HGET", KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call("HSET", KEYS[2], ARGV[1], ARGV[3])
return 1
