"""Re-keyed sends to a derived topic, a batch at a time: produce all, await every ack.

An agent on ``streams.batching`` that re-keys events stages the copies as its batch's
effects; ``Forwarder.send`` produces them through one librdkafka producer (the same
murmur2 key partitioning as Faust's producer) and returns once the broker acknowledged
every one, so the batch's events are acked only after their copies are on the log. A
crash before that replays the events and sends the copies again; the consumers of a
derived topic are idempotent, so duplicates change nothing.

A send the broker refuses is retried as the whole batch, in order: a later copy of
the same key (a deletion after its creation) may already be on the log, and sending
only the failed earlier one again would reorder the two. The whole batch again ends
with every key's copies in their order, whatever was delivered before.

``acked_elsewhere`` is for a second agent on a topic another agent dead-letters: it
acks invalid messages at once instead of letting the pipeline send a second letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import faust
from confluent_kafka import KafkaError, Message, Producer

from schemas.events import InvalidEvent, decode_event
from streams.producing import batch_producer, flush, produce

logger = logging.getLogger(__name__)

# Backoff while the broker refuses the copies: the batch waits, nothing is acked.
_RETRY_S = 1.0

# (key, value) of one copy, already encoded.
Copy = tuple[bytes, bytes]


class Forwarder:
    """Produce a batch's copies to one topic and wait until the broker has them all.

    ``topic`` is the derived topic's name (a callable, so a binding made before the
    namespace is final can be passed); ``producer_config`` is the librdkafka
    configuration of the cluster (``clients.kafka.producer_config``).
    """

    def __init__(self, topic: str | Callable[[], str], producer_config: Mapping[str, Any]) -> None:
        self._topic = topic
        self._config = dict(producer_config)
        self._producer: Producer | None = None
        self._failed = 0

    @property
    def topic(self) -> str:
        return self._topic() if callable(self._topic) else self._topic

    async def send(self, copies: Sequence[Copy]) -> None:
        """Produce ``copies`` in order and wait for every ack; the whole batch again while
        any is refused."""
        while copies:
            failed = await self._send(copies)
            if not failed:
                return
            logger.error(
                "%d of %d copies to %s failed; resending the batch", failed, len(copies), self.topic
            )
            await asyncio.sleep(_RETRY_S)

    async def _send(self, copies: Sequence[Copy]) -> int:
        producer = self._ensure_producer()
        topic = self.topic
        self._failed = 0
        for key, value in copies:
            produce(producer, topic, key, value)
        await flush(producer, f"copies to {topic}")
        failed, self._failed = self._failed, 0
        return failed

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        # Reported for failures only (delivery.report.only.error): no Python call per copy.
        if err is not None:
            self._failed += 1

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._producer = batch_producer(
                self._config, f"{self.topic}-forwarder", self._on_delivery
            )
        return self._producer


class _AckedElsewhere:
    """A stream as ``streams.batching`` sees it, minus the messages that do not decode."""

    def __init__(self, stream: faust.StreamT) -> None:
        self._stream = stream

    @property
    def enable_acks(self) -> bool:
        return bool(self._stream.enable_acks)

    @enable_acks.setter
    def enable_acks(self, value: bool) -> None:
        self._stream.enable_acks = value

    async def events(self) -> AsyncIterator[Any]:
        async for record in self._stream.events():
            try:
                decode_event(record.value)
            except InvalidEvent:
                # The topic's own agent dead-letters it; nothing here to wait for.
                await self._stream.ack(record)
                continue
            yield record

    async def ack(self, record: Any) -> bool:
        return bool(await self._stream.ack(record))


def acked_elsewhere(stream: faust.StreamT) -> Any:
    """``stream`` without the messages that fail to decode (acked at once, no letter)."""
    return _AckedElsewhere(stream)
