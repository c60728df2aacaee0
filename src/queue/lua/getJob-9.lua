--[[
  Reads one job with its state, in one consistent step. Writes nothing.

  KEYS[1]  jobs      HASH  id -> record JSON
  KEYS[2]  attempts  HASH
  KEYS[3]  errors    HASH
  KEYS[4]  stalls    HASH
  KEYS[5]  progress  HASH
  KEYS[6]  ready     ZSET
  KEYS[7]  delayed   ZSET
  KEYS[8]  active    ZSET
  KEYS[9]  failed    ZSET

  ARGV[1]  job id

  Output:
    {} when no such job (never dispatched, completed, or forgotten), else
    { record, attempts, errors JSON ("" for none), stalls, progress ("" for none), state }
    where state is "ready", "delayed", "active" or "failed"
]]
local id = ARGV[1]
local record = redis.call("HGET", KEYS[1], id)
if not record then return {} end
local state = "ready"
if redis.call("ZSCORE", KEYS[8], id) then
  state = "active"
elseif redis.call("ZSCORE", KEYS[7], id) then
  state = "delayed"
elseif redis.call("ZSCORE", KEYS[9], id) then
  state = "failed"
end
return {
  record,
  tonumber(redis.call("HGET", KEYS[2], id)) or 0,
  redis.call("HGET", KEYS[3], id) or "",
  tonumber(redis.call("HGET", KEYS[4], id)) or 0,
  redis.call("HGET", KEYS[5], id) or "",
  state,
}
