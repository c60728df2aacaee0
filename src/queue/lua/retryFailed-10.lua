--[[
  Moves failed jobs back to ready with a fresh retry budget (errors, attempt
  and stall counts and progress cleared). A job is moved only if it is still in the failed
  store, so racing a forget of the same job, or a replay, moves it at most once;
  the answer is remembered under the call's token, so a replay answers the same.

  KEYS[1]  jobs      HASH
  KEYS[2]  attempts  HASH
  KEYS[3]  errors    HASH
  KEYS[4]  ready     ZSET
  KEYS[5]  failed    ZSET
  KEYS[6]  unique    HASH
  KEYS[7]  stats     HASH
  KEYS[8]  stalls    HASH
  KEYS[9]  progress  HASH
  KEYS[10] memo      STRING  this call's answer, for a replay

  ARGV[1]  "all" to take the oldest failed jobs, "ids" for the ids that follow
  ARGV[2]  with "all": at most this many
  ARGV[3]  how long the answer is remembered (ms)
  ARGV[4..]  with "ids": the job ids

  Output:
    how many jobs moved
]]
-- A replay (the HTTP client retrying) answers what the first call answered.
local memo = redis.call("GET", KEYS[10])
if memo then return tonumber(memo) end
local ids = {}
if ARGV[1] == "all" then
  ids = redis.call("ZRANGE", KEYS[5], 0, tonumber(ARGV[2]) - 1)
else
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call("ZREM", KEYS[5], id) == 1 then
    local record = redis.call("HGET", KEYS[1], id)
    if record then
      redis.call("HDEL", KEYS[2], id)
      redis.call("HDEL", KEYS[3], id)
      redis.call("HDEL", KEYS[8], id)
      redis.call("HDEL", KEYS[9], id)
      local decoded = cjson.decode(record)
      if type(decoded.u) == "string" then redis.call("HSETNX", KEYS[6], decoded.u, id) end
      local seq = redis.call("HINCRBY", KEYS[7], "seq", 1)
      redis.call("ZADD", KEYS[4], tonumber(decoded.b) * 1e13 + seq, id)
      moved = moved + 1
    end
  end
end
redis.call("SET", KEYS[10], moved, "PX", tonumber(ARGV[3]))
return moved
