"""Engagement state: every mark (like, save, comment, share) and each post's lifecycle.

``engagement_marks`` is the exact state the counts are derived from; a post's counts
are the number of its present marks, kept in memory beside the table and recomputed
from it after every recovery. Both tables live in the engagement topic's partitions
(by post).

Throughput: a Faust table write sends one changelog message through Faust's
per-message producer path (~170 µs here), which caps a per-like table at 2–4k likes/s.
``BatchedChangelog`` writes a batch of values to the local store and their changelog
records through one librdkafka producer, then waits for the broker's acks before the
batch's events are acked. The records are exactly the ones Faust would write (JSON key
and value, the source event's partition), so Faust's own recovery reads them back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from clients.kafka import producer_config
from domain.engagement import DELETED, LIVE, Mark, counts_from_marks, empty_counts
from schemas.topics import ENGAGEMENT
from streams.app import app, settings

logger = logging.getLogger(__name__)

engagement_marks = app.Table(
    "engagement_marks",
    partitions=ENGAGEMENT.partitions,
    help="(post_id, kind tag, member) -> [present, occurred_ms, event_id, since_ms]",
)

post_lifecycle = app.Table(
    "post_lifecycle",
    partitions=ENGAGEMENT.partitions,
    help="post_id -> [live|deleted, occurred_ms]: which posts may be counted",
)

MarkKey = tuple[str, str, str]

# Backoff while the broker refuses changelog writes: the batch waits, nothing is acked.
_RETRY_S = 1.0


# (partition, key, value): a changelog record before its JSON encoding.
Record = tuple[int, Any, Any]


class BatchedChangelog:
    """Write many values of one table: local store now, changelog records per batch.

    ``put`` updates the store at once (later events read it) and stages the record;
    ``seal`` hands the staged records (one per key: the latest) to ``send``, which
    returns once the broker has acknowledged every one of them.
    """

    def __init__(self, table: Any, **producer_overrides: Any) -> None:
        self.table = table
        self._overrides = producer_overrides
        self._producer: Producer | None = None
        self._pending: dict[Any, tuple[int, Any]] = {}
        self._failed: list[Record] = []

    @property
    def raw(self) -> dict[Any, Any]:
        """The memory store's dict (reads that skip Faust's per-access bookkeeping)."""
        return self.table.data.data  # type: ignore[no-any-return]

    def put(self, partition: int, key: Any, value: Any) -> None:
        store = self.table.data
        store.data[key] = value
        # The memory store drops keys of revoked partitions by this map.
        store._key_partition[key] = partition
        self._pending[key] = (partition, value)

    def seal(self) -> list[Record]:
        pending, self._pending = self._pending, {}
        return [(partition, key, value) for key, (partition, value) in pending.items()]

    async def send(self, records: list[Record]) -> None:
        """Produce ``records`` and wait for every ack; retries until the broker takes them."""
        while records:
            failed = await self._send(records)
            if not failed:
                return
            logger.error("%d changelog writes failed; retrying", len(failed))
            await asyncio.sleep(_RETRY_S)
            records = failed

    async def _send(self, records: list[Record]) -> list[Record]:
        producer = self._ensure_producer()
        topic = self.table.changelog_topic.get_topic_name()
        self._failed = []
        dumps = orjson.dumps
        for partition, key, value in records:
            # Encoded here, not kept in a list: thousands of live orjson buffers cost
            # more in allocation than the encoding itself.
            while True:
                try:
                    producer.produce(topic, key=dumps(key), value=dumps(value), partition=partition)
                    break
                except BufferError:
                    producer.poll(0.01)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, producer.flush, 10.0):
            logger.warning("changelog flush still waiting for acks")
        failed, self._failed = self._failed, []
        return failed

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        # Reported for failures only (delivery.report.only.error): no Python call per record.
        if err is not None:
            self._failed.append(
                (msg.partition(), orjson.loads(msg.key()), orjson.loads(msg.value()))
            )

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                producer_config(
                    settings,
                    **{
                        "client.id": f"{settings.namespace}-{self.table.name}-changelog",
                        "linger.ms": 2,
                        "batch.num.messages": 10000,
                        "delivery.report.only.error": True,
                        "on_delivery": self._on_delivery,
                        **self._overrides,
                    },
                )
            )
        return self._producer


marks_log = BatchedChangelog(engagement_marks)
lifecycle_log = BatchedChangelog(post_lifecycle)


class Counters:
    """Each post's counts (derived from the marks) and what changed since the last flush."""

    def __init__(self) -> None:
        self.counts: dict[str, list[int]] = {}
        self.dirty_posts: set[str] = set()
        # post_id -> user_id -> likes now; projected to the Redis likers set at flush.
        self.dirty_likers: dict[str, dict[str, bool]] = {}

    def add(self, post_id: str, index: int, delta: int) -> None:
        vector = self.counts.get(post_id)
        if vector is None:
            vector = self.counts[post_id] = empty_counts()
        vector[index] += delta

    def recompute(self, marks: Iterable[tuple[MarkKey, list[Any]]]) -> None:
        """Rebuild from the table after a recovery; everything is flushed again."""
        parsed = {key: Mark.from_json(value) for key, value in marks if value}
        self.counts = counts_from_marks(parsed)
        self.dirty_posts = {key[0] for key in parsed} | set(self.counts)
        self.dirty_likers = {}
        for (post_id, tag, member), mark in parsed.items():
            if tag == "l":
                self.dirty_likers.setdefault(post_id, {})[member] = mark.present


counters = Counters()


def lifecycle_of(post_id: str) -> str | None:
    """live, deleted, or None while the post is unknown to the counters."""
    value = lifecycle_log.raw.get(post_id)
    return value[0] if value else None


def is_live(post_id: str) -> bool:
    return lifecycle_of(post_id) == LIVE


def is_deleted(post_id: str) -> bool:
    return lifecycle_of(post_id) == DELETED
