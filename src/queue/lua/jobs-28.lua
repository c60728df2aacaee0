--[[
  Reads a page of one queue's jobs, newest first, in one consistent step.
  Writes nothing. The caller picks the source, so no search scans every job:
    id     one job
    index  a range of the text-sorted index: one name's or one tag's jobs
           by dispatch time (since/until bound the range); every job ("a")
           merges the ranges of each name the index holds, so the index keeps
           no entry of its own per job for that
    state  one state's set in its own order: completed and failed by when
           they ended, delayed by run-at, active by lease deadline, waiting in
           reverse queue order
  and the other filters are checked on each job read from it. At most
  `budget` jobs are read per call: a page may come back short, with a cursor.

  KEYS[1..28]  the queue's lifecycle keys (see includes/jobs.lua)

  ARGV[1]   source: "id", "index" or "state"
  ARGV[2]   the job id, the index prefix ("a", "n" SEP name, "t" SEP tag), or the state
  ARGV[3]   since: dispatched at or after (epoch ms, "" for any)
  ARGV[4]   until: dispatched before (epoch ms, "" for any)
  ARGV[5]   only this state ("" for any)
  ARGV[6]   only this name ("" for any)
  ARGV[7]   only this tag ("" for any)
  ARGV[8]   at most this many jobs
  ARGV[9]   read at most this many jobs
  ARGV[10]  cursor: the sort value of the last job of the previous page ("" for none)
  ARGV[11]  cursor: that job's id

  Output:
    { rows, next cursor value ("" at the end), next cursor id }
    rows is flat, 11 per job: id, record, attempts, errors JSON ("" for none), stalls,
    progress ("" for none), state, when it entered that state ("" for waiting),
    result JSON (""), log lines JSON (""), last run JSON ("")
]]
-- @include "jobs.lua"

local source, key = ARGV[1], ARGV[2]
local since, till = tonumber(ARGV[3]), tonumber(ARGV[4])
local onlyState, onlyName, onlyTag = ARGV[5], ARGV[6], ARGV[7]
local limit, budget = tonumber(ARGV[8]), tonumber(ARGV[9])
local afterValue, afterId = ARGV[10], ARGV[11]

local sets = {
  { "active", q.active }, { "delayed", q.delayed }, { "failed", q.failed },
  { "completed", q.completed }, { "waiting", q.ready },
}
local stateSet = {}
for _, pair in ipairs(sets) do stateSet[pair[1]] = pair[2] end

local rows, count = {}, 0

-- Adds the job to the page when it passes the filters; false when it does not exist.
local function consider(id)
  local record = redis.call("HGET", q.jobs, id)
  if not record then return false end
  local state, at = nil, ""
  for _, pair in ipairs(sets) do
    local score = redis.call("ZSCORE", pair[2], id)
    if score then
      state = pair[1]
      if state ~= "waiting" and state ~= "active" then at = score end
      break
    end
  end
  -- A job parked on its key (flow.lua) waits too, outside ready.
  if not state and redis.call("HEXISTS", q.flow, "p/" .. id) == 1 then state = "waiting" end
  if not state then return false end
  if onlyState ~= "" and state ~= onlyState then return true end
  if onlyName ~= "" or onlyTag ~= "" or since or till then
    local name, ts, rest = splitLabels(redis.call("HGET", q.labels, id) or "")
    local created = tonumber(ts) or 0
    if onlyName ~= "" and name ~= onlyName then return true end
    if (since and created < since) or (till and created >= till) then return true end
    if onlyTag ~= "" then
      local found = false
      for _, tag in ipairs(tagsOf(rest)) do if tag == onlyTag then found = true end end
      if not found then return true end
    end
  end
  local function get(hash) return redis.call("HGET", hash, id) or "" end
  for _, value in ipairs({
    id, record, tonumber(get(q.attempts)) or 0, get(q.errors), tonumber(get(q.stalls)) or 0,
    get(q.progress), state, at, get(q.results), get(q.logs), get(q.runs),
  }) do rows[#rows + 1] = value end
  count = count + 1
  return true
end

local nextValue, nextId = "", ""
if source == "id" then
  consider(key)
elseif source == "index" then
  -- One range per prefix: the given one, or for every job ("a") each name's.
  local prefixes = { key }
  if key == "a" then
    prefixes = {}
    -- The names the index holds, one ZRANGEBYLEX each: jump past a name's entries
    -- ("n" SEP name SEP …) to the next name (names hold no control character).
    local from = "[n" .. SEP
    for _ = 1, 10000 do
      local first = redis.call("ZRANGEBYLEX", q.index, from, "(n" .. string.char(1), "LIMIT", 0, 1)[1]
      if not first then break end
      local name = string.sub(first, 3, string.find(first, SEP, 3, true) - 1)
      prefixes[#prefixes + 1] = "n" .. SEP .. name
      from = "[n" .. SEP .. name .. string.char(1)
    end
  end
  -- Each range reads newest first in chunks; the page takes the newest head of all.
  local ranges = {}
  for _, prefix in ipairs(prefixes) do
    local head = prefix .. SEP
    local range = {
      head = head,
      low = "[" .. head .. (since and stamp(since) or ""),
      high = till and ("(" .. head .. stamp(till)) or ("(" .. prefix .. string.char(1)),
      chunk = {}, at = 1, done = false,
    }
    if afterValue ~= "" then
      local after = head .. stamp(tonumber(afterValue)) .. SEP .. afterId
      if after < string.sub(range.high, 2) then range.high = "(" .. after end
    end
    ranges[#ranges + 1] = range
  end
  -- The range's next entry after its head (dispatch time SEP id), or nil when it has none.
  local function peek(range, read)
    if range.at > #range.chunk and not range.done then
      range.chunk = redis.call("ZREVRANGEBYLEX", q.index, range.high, range.low, "LIMIT", 0,
        math.max(1, math.min(200, budget - read)))
      range.at = 1
      if #range.chunk == 0 then range.done = true end
    end
    local member = range.chunk[range.at]
    return member and string.sub(member, #range.head + 1)
  end
  local read, exhausted = 0, false
  while count < limit and read < budget do
    local best, bestRest = nil, nil
    for _, range in ipairs(ranges) do
      local rest = peek(range, read)
      if rest and (not bestRest or rest > bestRest) then best, bestRest = range, rest end
    end
    if not best then
      exhausted = true
      break
    end
    best.high = "(" .. best.chunk[best.at]
    best.at = best.at + 1
    read = read + 1
    nextValue = tostring(tonumber(string.sub(bestRest, 1, 13)))
    nextId = string.sub(bestRest, 15)
    consider(nextId)
  end
  -- A page that stopped on its limit or budget may have more; one that ran out has none.
  if exhausted or (count < limit and read < budget) then nextValue = "" end
elseif stateSet[key] then
  local set = stateSet[key]
  local max = afterValue ~= "" and afterValue or "+inf"
  local offset, read = 0, 0
  while count < limit and read < budget do
    local chunk = redis.call("ZREVRANGEBYSCORE", set, max, "-inf", "WITHSCORES", "LIMIT", offset, 200)
    if #chunk == 0 then break end
    offset = offset + #chunk / 2
    for i = 1, #chunk, 2 do
      local id, score = chunk[i], chunk[i + 1]
      -- Ties with the cursor's value come in reverse id order: skip those already served.
      if not (afterValue ~= "" and tonumber(score) == tonumber(afterValue) and id >= afterId) then
        read = read + 1
        nextValue, nextId = score, id
        consider(id)
        if count >= limit or read >= budget then break end
      end
    end
    if #chunk < 400 then break end
  end
  if count < limit and read < budget then nextValue = "" end
end
if nextValue == "" then nextId = "" end
return { rows, nextValue, nextId }
