"""The claim list's Lua scripts: one atomic step, one round trip each (``EVALSHA``).

Every script names its KEYS and ARGV first and builds no key names of its own: the keys
come from ``Keys``. A request's *marker* exists from its broadcast until it is closed;
``protocol.MemoryClaims`` is the same semantics in memory.
"""

OPEN_AND_PUBLISH = """
-- Open a request (set its marker) and broadcast its task, in one step.
-- KEYS[1] marker
-- ARGV[1] channel, ARGV[2] message, ARGV[3] the marker's TTL in seconds
-- Returns the receivers PUBLISH reached.
redis.call('SET', KEYS[1], '1', 'EX', ARGV[3])
return redis.call('PUBLISH', ARGV[1], ARGV[2])
"""

OPEN = """
-- Open a request (set its marker), when the bus is not this Redis.
-- KEYS[1] marker
-- ARGV[1] the marker's TTL in seconds
return redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
"""

CLAIM = """
-- Push a worker's claim, unless asked to respect closing and the request is not open;
-- once only (a command retried after a broken connection must not push it twice).
-- KEYS[1] claim list, KEYS[2] marker
-- ARGV[1] worker name, ARGV[2] TTL in seconds, ARGV[3] '1' to refuse a closed request
-- Returns 1 when the claim is on the list, 0 when it was refused.
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if redis.call('LPOS', KEYS[1], ARGV[1]) then
  return 1
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

POP = """
-- Remove the replier's claim; close the request when none are left and sealing was asked.
-- KEYS[1] claim list, KEYS[2] marker
-- ARGV[1] worker name, ARGV[2] '1' to seal when the list is left empty
-- Returns the claims left, or -1 when the request is not open or the claim is not there
-- (the list vanished: e.g. Redis restarted).
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return -1
end
local left = redis.call('LLEN', KEYS[1])
if left == 0 and ARGV[2] == '1' then
  redis.call('DEL', KEYS[2])
end
return left
"""

LENGTH = """
-- Read how many claims are on the list; close the request when there are none and
-- sealing was asked.
-- KEYS[1] claim list, KEYS[2] marker
-- ARGV[1] '1' to seal when the list is empty
-- Returns the claims on the list, or -1 when the request is not open.
if redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
local n = redis.call('LLEN', KEYS[1])
if n == 0 and ARGV[1] == '1' then
  redis.call('DEL', KEYS[2])
end
return n
"""

CLOSE = """
-- Delete the claim list and the marker (closing the request to claims that check).
-- KEYS[1] claim list, KEYS[2] marker
-- Returns the workers that were still on the list, in claim order.
local left = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1], KEYS[2])
return left
"""
