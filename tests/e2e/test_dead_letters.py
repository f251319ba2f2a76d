"""Garbage written by an ordinary Kafka client ends in the DLQ; the worker keeps going."""

from __future__ import annotations

import base64

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tests.factories import unique
from tests.support import wait_until


def _dlq_records(settings) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": unique("dlq-reader"),
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(f"{settings.namespace}.dlq", 0, OFFSET_BEGINNING)])
    records = []
    try:
        while True:
            msg = consumer.poll(1.0)
            if msg is None:
                break
            if not msg.error():
                records.append(orjson.loads(msg.value()))
    finally:
        consumer.close()
    return records


def test_garbage_and_invalid_events_are_dead_lettered_with_reason_and_origin(
    worker, api, settings, token_for
) -> None:  # type: ignore[no-untyped-def]
    # A plain confluent-kafka producer: none of the project's code is involved.
    raw = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    topic = f"{settings.namespace}.users"
    garbage = b"\xff\xfe not even utf-8 " + unique("g").encode()
    invalid = orjson.dumps(
        {
            "type": "profile_updated",
            "event_id": unique("e"),
            "occurred_at": "2026-01-01T00:00:00Z",
            "user_id": 7,
        }
    )
    raw.produce(topic, key=b"k1", value=garbage)
    raw.produce(topic, key=b"k1", value=invalid)
    # A valid event behind them on the same partition proves the worker kept going.
    user = unique("after-garbage")
    good = orjson.dumps(
        {
            "type": "profile_updated",
            "event_id": unique("e"),
            "occurred_at": "2026-01-01T00:00:00Z",
            "user_id": user,
            "username": "ok",
            "display_name": "OK",
            "is_private": False,
        }
    )
    raw.produce(topic, key=b"k1", value=good)
    assert raw.flush(10) == 0

    def dead() -> list[dict[str, object]] | None:
        found = [
            r
            for r in _dlq_records(settings)
            if r.get("value_b64")
            in (base64.b64encode(garbage).decode(), base64.b64encode(invalid).decode())
        ]
        return found if len(found) == 2 else None

    letters = wait_until(dead, timeout_s=30, interval_s=0.5, what="two dead letters")
    by_value = {base64.b64decode(r["value_b64"]): r for r in letters}  # type: ignore[arg-type]
    garbage_letter, invalid_letter = by_value[garbage], by_value[invalid]
    assert "not JSON" in garbage_letter["reason"]  # type: ignore[operator]
    assert "field 'user_id'" in invalid_letter["reason"]  # type: ignore[operator]
    for letter in letters:
        assert letter["source_topic"] == topic
        assert isinstance(letter["source_partition"], int)
        assert isinstance(letter["source_offset"], int)
        assert base64.b64decode(letter["key_b64"]) == b"k1"  # type: ignore[arg-type]
    assert invalid_letter["source_offset"] == garbage_letter["source_offset"] + 1  # type: ignore[operator]

    def visible() -> bool:
        return httpx.get(f"{api.url}/v1/users/{user}", headers=token_for("x")).status_code == 200

    wait_until(visible, timeout_s=30, what="the valid event after the garbage")
    assert worker.alive()
