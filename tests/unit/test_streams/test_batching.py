"""The batch pipeline without a broker: apply now, durable per batch, acked only after."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from schemas.events import make_event
from streams.batching import Batching, BatchPipeline


class FakeStream:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def ack(self, record: Any) -> None:
        self.log.append(f"ack {record.message.offset}")


class FakeChangelog:
    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.staged: list[Any] = []

    def seal(self) -> list[Any]:
        staged, self.staged = self.staged, []
        return staged

    async def send(self, records: list[Any]) -> None:
        self.log.append(f"changelog {records}")


def _record(offset: int, value: bytes) -> Any:
    return SimpleNamespace(value=value, message=SimpleNamespace(partition=2, offset=offset))


def _like(post: str) -> bytes:
    return make_event("like", user_id="u1", post_id=post).to_json()


def _pipeline(
    log: list[str], changelog: FakeChangelog, **overrides: Any
) -> BatchPipeline[list[str]]:
    def apply(event: Any, partition: int, effects: list[str]) -> None:
        effects.append(event.post_id)
        changelog.staged.append((partition, event.post_id))

    async def write_effects(effects: list[str]) -> None:
        log.append(f"effects {effects}")

    options: dict[str, Any] = {"max_events": 10, "within_s": 0.01, **overrides}
    batching = Batching(
        apply=apply,
        new_effects=list,
        write_effects=write_effects,
        changelogs=[changelog],  # type: ignore[list-item]
        **options,
    )
    return BatchPipeline(FakeStream(log), batching)  # type: ignore[arg-type]


async def test_a_batch_is_acked_only_after_its_effects_and_changelog() -> None:
    log: list[str] = []
    changelog = FakeChangelog(log)
    pipeline = _pipeline(log, changelog)
    await pipeline.add(_record(0, _like("p1")))
    await pipeline.add(_record(1, _like("p2")))
    await pipeline.commit(*pipeline.seal())
    assert log == [
        "effects ['p1', 'p2']",
        "changelog [(2, 'p1'), (2, 'p2')]",
        "ack 0",
        "ack 1",
    ]


async def test_an_invalid_message_is_dead_lettered_before_its_ack(monkeypatch: Any) -> None:
    log: list[str] = []
    letters: list[tuple[int, str]] = []

    async def dead_letter(message: Any, reason: str, stage: str) -> None:
        letters.append((message.offset, stage))

    monkeypatch.setattr("streams.batching.dead_letter", dead_letter)
    pipeline = _pipeline(log, FakeChangelog(log))
    await pipeline.add(_record(0, b"{not json"))
    await pipeline.add(_record(1, _like("p1")))
    await pipeline.commit(*pipeline.seal())
    assert letters == [(0, "validate")]
    assert log[-2:] == ["ack 0", "ack 1"]  # the bad message is acked once its letter is out


async def test_a_full_batch_waits_for_room_while_it_commits() -> None:
    log: list[str] = []
    pipeline = _pipeline(log, FakeChangelog(log), max_events=2, within_s=10)
    await pipeline.add(_record(0, _like("p1")))
    await pipeline.add(_record(1, _like("p2")))
    third = asyncio.ensure_future(pipeline.add(_record(2, _like("p3"))))
    await asyncio.sleep(0.01)
    assert not third.done()  # two in the open batch: the third waits
    runner = asyncio.ensure_future(pipeline.run())
    await asyncio.wait_for(third, 1)
    runner.cancel()
    assert "ack 0" in log and "ack 1" in log
    assert [r.message.offset for r in pipeline.open.records] == [2]
