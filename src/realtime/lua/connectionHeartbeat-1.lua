--[[
  One instance's heartbeat for the connection slots it holds: pushes its
  deadline forward, and forgets instances that have been silent for long
  (their slots already count for nothing; this only bounds the set).

  KEYS[1]  ZSET  instance -> heartbeat deadline (ms): the hub's instances
  ARGV[1]  this instance's new deadline (ms)
  ARGV[2]  instance id
  ARGV[3]  forget instances whose deadline is before this (ms)
  ARGV[4]  time to live of the key (ms)

  Output: 1
]]
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", "(" .. ARGV[3])
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 1
