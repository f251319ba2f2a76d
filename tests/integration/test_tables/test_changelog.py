"""The batched changelog writer against the real broker: acked records, failures returned."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from schemas.topics import DLQ
from streams.changelog import BatchedChangelog


def _writer(topic: str, **overrides: Any) -> BatchedChangelog:
    from clients.kafka import producer_config
    from settings import get_settings

    changelog = SimpleNamespace(get_topic_name=lambda: topic)
    table = SimpleNamespace(name="probe", changelog_topic=changelog)
    return BatchedChangelog(table, producer_config(get_settings(), **overrides))


async def test_acked_records_are_in_the_topic(namespace: str, settings: Any) -> None:
    topic = DLQ.name(namespace)
    records = [(p, f"k{p}", [p, f"v{p}"]) for p in range(DLQ.partitions)]

    assert await _writer(topic)._send(records) == []

    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{namespace}-probe"}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(DLQ.partitions)])
    seen = {m.value() for m in consumer.consume(1000, 5.0) if m.error() is None}
    consumer.close()
    assert {f'[{p},"v{p}"]'.encode() for p in range(DLQ.partitions)} <= seen


async def test_records_the_broker_never_took_are_returned(namespace: str) -> None:
    # Topic auto-creation is off, so these can only time out.
    writer = _writer(f"{namespace}.no-such-changelog", **{"message.timeout.ms": 1000})
    records = [(0, "a", [1]), (1, "b", [2])]

    assert sorted(await writer._send(records)) == records
