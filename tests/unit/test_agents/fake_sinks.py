"""The sinks as the agents see them in unit tests: recording fakes with answers from
plain fields, installed over every ``sinks.*`` function an agent module imports (a
module that reaches the real connections fails the test)."""

from __future__ import annotations

import functools
import types
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

import agents
from domain.clock import now_ms
from domain.fanout import Audience
from domain.graph import FollowFacts
from domain.stories import LiveStory

AGENT_MODULES: tuple[types.ModuleType, ...] = tuple(
    getattr(agents, name) for name in agents.__all__
)
# Sink functions that only compute (no I/O): agents keep the real ones.
PURE_SINK_FUNCTIONS = {"rows_to_stories"}


# --- sinks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _NoConnections:
    """Stands in for ``sinks.connections``: a real sink reached in a unit test fails it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a unit test reached a real sink (connections.{name})")


NO_CONNECTIONS = _NoConnections()


def _sink(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """A fake sink: records the call (without the connections), then answers like the real one."""

    @functools.wraps(fn)
    async def recorded(self: FakeSinks, conn: Any, *args: Any, **kwargs: Any) -> Any:
        assert conn is NO_CONNECTIONS, "agents pass sinks.connections to every sink"
        self.calls.append(Call(fn.__name__, args, kwargs))
        failure = self.failures.get(fn.__name__)
        if failure is not None:
            raise failure
        return fn(self, *args, **kwargs)

    return recorded


@dataclass
class FakeSinks:
    """Redis and Cassandra as the agents see them: answers from plain fields, every call kept.

    Users were last seen now unless listed in ``idle`` (never seen) or ``seen_ms``.
    """

    calls: list[Call] = field(default_factory=list)
    followers: dict[str, list[str]] = field(default_factory=dict)  # author -> followers
    blocks: set[frozenset[str]] = field(default_factory=set)  # pairs blocked either way
    close_friends: set[tuple[str, str]] = field(default_factory=set)  # (owner, friend)
    muted: set[tuple[str, str]] = field(default_factory=set)  # (follower, author)
    private: set[str] = field(default_factory=set)  # private accounts
    requests: dict[str, dict[str, int]] = field(default_factory=dict)  # owner -> requester -> ms
    idle: set[str] = field(default_factory=set)
    seen_ms: dict[str, float] = field(default_factory=dict)  # user -> last feed read
    stories: dict[str, list[LiveStory]] = field(default_factory=dict)  # author -> in Redis
    fresh: bool = True  # write_post: the state written is not older than the stored one
    failures: dict[str, Exception] = field(default_factory=dict)  # sink name -> raised

    READS = frozenset(
        {
            "is_close_friend",
            "read_audience",
            "read_audiences",
            "read_last_seen",
            "read_author_stories",
            "read_follow_facts",
            "read_follow_requests",
        }
    )

    # What a test asks.

    def named(self, name: str) -> list[dict[str, Any]]:
        """The keyword arguments of every call of one sink, in order."""
        return [call.kwargs for call in self.calls if call.name == name]

    def args(self, name: str) -> list[tuple[Any, ...]]:
        return [call.args for call in self.calls if call.name == name]

    def writes(self) -> list[str]:
        """The names of the effects (every call that is not a read), in order."""
        return [call.name for call in self.calls if call.name not in self.READS]

    # Graph.

    def _last_seen(self, user_id: str) -> float | None:
        if user_id in self.idle:
            return None
        return self.seen_ms.get(user_id, float(now_ms()))

    @_sink
    def write_follow(self, **_: Any) -> None:
        return None

    @_sink
    def read_follow_facts(self, follower_id: str, followee_id: str) -> FollowFacts:
        return FollowFacts(
            hidden=frozenset((follower_id, followee_id)) in self.blocks,
            private=followee_id in self.private,
            requested=follower_id in self.requests.get(followee_id, {}),
        )

    @_sink
    def write_follow_request(
        self, *, owner_id: str, requester_id: str, present: bool, **_: Any
    ) -> None:
        pending = self.requests.setdefault(owner_id, {})
        if present:
            pending.setdefault(requester_id, len(pending) + 1)
        else:
            pending.pop(requester_id, None)

    @_sink
    def read_follow_requests(self, owner_id: str) -> list[str]:
        pending = self.requests.get(owner_id, {})
        return sorted(pending, key=lambda r: (pending[r], r))

    @_sink
    def write_mute(self, *, user_id: str, muted_id: str, present: bool, **_: Any) -> None:
        if present:
            self.muted.add((user_id, muted_id))
        else:
            self.muted.discard((user_id, muted_id))

    @_sink
    def is_close_friend(self, owner_id: str, friend_id: str) -> bool:
        return (owner_id, friend_id) in self.close_friends

    @_sink
    def read_audience(self, author_id: str) -> Audience:
        return self._audience(author_id)

    @_sink
    def read_audiences(self, author_ids: Iterable[str]) -> dict[str, Audience]:
        return {a: self._audience(a) for a in author_ids}

    def _audience(self, author_id: str) -> Audience:
        followers = tuple(sorted(self.followers.get(author_id, ())))
        return Audience(
            author_id=author_id,
            followers=followers,
            last_seen_ms={f: self._last_seen(f) for f in followers},
            hidden=frozenset(f for f in followers if frozenset((f, author_id)) in self.blocks),
            muted_by=frozenset(f for f in followers if (f, author_id) in self.muted),
            close_friends=frozenset(f for owner, f in self.close_friends if owner == author_id),
        )

    @_sink
    def write_block(self, **_: Any) -> None:
        return None

    @_sink
    def write_close_friend(self, **_: Any) -> None:
        return None

    # Feeds.

    @_sink
    def read_last_seen(self, user_ids: list[str]) -> dict[str, float | None]:
        return {u: self._last_seen(u) for u in user_ids}

    @_sink
    def push_tail(self, *, recipients: Any, **_: Any) -> int:
        return len(list(recipients))

    @_sink
    def retract_author(self, **_: Any) -> None:
        return None

    @_sink
    def spread_posts(self, pushes: Any = (), retractions: Any = ()) -> int:
        # Kept per post too, as ``push_post``/``retract_post`` calls, for the tests to ask.
        for post_id, created_ms, recipients in pushes:
            self.calls.append(
                Call(
                    "push_post",
                    (),
                    {"post_id": post_id, "created_ms": created_ms, "recipients": tuple(recipients)},
                )
            )
        for post_id, followers in retractions:
            self.calls.append(
                Call("retract_post", (), {"post_id": post_id, "followers": tuple(followers)})
            )
        return sum(len(r) for _, _, r in pushes)

    @_sink
    def flush_feed_snapshots(self) -> int:
        return 3

    @_sink
    def mark_active(self, user_id: str, now: int) -> None:
        return None

    @_sink
    def rebuild_feed(self, user_id: str, **_: Any) -> int:
        return 0

    # Posts.

    @_sink
    def write_posts(self, writes: Any) -> list[bool]:
        # Kept per post too, as ``write_post`` calls, for the tests to ask.
        for w in writes:
            self.calls.append(
                Call(
                    "write_post",
                    (),
                    {
                        "post_id": w.post_id,
                        "record": w.record,
                        "post_count": w.post_count,
                        "caption": w.caption,
                        "media": w.media,
                        "event_id": w.event_id,
                    },
                )
            )
        return [self.fresh] * len(writes)

    # Stories.

    @_sink
    def read_author_stories(self, author_id: str) -> list[LiveStory]:
        return list(self.stories.get(author_id, ()))

    @_sink
    def raise_in_tray(self, **_: Any) -> None:
        return None

    @_sink
    def write_story(self, event: Any, now: int) -> None:
        return None

    @_sink
    def push_story(self, *, recipients: Any, **_: Any) -> int:
        return len(list(recipients))

    @_sink
    def remove_story(self, **_: Any) -> None:
        return None

    @_sink
    def rescore_trays(self, **_: Any) -> None:
        return None

    @_sink
    def write_seen(self, **_: Any) -> bool:
        return True

    @_sink
    def write_seen_marks(self, marks: Any) -> int:
        return len(marks)

    @_sink
    def write_receipts(self, viewers: Any, counts: Any) -> None:
        return None

    # Engagement.

    @_sink
    def write_comments(self, writes: Any) -> None:
        return None

    @_sink
    def write_saves(self, writes: Any) -> None:
        return None

    @_sink
    def write_post_counts(self, live: Any, deleted: Any, likers: Any, **_: Any) -> int:
        return len(live) + len(deleted)

    # Trending, profiles, media.

    @_sink
    def write_hashtag_use(self, **_: Any) -> None:
        return None

    @_sink
    def write_hashtag_uses(self, writes: Any) -> None:
        return None

    @_sink
    def recount_trending(self, now: int) -> int:
        return 0

    @_sink
    def write_profile(self, event: Any) -> bool:
        return True  # the cache now holds this version

    async def write_profiles(self, conn: Any, events: Any) -> list[bool]:
        # Kept per event, as ``write_profile`` calls (what the tests ask).
        return [await self.write_profile(conn, e) for e in events]

    @_sink
    def write_media_state(self, event: Any) -> None:
        return None

    # Search.

    @_sink
    def write_user_index(self, changes: Any, rescore: Any) -> None:
        return None

    @_sink
    def write_tag_index(self, counts: Any) -> None:
        return None


def _fake_module(module: types.ModuleType, fakes: FakeSinks) -> types.SimpleNamespace:
    """A sink module as an agent imports it (``from sinks import stories as sink``)."""
    names: dict[str, Any] = {}
    for name, value in vars(module).items():
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            if name in PURE_SINK_FUNCTIONS:
                names[name] = value
            else:
                names[name] = getattr(fakes, name, None) or _missing(f"{module.__name__}.{name}")
    return types.SimpleNamespace(**names)


def _missing(qualname: str) -> Callable[..., Awaitable[Any]]:
    async def missing(*_: Any, **__: Any) -> Any:
        raise AssertionError(f"{qualname} has no fake in FakeSinks")

    return missing


def install_sinks(monkeypatch: pytest.MonkeyPatch) -> FakeSinks:
    """Replace every sink the agent modules import (functions and modules) with fakes."""
    fakes = FakeSinks()
    for agent_module in AGENT_MODULES:
        for name, value in list(vars(agent_module).items()):
            if name == "connections":
                monkeypatch.setattr(agent_module, name, NO_CONNECTIONS)
            elif isinstance(value, types.ModuleType) and value.__name__.startswith("sinks."):
                monkeypatch.setattr(agent_module, name, _fake_module(value, fakes))
            elif (
                isinstance(value, types.FunctionType)
                and value.__module__.startswith("sinks.")
                and name not in PURE_SINK_FUNCTIONS
            ):
                fake = getattr(fakes, name, None)
                assert fake is not None, f"{value.__module__}.{name} has no fake in FakeSinks"
                monkeypatch.setattr(agent_module, name, fake)
    return fakes


# --- batched story and media sinks: each item also kept as the one-item sink's call ---


@_sink
def write_stories(self: FakeSinks, changes: Any, now: int) -> None:
    for change in changes:
        if hasattr(change, "event"):
            self.calls.append(Call("write_story", (change.event, now), {}))
        else:
            kwargs = {
                "author_id": change.author_id,
                "story": change.story,
                "event_micros": change.event_micros,
            }
            self.calls.append(Call("remove_story", (), kwargs))


@_sink
def write_trays(self: FakeSinks, changes: Any) -> int:
    touched = 0
    for change in changes:
        if hasattr(change, "recipients"):
            kwargs = {
                "author_id": change.author_id,
                "created_ms": change.created_ms,
                "recipients": tuple(change.recipients),
            }
            self.calls.append(Call("push_story", (), kwargs))
            touched += len(change.recipients)
        else:
            kwargs = {"author_id": change.author_id, "scores": dict(change.scores)}
            self.calls.append(Call("rescore_trays", (), kwargs))
            touched += len(change.scores)
    return touched


@_sink
def write_media_states(self: FakeSinks, events: Any) -> int:
    self.calls.extend(Call("write_media_state", (event,), {}) for event in events)
    return len(events)


FakeSinks.write_stories = write_stories  # type: ignore[attr-defined]
FakeSinks.write_trays = write_trays  # type: ignore[attr-defined]
FakeSinks.write_media_states = write_media_states  # type: ignore[attr-defined]
