--[[
  Deletes failed jobs for good. A job is deleted only if it is still in the
  failed store, so a job a racing retry moved back is left alone. The answer
  is remembered under the call's token, so a replay answers the same.

  KEYS[1]  jobs      HASH
  KEYS[2]  attempts  HASH
  KEYS[3]  errors    HASH
  KEYS[4]  failed    ZSET
  KEYS[5]  stalls    HASH
  KEYS[6]  progress  HASH
  KEYS[7]  memo      STRING  this call's answer, for a replay

  ARGV[1]  "all" to take the oldest failed jobs, "ids" for the ids that follow
  ARGV[2]  with "all": at most this many
  ARGV[3]  how long the answer is remembered (ms)
  ARGV[4..]  with "ids": the job ids

  Output:
    how many jobs were deleted
]]
-- @include "jobs.lua"

-- A replay (the HTTP client retrying) answers what the first call answered.
local memo = redis.call("GET", KEYS[7])
if memo then return tonumber(memo) end
local ids = {}
if ARGV[1] == "all" then
  ids = redis.call("ZRANGE", KEYS[4], 0, tonumber(ARGV[2]) - 1)
else
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local deleted = 0
for _, id in ipairs(ids) do
  if redis.call("ZREM", KEYS[4], id) == 1 then
    dropJobData({ KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6] }, { id })
    deleted = deleted + 1
  end
end
redis.call("SET", KEYS[7], deleted, "PX", tonumber(ARGV[3]))
return deleted
