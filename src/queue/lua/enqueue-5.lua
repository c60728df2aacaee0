--[[
  Enqueues a batch of jobs of one queue, all or nothing: every check runs
  before the first write. A job whose id already exists, or whose unique key
  is held by an existing job, is skipped and reported with the existing id,
  which also makes a replayed request (the HTTP client retries) enqueue nothing.

  Each record starts {"b":band,"m":maxRetries,"s":maxStalls,"d":"dispatch token",
  and the token is unique per dispatch call. A job that exists with the same
  token as the one being enqueued was created by this very call, replayed:
  it is reported as created again, so the replay answers what the first call
  answered, while another caller dispatching the same id is told "skipped".

  KEYS[1]  jobs      HASH  id -> record JSON
  KEYS[2]  ready     ZSET  id by band * 1e13 + sequence
  KEYS[3]  delayed   ZSET  id by run-at
  KEYS[4]  unique    HASH  unique key -> id
  KEYS[5]  stats     HASH  seq, completed, failed

  ARGV[1]  now (epoch ms)
  ARGV[2]  number of jobs, n
  ARGV[3 + 5i .. 7 + 5i]  per job: id, record JSON, band (0 high, 1 normal, 2 low),
                          run-at (epoch ms), unique key ("" for none)

  Output:
    a flat array: id, created (1) or skipped (0), for each job in order
]]
local now = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local ids = {}
for i = 0, n - 1 do ids[i + 1] = ARGV[3 + i * 5] end
local existing = n > 0 and redis.call("HMGET", KEYS[1], unpack(ids)) or {}

-- The record prefix up to and including the dispatch token, when it has one.
local function tokenOf(record)
  return string.match(record, '^{"b":%d,"m":%d+,"s":%-?%d+,"d":"[^"]+"')
end

local seen = {}
local heldBy = {}
local records, ready, delayed, uniques = {}, {}, {}, {}
local readyCount = 0
local out = {}
for i = 0, n - 1 do
  local base = 3 + i * 5
  local id, record, band, runAt, uk =
    ARGV[base], ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), ARGV[base + 4]
  local holder = nil
  local mine = false
  if seen[id] then
    holder = id
  elseif existing[i + 1] then
    holder = id
    local token = tokenOf(existing[i + 1])
    -- The same call, replayed: answer "created" again and hold the key as the first run did.
    if token and token == tokenOf(record) then
      mine = true
      seen[id] = true
      if uk ~= "" then heldBy[uk] = id end
    end
  elseif uk ~= "" then
    holder = heldBy[uk]
    if not holder then
      local current = redis.call("HGET", KEYS[4], uk)
      -- A key left behind by a job that no longer exists does not block.
      if current and redis.call("HEXISTS", KEYS[1], current) == 1 then holder = current end
    end
  end
  if holder then
    out[#out + 1] = holder
    out[#out + 1] = mine and 1 or 0
  else
    seen[id] = true
    records[#records + 1] = id
    records[#records + 1] = record
    if uk ~= "" then
      heldBy[uk] = id
      uniques[#uniques + 1] = uk
      uniques[#uniques + 1] = id
    end
    if runAt > now then
      delayed[#delayed + 1] = runAt
      delayed[#delayed + 1] = id
    else
      readyCount = readyCount + 1
      ready[#ready + 1] = band
      ready[#ready + 1] = id
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end

if #records > 0 then redis.call("HSET", KEYS[1], unpack(records)) end
if #uniques > 0 then redis.call("HSET", KEYS[4], unpack(uniques)) end
if #delayed > 0 then redis.call("ZADD", KEYS[3], unpack(delayed)) end
if readyCount > 0 then
  local last = redis.call("HINCRBY", KEYS[5], "seq", readyCount)
  local seq = last - readyCount
  for j = 1, #ready, 2 do
    seq = seq + 1
    ready[j] = ready[j] * 1e13 + seq
  end
  redis.call("ZADD", KEYS[2], unpack(ready))
end
return out
