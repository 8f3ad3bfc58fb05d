"""The Lua of presence: membership changes and their join/leave events in one atomic step.

Per channel, four keys in the slot of its presence channel's stream (see
``Layout.presence_keys``):

* ``members`` (hash): client id -> member JSON (``{client_id, info, since}``);
* ``counts`` (hash): client id -> number of live connections;
* ``connections`` (hash): connection id -> client id;
* ``expiries`` (sorted set): connection id, scored by its expiry (Redis
  ``TIME``, in ms, so processes with skewed clocks agree).

Each script changes them and appends the resulting ``presence.join`` /
``presence.leave`` records with the layout's own append script -- the same
Lua that ``emit`` runs (``_scripts``), inlined as a function -- so the events
are stored, trimmed, expired and published exactly like any event. A
connection removed by one script is gone for the next: two processes
sweeping at once emit each leave once.
"""

from __future__ import annotations

from ._scripts import Script

# Per layout: how one record is laid out in the append script's ARGV.
RECORD_TIDINGS = """
local function add_record(out, event, json)
  out[#out + 1] = event
  out[#out + 1] = json
end
"""
RECORD_UPSTASH = """
local function add_record(out, event, json)
  -- event, stored data (a member is a JSON object: stored as is), data as JSON, event as JSON
  out[#out + 1] = event
  out[#out + 1] = json
  out[#out + 1] = json
  out[#out + 1] = '"' .. event .. '"'
end
"""

# KEYS[1..4]: members, counts, connections, expiries; KEYS[5]: the presence stream.
# ARGV[1] = how many append header arguments follow (maxlen, ttl, ...), then them.
_COMMON = """
local members, counts, connections, expiries, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local header_count = tonumber(ARGV[1])
local header = {}
for i = 2, 1 + header_count do header[#header + 1] = ARGV[i] end
local rest = 2 + header_count  -- the script's own arguments start here

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Remove a connection; the member's JSON if it was the member's last one.
local function remove(conn)
  local client = redis.call('HGET', connections, conn)
  redis.call('ZREM', expiries, conn)
  if not client then return false end
  redis.call('HDEL', connections, conn)
  if redis.call('HINCRBY', counts, client, -1) > 0 then return false end
  redis.call('HDEL', counts, client)
  local member = redis.call('HGET', members, client)
  redis.call('HDEL', members, client)
  return member
end

local function emit(records)
  if #records == 0 then return {} end
  local KEYS = {stream}
  local ARGV = {}
  for i = 1, #header do ARGV[#ARGV + 1] = header[i] end
  for i = 1, #records do ARGV[#ARGV + 1] = records[i] end
  APPEND
end
"""

_ENTER = """
-- ARGV[rest..]: connection id, client id, ttl ms, member JSON.
local conn, client, ttl, member = ARGV[rest], ARGV[rest + 1], tonumber(ARGV[rest + 2]), ARGV[rest + 3]
redis.call('ZADD', expiries, now_ms() + ttl, conn)
if redis.call('HSETNX', connections, conn, client) == 0 then
  return {}
end
local records = {}
if redis.call('HINCRBY', counts, client, 1) == 1 then
  redis.call('HSET', members, client, member)
  add_record(records, 'presence.join', member)
end
return emit(records)
"""

_LEAVE = """
-- ARGV[rest..]: connection ids.
local records = {}
for i = rest, #ARGV do
  local member = remove(ARGV[i])
  if member then add_record(records, 'presence.leave', member) end
end
return emit(records)
"""

_SWEEP = """
-- ARGV[rest]: most connections to remove in one call.
-- Returns {leave ids, connections left, connections removed}.
local expired = redis.call('ZRANGE', expiries, '-inf', now_ms(), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[rest]))
local records = {}
for i = 1, #expired do
  local member = remove(expired[i])
  if member then add_record(records, 'presence.leave', member) end
end
return {emit(records), redis.call('ZCARD', expiries), #expired}
"""


def _presence_script(append: Script, record: str, body: str) -> Script:
    # The append script is a chunk ending in ``return finish(ids)``; inside
    # ``emit`` that returns the ids from the function. Its shebang line goes
    # first (Redis wants it on line 1).
    shebang, _, chunk = append.source.partition("\n")
    return Script(shebang + "\n" + record + _COMMON.replace("APPEND", chunk) + body)


class PresenceScripts:
    """The enter, leave and sweep scripts for one layout's append script and record shape."""

    def __init__(self, append: Script, record: str) -> None:
        self.enter = _presence_script(append, record, _ENTER)
        self.leave = _presence_script(append, record, _LEAVE)
        self.sweep = _presence_script(append, record, _SWEEP)


REFRESH = Script(
    """#!lua
local connections, expiries = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
local missing = {}
for i = 2, #ARGV do
  if redis.call('HEXISTS', connections, ARGV[i]) == 1 then
    redis.call('ZADD', expiries, expiry, ARGV[i])
  else
    missing[#missing + 1] = ARGV[i]
  end
end
return missing
"""
)
"""KEYS: connections, expiries. ARGV: ttl ms, connection ids. Returns those that are gone."""

MEMBERS = Script(
    """#!lua flags=no-writes
local limit = tonumber(ARGV[1])
if redis.call('HLEN', KEYS[1]) <= limit then
  return redis.call('HVALS', KEYS[1])
end
local out, cursor = {}, '0'
repeat
  local page = redis.call('HSCAN', KEYS[1], cursor, 'COUNT', 100)
  cursor = page[1]
  for i = 2, #page[2], 2 do
    if #out < limit then out[#out + 1] = page[2][i] end
  end
until cursor == '0' or #out >= limit
return out
"""
)
"""KEYS: members. ARGV: limit. Up to ``limit`` member JSONs."""

FORGET_CHANNEL = Script(
    """#!lua
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
"""
)
"""KEYS: the index of channels with presence. ARGV: channel, the score it had when seen empty.

Every enter and heartbeat bumps a channel's score, so a channel entered
again since the sweeper saw it empty keeps its place in the index."""
