"""Redis scripts shared by sinks."""

from __future__ import annotations

from clients.lua import Lua

# Replace a hash's fields only when the incoming version is at least as new, so a
# replayed or late event never rolls a view back.
# KEYS[1] = the hash; ARGV[1] = the version (event time, ms); ARGV[2..] = field/value pairs.
HSET_IF_NEWER = Lua("""
local current = redis.call('HGET', KEYS[1], 'updated_at')
if current and tonumber(current) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1], unpack(ARGV, 2))
return 1
""")

# A version newer than any event: a deleted account's tombstone, which no profile change
# after the deletion (a late event, a stale access token) ever replaces.
FOREVER_MS = 2**53 - 1
