"""The Lua scripts the Redis backend runs, and how to call them.

Every append is one script: the records are added, the stream is trimmed,
its expiry refreshed and the new entries published in a single atomic step,
so no reader can see an entry that live listeners will never get, and no
listener gets one that is not stored.

Redis 7.0 does not record trims in ``max-deleted-entry-id`` (only ``XDEL``
does), so the append script finds the newest entry its trim removes and
stores it there itself with ``XSETID ... MAXDELETEDID``. ``after()`` reads it
back in the same script as the range, which makes gap detection exact: a
cursor is expired iff retention removed an entry above it.

Scripts start with a ``#!lua`` shebang (Redis >= 7.0): a shebang script that
may write is refused up front when Redis is out of memory, instead of failing
half-way after some of a batch's records were added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.typing import EncodableT


@dataclass(frozen=True, slots=True)
class Script:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())

    def evalsha(self, keys: Sequence[EncodableT], args: Sequence[EncodableT]) -> tuple[EncodableT, ...]:
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    def eval(self, keys: Sequence[EncodableT], args: Sequence[EncodableT]) -> tuple[EncodableT, ...]:
        return ("EVAL", self.source, len(keys), *keys, *args)


# ARGV[1] = MAXLEN ("0": none), ARGV[2] = expiry in seconds ("0": none).
# Record arguments start at ARGV[FIRST], STRIDE per record.
_TRIM_PROLOGUE = """#!lua
local key = KEYS[1]
local maxlen_arg = ARGV[1]
local maxlen = tonumber(maxlen_arg)
local ttl_arg = ARGV[2]
local count = (#ARGV - FIRST + 1) / STRIDE

-- Id of the n-th oldest entry, read in pages so a large trim (retention
-- lowered on a long stream) never loads the whole stream into the script.
local function nth_oldest(n)
  local start, id = '-', false
  while n > 0 do
    local page = redis.call('XRANGE', key, start, '+', 'COUNT', math.min(n, 100))
    if #page == 0 then break end
    id = page[#page][1]
    n = n - #page
    start = '(' .. id
  end
  return id
end

local removed, excess, length = false, 0, 0
if maxlen > 0 then
  length = redis.call('XLEN', key)
  excess = length + count - maxlen
  if excess > 0 and excess <= length then
    removed = nth_oldest(excess)
  end
end

local function xadd(...)
  if maxlen > 0 then
    return redis.call('XADD', key, 'MAXLEN', '=', maxlen_arg, '*', ...)
  end
  return redis.call('XADD', key, '*', ...)
end

local function finish(ids)
  if excess > length then
    removed = ids[excess - length]
  end
  if removed then
    redis.call('XSETID', key, ids[#ids], 'MAXDELETEDID', removed)
  end
  if ttl_arg ~= '0' then
    redis.call('EXPIRE', key, ttl_arg)
  end
  return ids
end
"""


def _append_script(first: int, stride: int, body: str) -> Script:
    prologue = _TRIM_PROLOGUE.replace("FIRST", str(first)).replace("STRIDE", str(stride))
    return Script(prologue + body)


APPEND_TIDINGS = _append_script(
    3,
    2,
    """
-- One PUBLISH carries many records, per record
-- "<id> <event bytes> <data bytes>\\n<event><data>", split at about 512 KiB
-- so a big batch cannot trip Redis' output-buffer limit for subscribers.
local ids, parts, size = {}, {}, 0
for i = 3, #ARGV, 2 do
  local event, data = ARGV[i], ARGV[i + 1]
  local id = xadd('event', event, 'data', data)
  ids[#ids + 1] = id
  local part = id .. ' ' .. #event .. ' ' .. #data .. '\\n' .. event .. data
  if size > 0 and size + #part > 524288 then
    redis.call('PUBLISH', key, table.concat(parts))
    parts, size = {}, 0
  end
  parts[#parts + 1] = part
  size = size + #part
end
redis.call('PUBLISH', key, table.concat(parts))
return finish(ids)
""",
)
"""KEYS: stream. ARGV: maxlen, ttl, then (event, json data) per record."""

APPEND_TIDINGS_SHARDED = Script(
    APPEND_TIDINGS.source.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'")
)
"""The same on a Redis Cluster: sharded Pub/Sub (Redis >= 7.0), so the message
stays in the shard that stores the stream instead of reaching every node."""


APPEND_UPSTASH = _append_script(
    5,
    4,
    """
-- The shapes of @upstash/realtime: fields data, event, channel in that order,
-- and one JSON message per event.
local channel, channel_json = ARGV[3], ARGV[4]
local ids = {}
for i = 5, #ARGV, 4 do
  local event, stored, json, event_json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local id = xadd('data', stored, 'event', event, 'channel', channel)
  ids[#ids + 1] = id
  redis.call('PUBLISH', key, '{"data":' .. json .. ',"event":' .. event_json ..
    ',"channel":' .. channel_json .. ',"id":"' .. id .. '"}')
end
return finish(ids)
""",
)
"""KEYS: stream. ARGV: maxlen, ttl, channel, channel as JSON, then per record:
event, stored data (a string bare), data as JSON, event as JSON."""


HEAD = Script(
    """#!lua flags=no-writes
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then
  return false
end
return last[1][1]
"""
)
"""The newest id of a stream (nil if empty), without transferring its data."""


AFTER = Script(
    """#!lua flags=no-writes
local entries = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {false, false, entries}
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local deleted, first = false, false
for i = 1, #info, 2 do
  local name = info[i]
  if name == 'max-deleted-entry-id' then
    deleted = info[i + 1]
  elseif name == 'first-entry' and info[i + 1] then
    first = info[i + 1][1]
  end
end
return {deleted, first, entries}
"""
)
"""KEYS: stream. ARGV: exclusive start "(<id>", end id or "+", count.

Returns ``[max deleted id, oldest id, entries]``, read consistently.
"""
