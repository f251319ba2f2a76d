"""The one way an agent batches: apply each event now, make a batch durable, then ack it.

    stream ──add──► apply(event) to the tables' stores + the batch's effects
                    ··· every ``within_s`` or ``max_events`` ···
           seal ──► effects written (idempotent sinks) ──► changelog records acked
                ──► dead letters sent ──► the batch's events acked

The stream does not ack on its own (``enable_acks`` off): an event is acked only once
its effects and its table changes are durable, so a crash replays it, and a replay
changes nothing (every effect is idempotent and ``apply`` skips what it has seen).
The commit runs beside the stream, so the next batch is applied while the previous one
waits for the stores and the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust

from schemas.events import EventBase, InvalidEvent, decode_event
from streams.changelog import BatchedChangelog, Record
from streams.codecs import dead_letter
from streams.retry import until_done

E = TypeVar("E")

# apply(event, partition, effects): change the tables' stores, stage the sink effects.
Apply = Callable[[EventBase, int, E], None]


@dataclass
class Batch(Generic[E]):
    """Events applied to the stores but not yet durable, and their staged effects."""

    effects: E
    records: list[Any] = field(default_factory=list)  # stream events to ack
    invalid: list[tuple[Any, str]] = field(default_factory=list)  # (message, reason)


@dataclass(frozen=True)
class Batching(Generic[E]):
    """How an agent batches: what one event does, its effects, its tables, the sizes."""

    apply: Apply[E]  # change the tables' stores, stage the effects
    new_effects: Callable[[], E]
    write_effects: Callable[[E], Awaitable[None]]  # idempotent sink writes
    changelogs: Sequence[BatchedChangelog]  # the tables ``apply`` changes
    max_events: int
    within_s: float


class BatchPipeline(Generic[E]):
    def __init__(self, stream: faust.StreamT, batching: Batching[E]) -> None:
        self.stream = stream
        self.batching = batching
        self.open: Batch[E] = Batch(batching.new_effects())
        self._full = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    async def add(self, record: Any) -> None:
        """Apply one stream event to the open batch (waits while a full batch commits)."""
        limit = self.batching.max_events
        while len(self.open.records) >= limit:
            self._room.clear()
            await self._room.wait()
        batch = self.open
        batch.records.append(record)
        try:
            event = decode_event(record.value)
        except InvalidEvent as exc:
            batch.invalid.append((record.message, exc.reason))
        else:
            self.batching.apply(event, record.message.partition, batch.effects)
        if len(batch.records) >= limit:
            self._full.set()

    def seal(self) -> tuple[Batch[E], list[list[Record]]]:
        # No await in here: the batch and its staged records are cut at one point.
        batch, self.open = self.open, Batch(self.batching.new_effects())
        self._room.set()
        return batch, [changelog.seal() for changelog in self.batching.changelogs]

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), timeout=self.batching.within_s)
            self._full.clear()
            if self.open.records:
                await self.commit(*self.seal())

    async def commit(self, batch: Batch[E], staged: list[list[Record]]) -> None:
        # Effects first, then the table changes: a crash in between replays the events,
        # and the effects are idempotent; the other order could lose them.
        await until_done("a batch's effects", self.batching.write_effects, batch.effects)
        for changelog, records in zip(self.batching.changelogs, staged, strict=True):
            await changelog.send(records)
        for message, reason in batch.invalid:
            await until_done("dead-lettering", dead_letter, message, reason, "validate")
        for record in batch.records:
            await self.stream.ack(record)


async def run_batched(stream: faust.StreamT, batching: Batching[E]) -> None:
    """An agent's whole loop over ``stream``, batched as the module docstring draws it."""
    stream.enable_acks = False  # acked by the pipeline once durable
    pipeline = BatchPipeline(stream, batching)
    committer = asyncio.ensure_future(pipeline.run())
    try:
        async for record in stream.events():
            await pipeline.add(record)
    finally:
        committer.cancel()
