-- Shared by the realtime scripts whose calls may be replayed (an HTTP retry
-- after a lost reply): each call passes a key unique to it, under which its
-- answer is kept, so that a replay of the call gets the same answer.

-- The answer a first run of the call gave under `key` (decoded), or nil.
local function replayedAnswer(key)
  local replayed = redis.call("GET", key)
  if replayed then return cjson.decode(replayed) end
  return nil
end

-- Keeps `answer` under `key` for replays of the call for `keep` ms, and returns it.
local function keepAnswer(key, answer, keep)
  redis.call("SET", key, cjson.encode(answer), "PX", keep)
  return answer
end
