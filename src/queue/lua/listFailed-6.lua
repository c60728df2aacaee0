--[[
  Reads a page of the failed store, most recently failed first, in one
  consistent step. Writes nothing.

  KEYS[1]  jobs      HASH
  KEYS[2]  attempts  HASH
  KEYS[3]  errors    HASH
  KEYS[4]  failed    ZSET
  KEYS[5]  stalls    HASH
  KEYS[6]  progress  HASH

  ARGV[1]  offset
  ARGV[2]  limit

  Output:
    a flat array: id, record, attempts, errors JSON ("" for none), failed-at, stalls,
    progress ("" for none), per job
]]
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if limit <= 0 then return {} end
local page = redis.call("ZREVRANGE", KEYS[4], offset, offset + limit - 1, "WITHSCORES")
local out = {}
for i = 1, #page, 2 do
  local id = page[i]
  local record = redis.call("HGET", KEYS[1], id)
  if record then
    out[#out + 1] = id
    out[#out + 1] = record
    out[#out + 1] = tonumber(redis.call("HGET", KEYS[2], id)) or 0
    out[#out + 1] = redis.call("HGET", KEYS[3], id) or ""
    out[#out + 1] = page[i + 1]
    out[#out + 1] = tonumber(redis.call("HGET", KEYS[5], id)) or 0
    out[#out + 1] = redis.call("HGET", KEYS[6], id) or ""
  end
end
return out
