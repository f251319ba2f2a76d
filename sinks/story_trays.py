"""Story trays in Redis: a batch of new stories pushed and of removals rescored, in order.

A tray holds one entry per author, scored by the newest story of theirs the viewer may
see. A new story raises the author's entry (ZADD GT: never below a newer story already
there); a removal sets each follower's entry to the exact recomputed score, only where
an entry exists (ZADD XX), or takes it out. Both are idempotent, and a batch's changes
are applied in event order, so a replayed batch ends where the first pass did.
Who receives what is decided by the agent (``domain.fanout``, ``domain.stories``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clients.lua import Lua
from clients.redis import pipelined
from domain.stories import expires_at_ms
from sinks.connections import Connections

# One story into many trays in one call (redis-py spends tens of microseconds of Python
# per command and reply; the script a few per key). A tray expires with its newest
# story: PEXPIREAT GT moves a deadline later, NX sets one on a tray that has none.
# KEYS: the recipients' trays; ARGV: author, created ms, expires ms. Returns trays.
PUSH_STORY = Lua("""
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'GT', ARGV[2], ARGV[1])
  redis.call('PEXPIREAT', KEYS[i], ARGV[3], 'GT')
  redis.call('PEXPIREAT', KEYS[i], ARGV[3], 'NX')
end
return #KEYS
""")

# An author's entry in many trays at its new score ('' takes it out); only entries that
# exist change. KEYS: the trays; ARGV: author, then one score per key.
RESCORE_STORY = Lua("""
for i = 1, #KEYS do
  local score = ARGV[i + 1]
  if score == '' then
    redis.call('ZREM', KEYS[i], ARGV[1])
  else
    redis.call('ZADD', KEYS[i], 'XX', score, ARGV[1])
  end
end
return #KEYS
""")

# Trays per script call: bounded replies and a bounded pause of the server.
_TRAY_CHUNK = 1000


@dataclass(frozen=True)
class TrayPush:
    """A new live story: the author into each recipient's tray at ``created_ms``."""

    author_id: str
    created_ms: int
    recipients: Sequence[str]


@dataclass(frozen=True)
class TrayRescore:
    """After a removal: each viewer's entry for the author at its score (None: out)."""

    author_id: str
    scores: Mapping[str, int | None]


def _push(conn: Connections, push: TrayPush) -> list[Callable[[Any], object]]:
    trays = [conn.keys.story_tray(u) for u in push.recipients]
    args = [push.author_id, push.created_ms, expires_at_ms(push.created_ms)]
    return [
        lambda p, keys=trays[i : i + _TRAY_CHUNK]: PUSH_STORY.queue(p, keys, args)
        for i in range(0, len(trays), _TRAY_CHUNK)
    ]


def _rescore(conn: Connections, rescore: TrayRescore) -> list[Callable[[Any], object]]:
    k, items = conn.keys, list(rescore.scores.items())
    commands: list[Callable[[Any], object]] = []
    for i in range(0, len(items), _TRAY_CHUNK):
        chunk = items[i : i + _TRAY_CHUNK]
        keys = [k.story_tray(viewer) for viewer, _ in chunk]
        args = [rescore.author_id, *("" if s is None else int(s) for _, s in chunk)]
        commands.append(lambda p, keys=keys, args=args: RESCORE_STORY.queue(p, keys, args))
    return commands


async def write_trays(conn: Connections, changes: Sequence[TrayPush | TrayRescore]) -> int:
    """A batch's tray changes in one pipelined call, in the order given; returns the
    tray entries touched."""
    commands: list[Callable[[Any], object]] = []
    touched = 0
    for change in changes:
        if isinstance(change, TrayPush):
            commands += _push(conn, change)
            touched += len(change.recipients)
        else:
            commands += _rescore(conn, change)
            touched += len(change.scores)
    if commands:
        await pipelined(conn.redis(), commands)
    return touched
