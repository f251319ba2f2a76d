"""One librdkafka producer for a batch's writes: produce them all, then wait for every ack.

Shared by the batched changelog writer (``streams.changelog``) and the batched re-keyed
sends (``streams.forward``): delivery reports for failures only (no Python call per
message), a full local queue drained by polling, and a flush run off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

logger = logging.getLogger(__name__)


def batch_producer(
    config: Mapping[str, Any],
    client_id: str,
    on_failure: Callable[[KafkaError | None, Message], None],
) -> Producer:
    """A producer tuned for batches; ``on_failure`` hears of each refused message."""
    return Producer(
        {
            **config,
            "client.id": client_id,
            "linger.ms": 2,
            "batch.num.messages": 10000,
            "delivery.report.only.error": True,
            "on_delivery": on_failure,
        }
    )


def produce(producer: Producer, topic: str, key: bytes, value: bytes | None, **kw: Any) -> None:
    """Queue one message, waiting while the local queue is full."""
    while True:
        try:
            producer.produce(topic, key=key, value=value, **kw)
            return
        except BufferError:
            producer.poll(0.01)


async def flush(producer: Producer, what: str) -> None:
    """Until the broker has acknowledged (or refused) everything queued."""
    loop = asyncio.get_running_loop()
    while await loop.run_in_executor(None, producer.flush, 10.0):
        logger.warning("%s still waiting for acks", what)
