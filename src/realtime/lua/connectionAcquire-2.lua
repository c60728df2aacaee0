--[[
  Takes a connection slot for one user unless they already hold `limit`
  slots on live instances, recording the calling instance as alive. Slots of
  instances whose heartbeat lapsed are dropped on the way, so a crashed
  instance's connections stop counting. Taking the same slot twice (an HTTP
  retry after a lost reply) takes it once and answers the same.

  KEYS[1]  ZSET  "<instance>|<connection>" -> when the slot was taken (ms): one user's slots
  KEYS[2]  ZSET  instance -> heartbeat deadline (ms): the hub's instances
  ARGV[1]  now (ms)
  ARGV[2]  this instance's new deadline (ms)
  ARGV[3]  instance id (no "|")
  ARGV[4]  connection id
  ARGV[5]  the most slots the user may hold
  ARGV[6]  time to live of the user's key (ms)

  Output: { taken, held }
    taken  1 when the slot is the caller's, 0 when the user is at the limit
    held   how many slots the user holds now
]]
local slots, instances = KEYS[1], KEYS[2]
local now, deadline, instance = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local entry = instance .. "|" .. ARGV[4]
local limit, ttl = tonumber(ARGV[5]), ARGV[6]

redis.call("ZADD", instances, deadline, instance)
if redis.call("ZSCORE", slots, entry) then
  return { 1, redis.call("ZCARD", slots) }
end

local alive = {}
for _, held in ipairs(redis.call("ZRANGE", slots, 0, -1)) do
  local owner = string.sub(held, 1, string.find(held, "|", 1, true) - 1)
  if alive[owner] == nil then
    local until_ms = redis.call("ZSCORE", instances, owner)
    alive[owner] = until_ms ~= false and tonumber(until_ms) >= now
  end
  if not alive[owner] then redis.call("ZREM", slots, held) end
end

local count = redis.call("ZCARD", slots)
if count >= limit then return { 0, count } end
redis.call("ZADD", slots, now, entry)
redis.call("PEXPIRE", slots, ttl)
return { 1, count + 1 }
