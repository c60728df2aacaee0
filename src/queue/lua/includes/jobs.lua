-- Shared by the scripts that take a queue's lifecycle keys as KEYS[1..28], in
-- this order (redis_backend.ts builds the list in one place).
-- Globals read for every job, as locals: a global is a table lookup at each use.
local ARGV, tonumber = ARGV, tonumber
local q = {
  jobs = KEYS[1], attempts = KEYS[2], errors = KEYS[3], ready = KEYS[4], delayed = KEYS[5],
  active = KEYS[6], leases = KEYS[7], failed = KEYS[8], unique = KEYS[9], stats = KEYS[10],
  stalls = KEYS[11], progress = KEYS[12], completed = KEYS[13], results = KEYS[14],
  logs = KEYS[15], runs = KEYS[16], index = KEYS[17], dedupe = KEYS[18],
  workers = KEYS[19], seen = KEYS[20], minute = KEYS[21], hour = KEYS[22],
  labels = KEYS[23], workflows = KEYS[24], members = KEYS[25], flow = KEYS[26],
  parked = KEYS[27], held = KEYS[28],
}
-- The queue's pub/sub channel for live views: the keys' common part, then "events".
local channel = string.sub(q.jobs, 1, -5) .. "events"
-- The per-job hashes, emptied together when a job's data goes. A completed job holds no
-- lease (a failed one may: a cancelled job keeps CANCELLED until it goes), so dropping
-- completed jobs skips the leases hash, whose few entries Redis keeps as a list it would
-- search through for every id.
local completedJobHashes = {
  q.jobs, q.attempts, q.errors, q.stalls, q.progress, q.results, q.logs, q.runs, q.labels,
}
local jobHashes = { q.leases }
for i, key in ipairs(completedJobHashes) do jobHashes[i + 1] = key end
-- Separates the parts of an index entry and a dedupe entry; names and tags may not hold it.
local SEP = "\0"
-- A job's log keeps its newest lines only (running_jobs.ts cuts each line).
local MAX_LOG_LINES = 100
-- The lease value of a job an operator cancelled: no worker's token matches it.
local CANCELLED = "!cancelled"

-- Redis's own clock (epoch ms), read once per call: leases (take-29.lua), watch marks and
-- the gathering of published changes all go by it, never by a caller's clock.
local redisMs = nil
local function redisNow()
  if redisMs == nil then
    local time = redis.call("TIME")
    redisMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return redisMs
end

-- Job state changes of this call, published at its end (see publish()), and only
-- gathered while someone watches: each watcher (queue.events()) keeps the "watched"
-- field of the queue's stats at a deadline on Redis's clock, renewed while it listens
-- (watch-2.lua). A field under the queue's hash tag reads the same on every node of a
-- cluster, where PUBSUB NUMSUB would count only one node's subscribers. Read once per
-- call, at its first change (or at publish() for a take).
local changedIds, changedStates = {}, {}
local listening = nil
-- The changes earlier takes held back (see publish()) are their messages' JSON objects,
-- comma-separated, in the held STRING: each holding take APPENDs its own, so Redis
-- copies, and sends to replicas and the AOF, only the new bytes, not all held so far.
-- heldBytes is its length; lastPublished when a message last went out ("eventsAt" of
-- stats, Redis's clock).
local heldBytes, lastPublished = 0, 0
-- A change's state as one letter of the published message (redis_backend.ts reads them).
local STATE_CODES = {
  waiting = "w", delayed = "d", active = "a", completed = "c", failed = "f", removed = "r",
}
-- Takes following a message within this many ms hold their changes back (see publish()).
local GATHER_MS = 10
-- Held changes past this many bytes go out with the next change (one take's changes may
-- join them first: the cap is checked before adding).
local MAX_HELD_BYTES = 65536

local function watched()
  if listening == nil then
    local fields = redis.call("HMGET", q.stats, "watched", "eventsAt")
    local deadline = tonumber(fields[1])
    listening = deadline ~= nil and deadline > redisNow()
    if listening then
      lastPublished = tonumber(fields[2]) or 0
      -- Read with pcall: a held key someone else overwrote with another type would
      -- raise WRONGTYPE, and a script that stops midway keeps the writes it made
      -- (jobs popped from ready but never leased). What it held is unreadable: drop it.
      local bytes = redis.pcall("STRLEN", q.held)
      if type(bytes) == "number" then
        heldBytes = bytes
      else
        redis.call("DEL", q.held)
      end
    else
      -- Held for a watcher that has gone. A DEL that finds nothing writes nothing, so
      -- it reaches neither replicas nor the AOF.
      redis.call("DEL", q.held)
    end
  end
  return listening
end

-- Notes that a job entered `state` (waiting, delayed, active, completed, failed, removed).
local function changed(id, state)
  if watched() then
    changedIds[#changedIds + 1] = id
    changedStates[#changedStates + 1] = STATE_CODES[state]
  end
end

-- Publishes this call's changes, after any held back, as one message: a call's changes
-- are {"at":now,"states":"<a letter per change>","ids":[<id per change>]} (no object per
-- change to build and encode here, nor to parse in every reader), and a message with
-- held changes is the JSON array of such objects, oldest first.
--
-- `gather` (a take, the hot path: a busy worker makes hundreds a second) holds this
-- call's changes back while a message went out less than GATHER_MS ago and a job is
-- still active, so a later call carries them: each message wakes the gateway and every
-- reader, which costs them far more than its bytes. The first change after a quiet spell
-- goes out at once, and a call with no change of its own publishes what is held. Answers
-- whether it held changes back: the worker's backend then publishes them (watch-2.lua)
-- if it sends no other take soon, since its slots may all be busy for minutes.
local function publish(now, gather)
  if gather then watched() end
  if not listening or (#changedIds == 0 and heldBytes == 0) then return false end
  local own = nil
  if #changedIds > 0 then
    own = '{"at":' .. string.format("%.0f", now) .. ',"states":"' ..
      table.concat(changedStates) .. '","ids":' .. cjson.encode(changedIds) .. "}"
  end
  if gather and own and redisNow() - lastPublished < GATHER_MS
    and heldBytes < MAX_HELD_BYTES and redis.call("ZCARD", q.active) > 0 then
    redis.call("APPEND", q.held, heldBytes > 0 and "," .. own or own)
    return true
  end
  local message = own
  if heldBytes > 0 then
    message = "[" .. redis.call("GET", q.held) .. (own and "," .. own or "") .. "]"
    redis.call("DEL", q.held)
  end
  redis.call("PUBLISH", channel, message)
  redis.call("HSET", q.stats, "eventsAt", string.format("%.0f", redisNow()))
  return false
end

-- Metrics: per minute (kept 24 h) and per hour (kept 30 days), counters and a
-- fixed histogram per latency (_metrics.ts reads the same bounds), in one small
-- HASH per bucket: KEYS[21] is the minute's and KEYS[22] the hour's of this
-- call's `now` (the caller builds both names from the same `now`). Each bucket
-- expires when its time is over, so Redis trims them as they are written.
local BOUNDS = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000 }
local MINUTE, HOUR, DAY = 60000, 3600000, 86400000
local tally = {}
-- Whether this call counts metrics (the Queue's `metrics` option): a script taking
-- the choice sets it from its arguments, so a queue without metrics writes no bucket.
local metricsOn = true

-- Adds `by` to a counter ("completed", "failed", "retried", "stalled"); nothing for 0, so
-- no bucket write is spent on it.
local function count(name, by)
  if metricsOn and by ~= 0 then tally[name] = (tally[name] or 0) + by end
end

-- Each histogram bin's field name ("r1", "w15", ...), made once per call when first used:
-- a number joined to text goes through sprintf, once per sample otherwise.
local binNames = { r = {}, w = {} }

-- Adds one latency sample (ms) to a histogram ("w" wait, "r" run).
local function sample(kind, ms)
  if not metricsOn then return end
  local bin = #BOUNDS + 1
  for i = 1, #BOUNDS do
    if ms <= BOUNDS[i] then
      bin = i
      break
    end
  end
  local names = binNames[kind]
  local name = names[bin]
  if not name then
    name = kind .. bin
    names[bin] = name
  end
  count(name, 1)
end

-- Writes this call's tally into the current minute's and hour's buckets.
local function flushMetrics(now)
  if next(tally) == nil then return end
  for name, by in pairs(tally) do
    redis.call("HINCRBY", q.minute, name, by)
    redis.call("HINCRBY", q.hour, name, by)
  end
  -- Relative to the caller's `now`, as every time the scripts are given (not Redis's clock).
  redis.call("PEXPIRE", q.minute, math.floor(now / MINUTE) * MINUTE + MINUTE + DAY - now)
  redis.call("PEXPIRE", q.hour, math.floor(now / HOUR) * HOUR + HOUR + 30 * DAY - now)
end

-- Epoch milliseconds (a number or its text) as 13 digits, so index entries sort by
-- time as text. The jobs of one dispatch share a time: format it once.
local lastMs, lastStamp = nil, nil
local function stamp(ms)
  if ms ~= lastMs then lastMs, lastStamp = ms, string.format("%013.0f", ms) end
  return lastStamp
end

-- A job's labels, as the labels HASH keeps them: name, dispatch time as 13
-- digits, then its tags, separated by SEP. Index entries are rebuilt from them,
-- and searches filter on them, so neither ever decodes a record (whose payload
-- may be a megabyte).
local function labelsOf(name, createdAt, tags)
  if not tags or #tags == 0 then return name .. SEP .. stamp(createdAt) end
  local parts = { name, stamp(createdAt) }
  for _, tag in ipairs(tags or {}) do parts[#parts + 1] = tag end
  return table.concat(parts, SEP)
end

-- Splits labels into name, dispatch time (13 digits), and the rest: the tags, SEP-separated.
local function splitLabels(labels)
  local at = string.find(labels, SEP, 1, true) or #labels + 1
  return string.sub(labels, 1, at - 1), string.sub(labels, at + 1, at + 13), string.sub(labels, at + 15)
end

-- The tags of split labels' rest, as a list.
local function tagsOf(rest)
  local tags = {}
  local from = 1
  while rest ~= "" do
    local at = string.find(rest, SEP, from, true)
    if not at then
      tags[#tags + 1] = string.sub(rest, from)
      break
    end
    tags[#tags + 1] = string.sub(rest, from, at - 1)
    from = at + 1
  end
  return tags
end

-- Appends the index entries of a job to `out`: by name and by each tag, each
-- sorted by dispatch time, in one ZSET ranged by text, so a search reads a
-- range instead of scanning jobs. Every job has exactly one name entry, so a
-- search over all jobs merges the names' ranges (jobs-28.lua) rather than each
-- job paying for a third entry.
local function indexEntries(id, labels, out)
  local name, ts, rest = splitLabels(labels)
  local tail = SEP .. ts .. SEP .. id
  out[#out + 1] = "n" .. SEP .. name .. tail
  if rest ~= "" then
    for _, tag in ipairs(tagsOf(rest)) do out[#out + 1] = "t" .. SEP .. tag .. tail end
  end
  return out
end

-- ZADD (score 0) or ZREM many members, in chunks that unpack() can hold.
local function indexWrite(command, members)
  for from = 1, #members, 1000 do
    local args = {}
    for i = from, math.min(from + 999, #members) do
      if command == "ZADD" then args[#args + 1] = "0" end -- text: no sprintf per entry
      args[#args + 1] = members[i]
    end
    redis.call(command, q.index, unpack(args))
  end
end

-- Deletes jobs' data and index entries (ids: already out of every state set;
-- `completed`: all of them completed, so none holds a lease).
-- A hash that does not exist is skipped with one EXISTS rather than handed every
-- id: a queue without search, logs or results (the lean path) has most of them.
local function dropJobs(ids, completed)
  if #ids == 0 then return end
  if redis.call("EXISTS", q.labels) == 1 then
    local labels = redis.call("HMGET", q.labels, unpack(ids))
    local entries = {}
    for i, id in ipairs(ids) do
      if labels[i] then indexEntries(id, labels[i], entries) end
    end
    indexWrite("ZREM", entries)
  end
  for _, key in ipairs(completed and completedJobHashes or jobHashes) do
    if redis.call("EXISTS", key) == 1 then redis.call("HDEL", key, unpack(ids)) end
  end
end

-- Whether a dedupe window (kind "i" for a job id, "u" for a unique key) is open.
local function reserved(kind, value, now)
  local until_ = redis.call("ZSCORE", q.dedupe, kind .. SEP .. value)
  return until_ ~= false and until_ ~= nil and tonumber(until_) > now
end

-- A job has ended (completed or dead-lettered): with a dedupe window `dd` its id
-- and unique key stay reserved until now + dd, else its unique key is freed.
local function reserveOrRelease(id, uk, dd, now)
  if dd > 0 then
    redis.call("ZADD", q.dedupe, now + dd, "i" .. SEP .. id)
    if uk ~= "" then redis.call("ZADD", q.dedupe, now + dd, "u" .. SEP .. uk) end
  elseif uk ~= "" and redis.call("HGET", q.unique, uk) == id then
    redis.call("HDEL", q.unique, uk)
  end
end

-- Keeps at most `count` jobs in a finished set (completed or failed), none
-- finished more than `age` ms ago (0: no age limit), dropping the rest with
-- their data; at most 1,000 per call, so one call stays short.
local function trim(set, most, age, now)
  local victims = {}
  if age > 0 then
    victims = redis.call("ZRANGEBYSCORE", set, "-inf", "(" .. (now - age), "LIMIT", 0, 1000)
    if #victims > 0 then redis.call("ZREM", set, unpack(victims)) end
  end
  local over = redis.call("ZCARD", set) - most
  if over > 0 then
    -- Taken out as they are read: a range read then a ZREM would look each up again.
    local oldest = redis.call("ZPOPMIN", set, math.min(over, 1000))
    for i = 1, #oldest, 2 do victims[#victims + 1] = oldest[i] end
  end
  dropJobs(victims, set == q.completed)
end

-- Appends one attempt's error (a JSON object) to the job's JSON array of errors.
local function appendError(id, errorJson)
  local list = redis.call("HGET", q.errors, id)
  if list then
    list = string.sub(list, 1, -2) .. "," .. errorJson .. "]"
  else
    list = "[" .. errorJson .. "]"
  end
  redis.call("HSET", q.errors, id, list)
end

-- Appends log lines (a JSON array of strings, "" for none), keeping the newest.
local function appendLogs(id, linesJson)
  if linesJson == "" then return end
  local ok, lines = pcall(cjson.decode, linesJson)
  if not ok or type(lines) ~= "table" or #lines == 0 then return end
  local current = redis.call("HGET", q.logs, id)
  local all = {}
  if current then
    local fine, kept = pcall(cjson.decode, current)
    if fine and type(kept) == "table" then all = kept end
  end
  for _, line in ipairs(lines) do all[#all + 1] = tostring(line) end
  local out = {}
  for i = math.max(1, #all - MAX_LOG_LINES + 1), #all do out[#out + 1] = all[i] end
  redis.call("HSET", q.logs, id, cjson.encode(out))
end

-- Set by workflows.lua where a script includes it: a chain step or batch member ended.
local workflowEnded = nil

-- Moves a job to the failed store (a ZSET by failed-at), ends its unique key or
-- dedupe window, counts it, and trims the store (`keep`: count and age).
local function deadLetter(id, uk, dd, now, keep)
  redis.call("ZADD", q.failed, now, id)
  count("failed", 1)
  changed(id, "failed")
  reserveOrRelease(id, uk, dd, now)
  redis.call("HINCRBY", q.stats, "failed", 1)
  -- Its chain reads its last error before retention may drop it (retain.failed count 0).
  if workflowEnded then workflowEnded(id, false, nil, now, keep) end
  trim(q.failed, keep.count, keep.age, now)
end

-- The unique key and dedupe window a record carries ("" and 0 when none).
local function endingOf(record)
  local ok, rec = pcall(cjson.decode, record)
  if not ok or type(rec) ~= "table" then return "", 0 end
  return type(rec.u) == "string" and rec.u or "", tonumber(rec.x) or 0
end

