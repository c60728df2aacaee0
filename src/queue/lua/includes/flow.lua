-- Flow control per key (issue 16), included after jobs.lua by the scripts that
-- enqueue, start and end jobs. A job under flow control carries its rules in its
-- record's fixed prefix, right after the dispatch token, so a plain job costs one
-- anchored match that fails there: "f":"<rule> <rule>…", a rule being
--   c/<limit>/<key>          at most <limit> of the key's jobs run at once
--   r/<limit>/<per>/<key>    at most <limit> starts in any <per> ms (a sliding window)
--   d/<delay>[/<max>]/<key>  debounced: a dispatch within <delay> folds into the waiting job,
--                            which runs no later than <max> after the first dispatch
--   t/<window>/<key>         throttled: dispatches within <window> of the first are dropped
-- where <key> is the job's name and the caller's key, each URI-encoded, joined by
-- ":" (no space, slash, quote or NUL). State, in the queue's `flow` HASH:
--   c/<key>      how many of the key's jobs run now
--   r/<key>      the key's starts still in its window, 13 digits each, oldest first
--                (dropped once the window is over: an "r" entry of `dedupe`)
--   w/<field>    the parked member of the job whose turn it is (on its way in ready
--                or delayed): one per field, so each key has one job in line at a time
--   p/<id>       a parked job's member in `parked`
--   d/<key>      the id of the debounced job waiting to run (until it starts or is removed)
--   e/<key>      with a <max>: the latest run-at of that job (first dispatch + <max>)
--   t/<key>      the id of the job that opened a throttle window (the window itself is
--                a "t" entry of `dedupe`, which closes it on time)
--   f/<token>    the id of the job a debounced dispatch (its dispatch token) folded into,
--                while an "f" entry of `dedupe` keeps its replay window open
-- and in `parked` (ZSET, score 0, ranged as text): "<field>\0<band and seq, 14
-- digits>\0<id>", field "c/<key>" or "r/<key>": the jobs waiting on that field, in
-- order. A key's jobs wait there, not in ready, so one busy key never fills ready:
-- its next job is put in line (at the back of ready, or in delayed until its rate
-- allows it) when one of its jobs starts or ends, and other keys' jobs overtake it.

-- Ids the take script has popped from ready and not yet admitted or put back: still
-- in line, so a turn one of them holds is not passed on meanwhile.
local flowInHand = {}

local FLOW_PREFIX = '^{"b":%d,"m":%d+,"s":%-?%d+,"d":"[^"]*","f":"([^"]*)"'

-- The rules of a flow string (as a record or a completion carries it).
local function parseFlow(f)
  local rules = {}
  for rule in string.gmatch(f, "%S+") do
    local kind = string.sub(rule, 1, 1)
    if kind == "c" then
      local limit, key = string.match(rule, "^c/(%d+)/(.+)$")
      if key then rules.c = { field = "c/" .. key, limit = tonumber(limit) } end
    elseif kind == "r" then
      local limit, per, key = string.match(rule, "^r/(%d+)/(%d+)/(.+)$")
      if key then rules.r = { field = "r/" .. key, limit = tonumber(limit), per = tonumber(per) } end
    elseif kind == "d" then
      local max, key = string.match(rule, "^d/%d+/(%d+)/(.+)$")
      key = key or string.match(rule, "^d/%d+/(.+)$")
      if key then
        rules.d = "d/" .. key
        rules.dmax = tonumber(max)
      end
    elseif kind == "t" then
      local window, key = string.match(rule, "^t/(%d+)/(.+)$")
      if key then rules.t = { key = key, window = tonumber(window) } end
    end
  end
  return rules
end

-- A record's flow rules, or nil for a plain job. The record's first '","' closes its
-- dispatch token (nothing before it is quoted), so a plain job is told by the byte after
-- it, not 'f' for "f":, with one plain find over its first few dozen bytes: the anchored
-- match, whose [^"]* backtracks over the whole token, runs only for a job with rules.
local find, byte = string.find, string.byte -- upvalues: no global lookup per job
local function flowOf(record)
  if not record then return nil end
  local at = find(record, '","', 1, true)
  if not at or byte(record, at + 3) ~= 102 then return nil end
  local f = string.match(record, FLOW_PREFIX)
  if not f then return nil end
  return parseFlow(f)
end

-- The limit rules of `rules`, concurrency first.
local function limitsOf(rules)
  local out = {}
  if rules.c then out[#out + 1] = rules.c end
  if rules.r then out[#out + 1] = rules.r end
  return out
end

local function memberId(field, member)
  return string.sub(member, #field + 17)
end

-- A rate field's starts within the window ending at `now`, oldest first.
local function windowOf(rule, now)
  local starts = redis.call("HGET", q.flow, rule.field) or ""
  local first, cutoff = 1, now - rule.per
  while first < #starts and tonumber(string.sub(starts, first, first + 12)) <= cutoff do
    first = first + 13
  end
  return string.sub(starts, first)
end

-- When a rule next lets one more job start: `now` when it does now, a later time
-- for a rate, false while a concurrency limit is reached (an end frees it, not time).
local function freeAt(rule, now)
  if not rule.per then
    return (tonumber(redis.call("HGET", q.flow, rule.field)) or 0) < rule.limit and now
  end
  local starts = windowOf(rule, now)
  local over = #starts / 13 - rule.limit
  if over < 0 then return now end
  return tonumber(string.sub(starts, over * 13 + 1, over * 13 + 13)) + rule.per
end

-- Counts one start against a rule. A rate field's window closes `per` after its
-- newest start: an "r" entry of `dedupe` says when, and enqueue's sweep of closed
-- windows then drops the field, so a key that has gone quiet keeps nothing.
local function countStart(rule, now)
  if not rule.per then
    redis.call("HINCRBY", q.flow, rule.field, 1)
  else
    redis.call("HSET", q.flow, rule.field, windowOf(rule, now) .. stamp(now))
    redis.call("ZADD", q.dedupe, now + rule.per, "r" .. SEP .. string.sub(rule.field, 3))
  end
end

-- Puts a field's next parked job in line when the field may let one more start
-- (at the back of ready, or delayed until its rate allows it), unless a job of the
-- field is in line already. A turn whose job left some other way (removed) passes on.
local function advance(rule, now)
  local turn = "w/" .. rule.field
  local current = redis.call("HGET", q.flow, turn)
  if current then
    local id = memberId(rule.field, current)
    if flowInHand[id] or redis.call("ZSCORE", q.ready, id) or redis.call("ZSCORE", q.delayed, id) then
      return
    end
    redis.call("HDEL", q.flow, turn)
  end
  local head = redis.call("ZRANGEBYLEX", q.parked, "[" .. rule.field .. SEP,
    "(" .. rule.field .. "\1", "LIMIT", 0, 1)[1]
  if not head then return end
  local at = freeAt(rule, now)
  if not at then return end
  local id = memberId(rule.field, head)
  redis.call("ZREM", q.parked, head)
  redis.call("HDEL", q.flow, "p/" .. id)
  redis.call("HSET", q.flow, turn, head)
  if at <= now then
    local band = tonumber(string.sub(head, #rule.field + 2, #rule.field + 2))
    redis.call("ZADD", q.ready, band * 1e13 + redis.call("HINCRBY", q.stats, "seq", 1), id)
  else
    redis.call("ZADD", q.delayed, at, id)
    changed(id, "delayed")
  end
end

-- Parks a job on a field; `order` (band then seq, 14 digits) keeps its place.
local function park(field, id, order)
  local member = field .. SEP .. order .. SEP .. id
  redis.call("ZADD", q.parked, 0, member)
  redis.call("HSET", q.flow, "p/" .. id, member)
end

-- Whether a job leaving ready (its score `score`) may start now under its rules;
-- if so its start is counted, else it is parked. Either way each of its fields'
-- next job is put in line if it may be.
-- A debounced job started or left: its key's next dispatch starts a new job.
local function debounceOver(id, rules)
  if rules.d and redis.call("HGET", q.flow, rules.d) == id then
    redis.call("HDEL", q.flow, rules.d, "e" .. string.sub(rules.d, 2))
  end
end

local function flowAdmit(id, rules, score, now)
  debounceOver(id, rules)
  local limits = limitsOf(rules)
  if #limits == 0 then return true end
  local order = string.format("%014.0f", score)
  for _, rule in ipairs(limits) do
    local turn = "w/" .. rule.field
    local current = redis.call("HGET", q.flow, turn)
    if current and memberId(rule.field, current) == id then
      -- Its turn came: it keeps its place in the field's order if it must wait again.
      order = string.sub(current, #rule.field + 2, #rule.field + 15)
      redis.call("HDEL", q.flow, turn)
    end
  end
  local blocked = nil
  for _, rule in ipairs(limits) do
    if not blocked and freeAt(rule, now) ~= now then blocked = rule end
  end
  if blocked then
    park(blocked.field, id, order)
  else
    for _, rule in ipairs(limits) do countStart(rule, now) end
  end
  for _, rule in ipairs(limits) do advance(rule, now) end
  return not blocked
end

-- A running job ended (completed, failed, retried, released, stalled, cancelled):
-- its concurrency slot frees, and the key's next job is put in line. A job handed
-- back `unstarted` (a stopping worker's) also gives its start back to its rate
-- window: the newest start in it, which is its own or one as recent.
local function flowRelease(rules, now, unstarted)
  if not rules then return end
  if unstarted and rules.r then
    local starts = windowOf(rules.r, now)
    if #starts > 13 then
      redis.call("HSET", q.flow, rules.r.field, string.sub(starts, 1, #starts - 13))
    else
      redis.call("HDEL", q.flow, rules.r.field)
    end
    advance(rules.r, now)
  end
  if not rules.c then return end
  if redis.call("HINCRBY", q.flow, rules.c.field, -1) <= 0 then
    redis.call("HDEL", q.flow, rules.c.field)
  end
  advance(rules.c, now)
end

-- Enqueues a due job under flow control: parked on its first limit's field, then
-- put in line if its turn may come now (a job with no limit goes to ready).
local function flowEnqueue(id, rules, band, seq, now)
  local limits = limitsOf(rules)
  if #limits == 0 then
    redis.call("ZADD", q.ready, band * 1e13 + seq, id)
    return
  end
  park(limits[1].field, id, string.format("%014.0f", band * 1e13 + seq))
  advance(limits[1], now)
end

-- A job under flow control left the queue while waiting (removed): take it off
-- its field's line, and hand its turn on if it had one.
local function flowForget(id, rules, now)
  debounceOver(id, rules)
  local member = redis.call("HGET", q.flow, "p/" .. id)
  if member then
    redis.call("ZREM", q.parked, member)
    redis.call("HDEL", q.flow, "p/" .. id)
  end
  for _, rule in ipairs(limitsOf(rules)) do advance(rule, now) end
  return member ~= false and member ~= nil
end

-- Where encodeRecord (redis_backend.ts) puts a record's identity: the dispatch token
-- (between the quotes of "d"), the id's JSON text, and the createdAt and runAt numbers,
-- as { from, to } pairs; nil for a record of another form. A key with its quotes
-- (',"id":') cannot occur inside a JSON string, whose quotes are escaped, so plain
-- finds from the start meet the keys, never a value's text.
local function identityOf(record)
  local _, tokenEnd = string.find(record, '^{"b":%d,"m":%d+,"s":%-?%d+,"d":"[^"]*"')
  if not tokenEnd then return nil end
  local idKey = string.find(record, ',"id":', tokenEnd, true)
  local nameKey = idKey and string.find(record, ',"name":', idKey, true)
  local createdKey = nameKey and string.find(record, ',"createdAt":', nameKey, true)
  local runKey = createdKey and string.find(record, ',"runAt":', createdKey, true)
  local runEnd = runKey and string.find(record, "[,}]", runKey + 9)
  if not runEnd then return nil end
  return {
    token = { string.find(record, '"d":"', 1, true) + 5, tokenEnd - 1 },
    id = { idKey + 6, nameKey - 1 },
    created = { createdKey + 13, runKey - 1 },
    run = { runKey + 9, runEnd - 1 },
  }
end

-- How long a folded dispatch is remembered by its dispatch token, so a replay of it
-- (the HTTP client retrying a request whose answer was lost) is answered with the job
-- it folded into and changes nothing, even after a later fold or once the job started
-- (_memory_flow.ts's FOLD_REPLAY_MS).
local FOLD_REPLAY_MS = 60000

-- The job a debounced dispatch with this token folded into, while its window is open.
local function foldedBy(token, now)
  local open = redis.call("ZSCORE", q.dedupe, "f" .. SEP .. token)
  if not open or tonumber(open) <= now then return nil end
  return redis.call("HGET", q.flow, "f/" .. token) or nil
end

-- A debounced dispatch folds into its key's delayed job `id`: the job takes the
-- dispatch's record, so it looks like the last dispatch (payload, priority, tags,
-- trace, retries, flow rules) and runs at `runAt`, and keeps what makes it the same
-- job: its id, dispatch time and dispatch token (a replay of its first dispatch
-- answers "created"). Its labels and index entries (jobs.lua) follow the record: the
-- old ones go, and new ones, under its first dispatch time, when `tags` is not false
-- (the dispatch is indexed; `tags` is its tag list, possibly empty). Its token opens a
-- replay window (foldedBy). MemoryBackend's fold() does the same.
local function flowFold(id, record, runAt, name, tags, now)
  local old = redis.call("HGET", q.jobs, id)
  local from, to = old and identityOf(old), identityOf(record)
  if not (from and to) then return end -- no record of another form is written
  local function part(text, span) return string.sub(text, span[1], span[2]) end
  redis.call("HSET", q.jobs, id, table.concat({
    string.sub(record, 1, to.token[1] - 1), part(old, from.token),
    string.sub(record, to.token[2] + 1, to.id[1] - 1), part(old, from.id),
    string.sub(record, to.id[2] + 1, to.created[1] - 1), part(old, from.created),
    string.sub(record, to.created[2] + 1, to.run[1] - 1), string.format("%.0f", runAt),
    string.sub(record, to.run[2] + 1),
  }))
  local token = part(record, to.token)
  if token ~= "" then
    redis.call("ZADD", q.dedupe, now + FOLD_REPLAY_MS, "f" .. SEP .. token)
    redis.call("HSET", q.flow, "f/" .. token, id)
  end
  local labels = redis.call("HGET", q.labels, id)
  if labels then indexWrite("ZREM", indexEntries(id, labels, {})) end
  if tags then
    labels = labelsOf(name, tonumber(part(old, from.created)), tags)
    redis.call("HSET", q.labels, id, labels)
    indexWrite("ZADD", indexEntries(id, labels, {}))
  elseif labels then
    redis.call("HDEL", q.labels, id)
  end
end
