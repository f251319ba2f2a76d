"""Agents without a broker, Redis or Cassandra: Faust's test context and recording fakes.

Each agent runs in ``agent.test_context()`` on the in-memory store. What it would write
to Redis and Cassandra goes to ``FakeSinks`` (every ``sinks.*`` function an agent module
imports is replaced, and a module that reaches the real connections fails the test);
what it would produce goes to ``SentMessages`` (the topics' ``send``). Tables and the
agents' module-level state are emptied around every test.
"""

from __future__ import annotations

import asyncio
import functools
import io
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import pytest

import agents
from clients.objectstore import ObjectNotFound
from domain.clock import now_ms
from domain.fanout import Audience
from domain.graph import FollowFacts
from domain.stories import LiveStory
from media.errors import MediaError
from media.photo import PhotoResult
from media.renditions import Variant
from media.video import Rung, RungReady
from schemas.dead_letters import DeadLetter
from schemas.events import EventBase, decode_event
from streams import topics as stream_topics
from streams.app import app, settings
from streams.changelog import BatchedChangelog, Record
from streams.forward import Forwarder
from tables import engagement as engagement_tables
from tables import posts as posts_tables
from tables import search as search_tables
from tables import stories as stories_tables
from tables import trending as trending_tables

AGENT_MODULES: tuple[types.ModuleType, ...] = tuple(
    getattr(agents, name) for name in agents.__all__
)
# Sink functions that only compute (no I/O): agents keep the real ones.
PURE_SINK_FUNCTIONS = {"rows_to_stories"}
# How long a test waits for an agent to finish what it was given (seconds).
SETTLE_TIMEOUT_S = 2.0


def prepare_app() -> faust.App:
    """The app as a test context needs it: memory tables, finalized, flow resumed."""
    # streams.app already asks for it (Faust warns when it is set again this late).
    if app.conf.store.scheme != "memory":
        app.conf.store = "memory://"
    app.finalize()
    app.flow_control.resume()
    return app


async def until(condition: Callable[[], object], *, what: str = "the agent") -> None:
    """Wait (a few ms at a time) until ``condition()`` holds."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


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


# --- topics -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    topic: str  # the registry entity: "graph", "media-by-owner", "dlq"
    key: bytes | None
    value: bytes

    @property
    def event(self) -> EventBase:
        return decode_event(self.value)

    @property
    def letter(self) -> DeadLetter:
        return DeadLetter.model_validate_json(self.value)


class SentMessages:
    """What agents produce: every topic's ``send`` recorded; deliveries resolved at once
    unless ``hold_deliveries`` (then a test resolves them from ``deliveries``)."""

    def __init__(self) -> None:
        self.messages: list[Sent] = []
        self.hold_deliveries = False
        self.deliveries: list[asyncio.Future[None]] = []

    def to(self, topic: str) -> list[Sent]:
        return [m for m in self.messages if m.topic == topic]

    def topics(self) -> set[str]:
        return {m.topic for m in self.messages}

    def fake_send(self, topic: str) -> Callable[..., Awaitable[asyncio.Future[None]]]:
        async def send(*, key: bytes | None = None, value: bytes, **_: Any) -> asyncio.Future[None]:
            self.messages.append(Sent(topic, key, value))
            delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self.hold_deliveries:
                self.deliveries.append(delivery)
            else:
                delivery.set_result(None)  # the broker's ack
            return delivery

        return send


def entity_of(topic_name: str) -> str:
    return topic_name.removeprefix(f"{settings.namespace}.")


def install_topics(monkeypatch: pytest.MonkeyPatch) -> SentMessages:
    sent = SentMessages()
    for topic in vars(stream_topics).values():
        if isinstance(topic, faust.types.TopicT):
            name = "+".join(entity_of(t) for t in topic.topics)
            monkeypatch.setattr(topic, "send", sent.fake_send(name))
    # Batched re-keys (``streams.forward``): each copy recorded, the batch acked at once.
    for module in AGENT_MODULES:
        for forwarder in vars(module).values():
            if isinstance(forwarder, Forwarder):

                async def send(copies: Any, name: str = entity_of(forwarder.topic)) -> None:
                    sent.messages.extend(Sent(name, key, value) for key, value in copies)

                monkeypatch.setattr(forwarder, "send", send)
    return sent


# Every table written a batch at a time (``streams.changelog``).
BATCHED_CHANGELOGS: tuple[BatchedChangelog, ...] = (
    engagement_tables.marks_log,
    engagement_tables.lifecycle_log,
    posts_tables.records_log,
    posts_tables.outcomes_log,
    trending_tables.post_tags_log,
    trending_tables.uses_log,
    stories_tables.first_views_log,
    stories_tables.view_counts_log,
    search_tables.names_log,
    search_tables.tag_marks_log,
)


@dataclass
class ChangelogSends:
    """The batched changelog writes of the batched tables; ``gate`` holds them back."""

    batches: list[tuple[str, list[Record]]] = field(default_factory=list)
    gate: asyncio.Event | None = None
    order: list[str] = field(default_factory=list)  # "changelog <table>" when each returned

    def records(self, table: str) -> list[Record]:
        return [r for name, records in self.batches if name == table for r in records]


def install_changelogs(monkeypatch: pytest.MonkeyPatch) -> ChangelogSends:
    """``BatchedChangelog.send`` (librdkafka in production) of every batched table."""
    sends = ChangelogSends()
    changelogs = BATCHED_CHANGELOGS
    for changelog in changelogs:
        name = changelog.table.name

        async def send(records: list[Record], name: str = name) -> None:
            if sends.gate is not None:
                await sends.gate.wait()
            sends.batches.append((name, records))
            sends.order.append(f"changelog {name}")

        monkeypatch.setattr(changelog, "send", send)
    return sends


# --- handled events ---------------------------------------------------------------------


class Handled:
    """Counts events whose handler returned (``process_or_dead_letter`` of each agent)."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, original: Callable[..., Awaitable[bool]]) -> Callable[..., Awaitable[bool]]:
        async def process_or_dead_letter(event: EventBase, handler: Any) -> bool:
            try:
                return await original(event, handler)
            finally:
                self.count += 1

        return process_or_dead_letter


def install_handled(monkeypatch: pytest.MonkeyPatch) -> Handled:
    handled = Handled()
    for module in AGENT_MODULES:
        original = getattr(module, "process_or_dead_letter", None)
        if original is not None:
            monkeypatch.setattr(module, "process_or_dead_letter", handled.wrap(original))
    # A handler that fails is retried at once, not after seconds of backoff.
    monkeypatch.setattr("streams.retry.EVENT_BACKOFF_S", 0.0)
    return handled


# --- media --------------------------------------------------------------------------------
# The media agents' module globals: a photo pool whose ``run`` answers a ``PhotoResult``
# (or raises ``MediaError``), a Reel pool whose ``stream`` yields poster and rung steps,
# and an in-memory object store. No child process starts.

JPEG_HEAD = b"\xff\xd8\xff\xe0" + bytes(60)
WEBM_HEAD = b"\x1a\x45\xdf\xa3" + bytes(60)


def variant(name: str, width: int, height: int) -> Variant:
    return Variant(name, width, height, "image/jpeg", b"jpeg bytes", "0" * 64)


def photo_result(*variants: Variant) -> PhotoResult:
    return PhotoResult(
        variants=variants,
        placeholder="LKO2?U%2Tw=w",
        width=1080,
        height=720,
        source_format="jpeg",
        source_sha256="1" * 64,
        orientation=1,
        frames=1,
        color="srgb",
    )


class FakeStore:
    """The object store: originals to read, and the keys written."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[tuple[str, str]] = []  # (key, content type)

    def open(self, key: str) -> io.BytesIO:
        if key not in self.objects:
            raise ObjectNotFound(key)
        return io.BytesIO(self.objects[key])

    def get(self, key: str) -> bytes:
        return self.open(key).read()

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.puts.append((key, content_type))

    def put_file(self, key: str, path: Path, *, content_type: str) -> None:
        self.puts.append((key, content_type))


class FakePhotoPool:
    size = 1

    def __init__(self) -> None:
        self.answer: PhotoResult | MediaError = photo_result(variant("w320", 320, 213))
        self.jobs: list[tuple[Any, bytes, dict[str, Any]]] = []

    async def run(self, fn: Any, data: bytes, **kwargs: Any) -> PhotoResult:
        self.jobs.append((fn, data, kwargs))
        if isinstance(self.answer, MediaError):
            raise self.answer
        return self.answer


class FakeReelPool:
    def __init__(self) -> None:
        self.steps: list[Any] = []
        self.jobs: list[tuple[Any, dict[str, Any]]] = []

    def stream(self, fn: Any, **kwargs: Any) -> AsyncIterator[Any]:
        self.jobs.append((fn, kwargs))
        return self._steps(list(self.steps))

    async def _steps(self, steps: Iterable[Any]) -> AsyncIterator[Any]:
        for step in steps:
            if isinstance(step, Exception):
                raise step
            yield step


def rung_step(out: Path, name: str, width: int, height: int) -> RungReady:
    playlist = out / name / "index.m3u8"
    return RungReady(
        rung=Rung(name, min(width, height), 800),
        width=width,
        height=height,
        playlist=playlist,
        master=out / "master.m3u8",
        files=(out / name / "init.mp4", out / name / "seg_000.m4s", playlist),
        bandwidth=900_000,
        average_bandwidth=800_000,
    )


@dataclass
class MediaFakes:
    store: FakeStore
    photo_pool: FakePhotoPool
    reel_pool: FakeReelPool


def install_media(monkeypatch: pytest.MonkeyPatch, work_root: Path) -> MediaFakes:
    fakes = MediaFakes(FakeStore(), FakePhotoPool(), FakeReelPool())
    monkeypatch.setattr(agents.media, "store", fakes.store)
    monkeypatch.setattr(agents.media, "photo_pool", fakes.photo_pool)
    monkeypatch.setattr(agents.media, "reel_pool", fakes.reel_pool)
    monkeypatch.setattr(agents.media, "WORK_ROOT", work_root)  # Reels' scratch space
    return fakes


@pytest.fixture
def media_fakes(monkeypatch: pytest.MonkeyPatch, harness: Harness, tmp_path: Path) -> MediaFakes:
    return install_media(monkeypatch, tmp_path / "media-work")


# --- state ------------------------------------------------------------------------------


def clear_state() -> None:
    """Every table and the agents' module-level state, empty."""
    for table in app.tables.values():
        table.data.data.clear()
        table.data._key_partition.clear()
    counters = engagement_tables.counters
    counters.counts.clear()
    counters.take_dirty()
    posts_tables.post_index.recompute((), {})
    for changelog in BATCHED_CHANGELOGS:
        changelog.seal()
    agents.stories._expiry_sent.clear()
    agents.stories._dirty_viewers.clear()
    agents.stories._dirty_counts.clear()


def table_snapshot() -> dict[str, dict[Any, Any]]:
    return {name: dict(table.data.data) for name, table in app.tables.items()}


@dataclass
class Harness:
    sinks: FakeSinks
    sent: SentMessages
    handled: Handled
    changelogs: ChangelogSends

    async def feed(
        self, agent: Any, event: EventBase | bytes, *, key: str, handled: bool = True
    ) -> faust.EventT:
        """Put one message (raw bytes) and wait until its handler has returned.

        ``handled=False`` for agents (or events) that never reach a handler: the put
        itself returns once the agent is waiting for the next message.
        """
        value = event if isinstance(event, bytes) else event.to_json()
        before = self.handled.count
        put = await agent.put(value, key=key.encode())
        if handled:
            await until(lambda: self.handled.count > before, what="the handler to return")
            failed = [m.letter for m in self.sent.to("dlq") if m.letter.stage == "process"]
            assert not failed, f"the handler failed: {failed[-1].reason}"
        return put


def make_harness(monkeypatch: pytest.MonkeyPatch) -> Harness:
    prepare_app()
    return Harness(
        sinks=install_sinks(monkeypatch),
        sent=install_topics(monkeypatch),
        handled=install_handled(monkeypatch),
        changelogs=install_changelogs(monkeypatch),
    )


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    clear_state()
    yield make_harness(monkeypatch)
    clear_state()


@pytest.fixture
def sinks(harness: Harness) -> FakeSinks:
    return harness.sinks


@pytest.fixture
def sent(harness: Harness) -> SentMessages:
    return harness.sent


@pytest.fixture(autouse=True)
async def no_tasks_left() -> AsyncIterator[None]:
    """Fails a test that leaves a task of its own running (an agent not stopped)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    current = asyncio.current_task()  # this teardown's own task
    left = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    assert not left, f"tasks left running: {left}"
