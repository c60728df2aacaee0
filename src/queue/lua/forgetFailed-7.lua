--[[
  Deletes failed jobs for good. A job is deleted only if it is still in the
  failed store, so a job a racing retry moved back is left alone.

  KEYS[1]  jobs      HASH
  KEYS[2]  attempts  HASH
  KEYS[3]  errors    HASH
  KEYS[4]  failed    ZSET

  ARGV[1]  "all" to take the oldest failed jobs, "ids" for the ids that follow
  ARGV[2]  with "all": at most this many
  ARGV[3..]  with "ids": the job ids

  Output:
    how many jobs were deleted
]]
local ids = {}
if ARGV[1] == "all" then
  ids = redis.call("ZRANGE", KEYS[4], 0, tonumber(ARGV[2]) - 1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local deleted = 0
for _, id in ipairs(ids) do
  if redis.call("ZREM", KEYS[4], id) == 1 then
    redis.call("HDEL", KEYS[1], id)
    redis.call("HDEL", KEYS[2], id)
    redis.call("HDEL", KEYS[3], id)
    deleted = deleted + 1
  end
end
return deleted
