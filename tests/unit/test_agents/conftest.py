"""Agents without a broker, Redis or Cassandra: Faust's test context and recording fakes.

Each agent runs in ``agent.test_context()`` on the in-memory store. What it would write
to Redis and Cassandra goes to ``FakeSinks`` (``fake_sinks.py``: every ``sinks.*``
function an agent module imports is replaced, and a module that reaches the real
connections fails the test); what it would produce goes to ``SentMessages`` (the topics' ``send``). Tables and the
agents' module-level state are emptied around every test.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faust
import pytest

import agents
from clients.objectstore import ObjectNotFound
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
from tests.unit.test_agents.fake_sinks import (  # noqa: F401 (re-exported for the tests)
    AGENT_MODULES,
    NO_CONNECTIONS,
    Call,
    FakeSinks,
    _sink,
    install_sinks,
)

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
    stories_tables.author_stories_log,
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
