--[[
  Ends an attempt that did not complete: retries the job (ready now or
  delayed until run-at), moves it to the failed store, or releases it (back
  to the front of its band, no failure counted). Only the token holding the
  lease may do this. Once done the lease is gone, so a replay changes
  nothing; the outcome is remembered under the token for a while, so a replay
  (the HTTP client retrying) answers what the first call answered instead of
  "lost".

  KEYS[1]   jobs      HASH  id -> record JSON
  KEYS[2]   attempts  HASH  id -> reservations so far
  KEYS[3]   errors    HASH  id -> JSON array of attempt errors
  KEYS[4]   ready     ZSET
  KEYS[5]   delayed   ZSET
  KEYS[6]   active    ZSET
  KEYS[7]   leases    HASH  id -> token
  KEYS[8]   failed    ZSET
  KEYS[9]   unique    HASH
  KEYS[10]  stats     HASH
  KEYS[11]  stalls    HASH  id -> times its lease expired
  KEYS[12]  progress  HASH  id -> latest progress
  KEYS[13]  outcomes  HASH  id -> outcome, for the token's calls (the replay memo)

  ARGV[1]  now (epoch ms)
  ARGV[2]  job id
  ARGV[3]  lease token
  ARGV[4]  outcome: "retry", "dead" or "release"
  ARGV[5]  run-at for retry and release (epoch ms)
  ARGV[6]  the attempt's error as JSON ("" for none)
  ARGV[7]  "1" to undo the reservation's attempt count (a job handed back unstarted)
  ARGV[8]  the job's unique key ("" for none)
  ARGV[9]  failed-store retention limit
  ARGV[10] how long the replay memo is kept (ms)

  Output:
    0  the token does not hold the lease (lost)
    1  retried
    2  moved to the failed store
    3  released
]]
-- @include "jobs.lua"

local now, id, token, outcome = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local runAt, errorJson, undo, uk = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8]
local failedLimit = tonumber(ARGV[9])

local replayed = redis.call("HGET", KEYS[13], id)
if replayed then return tonumber(replayed) end
if redis.call("HGET", KEYS[7], id) ~= token then return 0 end
redis.call("HDEL", KEYS[7], id)
redis.call("ZREM", KEYS[6], id)
local record = redis.call("HGET", KEYS[1], id)
if not record then return 0 end

local function remember(result)
  redis.call("HSET", KEYS[13], id, result)
  redis.call("PEXPIRE", KEYS[13], tonumber(ARGV[10]))
end

if errorJson ~= "" then appendError(KEYS[3], id, errorJson) end

if outcome == "dead" then
  deadLetter({
    failed = KEYS[8], unique = KEYS[9], stats = KEYS[10],
    hashes = { KEYS[1], KEYS[2], KEYS[3], KEYS[11], KEYS[12] },
  }, id, uk, now, failedLimit)
  remember(2)
  return 2
end

if undo == "1" then
  local left = redis.call("HINCRBY", KEYS[2], id, -1)
  if left <= 0 then redis.call("HDEL", KEYS[2], id) end
end
if runAt > now then
  redis.call("ZADD", KEYS[5], runAt, id)
else
  local band = tonumber(string.match(record, '^{"b":(%d)'))
  -- A released job goes to the front of its band; a retry queues behind the others.
  local seq = 0
  if outcome ~= "release" then seq = redis.call("HINCRBY", KEYS[10], "seq", 1) end
  redis.call("ZADD", KEYS[4], band * 1e13 + seq, id)
end
local result = outcome == "release" and 3 or 1
remember(result)
return result
