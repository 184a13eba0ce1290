"""The claim list's Lua scripts: one atomic step, one round trip each (``EVALSHA``).

Every script names its KEYS and ARGV first and builds no key names of its own: the keys
come from ``Keys``. ``protocol.MemoryClaims`` is the same semantics in memory.
"""

CLAIM = """
-- Push a worker's claim, unless the request is sealed.
-- KEYS[1] claim list, KEYS[2] seal
-- ARGV[1] worker name, ARGV[2] TTL in seconds, ARGV[3] '1' to respect the seal
-- Returns 1 when the claim is on the list, 0 when it was refused.
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

POP = """
-- Pop one claim; seal the request when none are left and sealing was asked for.
-- KEYS[1] claim list, KEYS[2] seal
-- ARGV[1] '1' to seal when the list is left empty, ARGV[2] the seal's TTL in seconds
-- Returns the claims left.
redis.call('LPOP', KEYS[1])
local left = redis.call('LLEN', KEYS[1])
if left == 0 and ARGV[1] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
end
return left
"""

LENGTH = """
-- Read how many claims are on the list; seal the request when there are none and
-- sealing was asked for.
-- KEYS[1] claim list, KEYS[2] seal
-- ARGV[1] '1' to seal when the list is empty, ARGV[2] the seal's TTL in seconds
-- Returns the claims on the list.
local n = redis.call('LLEN', KEYS[1])
if n == 0 and ARGV[1] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
end
return n
"""

CLOSE = """
-- Delete the claim list, and seal the request when asked to.
-- KEYS[1] claim list, KEYS[2] seal
-- ARGV[1] '1' to seal, ARGV[2] the seal's TTL in seconds
-- Returns the claims that were still on the list.
local n = redis.call('LLEN', KEYS[1])
redis.call('DEL', KEYS[1])
if ARGV[1] == '1' then
  redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
end
return n
"""
