"""Batched re-keyed sends without a broker: every copy in order, the whole batch again
while any is refused; a second agent's stream acks what it does not own at once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError

from schemas.events import make_event
from streams import forward
from streams.forward import Forwarder, acked_elsewhere


class FakeProducer:
    """librdkafka as the forwarder uses it; ``refuse`` fails those values' first delivery."""

    def __init__(self, forwarder: Forwarder, refuse: set[bytes]) -> None:
        self.forwarder = forwarder
        self.refuse = refuse
        self.produced: list[tuple[str, bytes, bytes]] = []
        self._queued: list[bytes] = []

    def produce(self, topic: str, *, key: bytes, value: bytes) -> None:
        self.produced.append((topic, key, value))
        self._queued.append(value)

    def poll(self, _: float) -> int:
        return 0

    def flush(self, _: float) -> int:
        for value in self._queued:
            if value in self.refuse:
                self.refuse.discard(value)
                self.forwarder._on_delivery(KafkaError(KafkaError._MSG_TIMED_OUT), None)  # type: ignore[arg-type]
        self._queued = []
        return 0


def _forwarder(
    monkeypatch: pytest.MonkeyPatch, refuse: set[bytes]
) -> tuple[Forwarder, FakeProducer]:
    monkeypatch.setattr(forward, "_RETRY_S", 0.0)
    forwarder = Forwarder("ns.hashtags", {"bootstrap.servers": "unused:1"})
    producer = FakeProducer(forwarder, refuse)
    monkeypatch.setattr(forwarder, "_ensure_producer", lambda: producer)
    return forwarder, producer


async def test_forwarder_sends_every_copy_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    forwarder, producer = _forwarder(monkeypatch, set())
    await forwarder.send([(b"a", b"1"), (b"b", b"2"), (b"a", b"3")])
    assert producer.produced == [
        ("ns.hashtags", b"a", b"1"),
        ("ns.hashtags", b"b", b"2"),
        ("ns.hashtags", b"a", b"3"),
    ]


async def test_forwarder_refused_copy_resends_the_whole_batch_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forwarder, producer = _forwarder(monkeypatch, {b"created"})
    await forwarder.send([(b"t", b"created"), (b"t", b"deleted")])
    values = [value for _, _, value in producer.produced]
    # The deletion is last again: resending only the creation would revive the post.
    assert values == [b"created", b"deleted", b"created", b"deleted"]


async def test_forwarder_sends_nothing_for_an_empty_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    forwarder, producer = _forwarder(monkeypatch, set())
    await forwarder.send([])
    assert producer.produced == []


class FakeStream:
    def __init__(self, values: list[bytes]) -> None:
        self.values = values
        self.acked: list[int] = []
        self.enable_acks = True

    async def events(self) -> Any:
        for offset, value in enumerate(self.values):
            yield SimpleNamespace(value=value, message=SimpleNamespace(offset=offset))

    async def ack(self, record: Any) -> bool:
        self.acked.append(record.message.offset)
        return True


async def test_acked_elsewhere_acks_undecodable_at_once_and_yields_the_rest() -> None:
    good = make_event("post_created", user_id="a1", post_id="p1", caption="", media=[]).to_json()
    stream = FakeStream([b"{not json", good])
    view = acked_elsewhere(stream)  # type: ignore[arg-type]
    view.enable_acks = False
    assert stream.enable_acks is False
    yielded = [record.message.offset async for record in view.events()]
    assert yielded == [1] and stream.acked == [0]
    await view.ack(SimpleNamespace(message=SimpleNamespace(offset=1)))
    assert stream.acked == [0, 1]
