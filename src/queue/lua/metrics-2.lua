--[[
  Reads a queue's metric buckets of one resolution in a time range. Writes nothing.

  KEYS[1]  metrics  HASH  "<m|h>:<bucket start>:<name>" -> count
  KEYS[2]  buckets  ZSET  bucket ("m:<start>" or "h:<start>") by when it expires

  ARGV[1]  "m" (minutes) or "h" (hours)
  ARGV[2]  from (epoch ms, a bucket start)
  ARGV[3]  to (epoch ms, a bucket start, inclusive)
  ARGV[4]  how long a bucket of this resolution is kept (ms)
  ARGV[5..]  the field names a bucket may hold

  Output:
    a flat array: bucket start, then one count per name ("" for none), per bucket
]]
local kind, from, to, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local names = {}
for i = 5, #ARGV do names[#names + 1] = ARGV[i] end
local out = {}
local buckets = redis.call("ZRANGEBYSCORE", KEYS[2], from + keep, to + keep)
for _, bucket in ipairs(buckets) do
  if string.sub(bucket, 1, 1) == kind then
    local fields = {}
    for i, name in ipairs(names) do fields[i] = bucket .. ":" .. name end
    local values = redis.call("HMGET", KEYS[1], unpack(fields))
    out[#out + 1] = string.sub(bucket, 3)
    for i = 1, #names do out[#out + 1] = values[i] or "" end
  end
end
return out
