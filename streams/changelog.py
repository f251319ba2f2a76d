"""Writing a table's changes a batch at a time: local store now, changelog per batch.

A Faust table write sends one changelog message through Faust's per-message producer
path (~170 µs here), which caps a table written per event at 2–4k events/s.
``BatchedChangelog`` writes values to the table's local store at once (later events of
the batch read them) and stages their changelog records; ``seal`` cuts the staged
records (the latest per key) and ``send`` produces them through one librdkafka
producer and returns once the broker acknowledged every one. The records are exactly
the ones Faust would write (JSON key and value, the source event's partition), so
Faust's own recovery reads them back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from streams.producing import batch_producer, flush, produce

logger = logging.getLogger(__name__)

# Backoff while the broker refuses changelog writes: the batch waits, nothing is acked.
_RETRY_S = 1.0

# (partition, key, value): a changelog record before its JSON encoding.
Record = tuple[int, Any, Any]


class BatchedChangelog:
    """Write many values of one (memory-store) table: the store now, records per batch.

    ``producer_config`` is the librdkafka configuration of the cluster (bootstrap
    servers, security); the writer adds its own batching and delivery settings.
    """

    def __init__(self, table: Any, producer_config: Mapping[str, Any]) -> None:
        self.table = table
        self._config = dict(producer_config)
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

    def delete(self, partition: int, key: Any) -> None:
        """Remove ``key`` now; its record is a tombstone (a null value, as Faust writes)."""
        store = self.table.data
        store.data.pop(key, None)
        store._key_partition.pop(key, None)
        self._pending[key] = (partition, None)

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
            encoded = None if value is None else dumps(value)
            produce(producer, topic, dumps(key), encoded, partition=partition)
        await flush(producer, "changelog flush")
        failed, self._failed = self._failed, []
        return failed

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        # Reported for failures only (delivery.report.only.error): no Python call per record.
        if err is not None:
            self._failed.append(
                (
                    msg.partition(),
                    orjson.loads(msg.key()),
                    None if msg.value() is None else orjson.loads(msg.value()),
                )
            )

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            name = self.table.changelog_topic.get_topic_name()
            self._producer = batch_producer(self._config, f"{name}-writer", self._on_delivery)
        return self._producer
