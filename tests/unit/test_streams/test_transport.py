"""The consumer's eager hand-off keeps Faust's wait_first semantics."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from mode import Service

from streams.transport import hand_off


async def _deliver(log: list[str], gate: asyncio.Event | None = None) -> str:
    log.append("started")
    if gate is not None:
        try:
            await gate.wait()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
    log.append("delivered")
    return "ok"


async def test_a_hand_off_that_never_waits_completes_in_place() -> None:
    log: list[str] = []
    suspend = asyncio.Event()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unawaited suspend coroutine would warn
        result = await hand_off(Service(), _deliver(log), suspend.wait())
    assert log == ["started", "delivered"]
    assert result.results == ["ok"] and not result.stopped


async def test_a_hand_off_that_waits_resumes_where_it_stopped() -> None:
    log: list[str] = []
    gate, suspend = asyncio.Event(), asyncio.Event()
    pending = asyncio.ensure_future(hand_off(Service(), _deliver(log, gate), suspend.wait()))
    await asyncio.sleep(0.01)
    assert log == ["started"]  # ran eagerly up to the gate, once
    gate.set()
    result = await asyncio.wait_for(pending, 1)
    assert log == ["started", "delivered"]
    assert result.results == ["ok"]


async def test_a_suspended_flow_abandons_a_waiting_hand_off() -> None:
    log: list[str] = []
    gate, suspend = asyncio.Event(), asyncio.Event()
    pending = asyncio.ensure_future(hand_off(Service(), _deliver(log, gate), suspend.wait()))
    await asyncio.sleep(0.01)
    suspend.set()
    await asyncio.wait_for(pending, 1)
    await asyncio.sleep(0.01)
    assert log == ["started", "cancelled"]
    gate.set()
    await asyncio.sleep(0.01)
    assert "delivered" not in log


async def test_an_error_in_the_hand_off_propagates() -> None:
    async def broken() -> None:
        raise ValueError("bad message")

    suspend = asyncio.Event()
    with pytest.raises(ValueError, match="bad message"):
        await hand_off(Service(), broken(), suspend.wait())


async def test_a_completing_recovery_holds_records_until_faust_resumes_the_flow() -> None:
    from types import SimpleNamespace

    from mode.utils.queues import FlowControlEvent

    from streams.app import hold_streams_until_seeked

    flow = FlowControlEvent(initially_suspended=False)
    await hold_streams_until_seeked(SimpleNamespace(flow_control=flow))  # type: ignore[arg-type]
    assert not flow.is_active()  # records wait instead of filling buffers about to be cleared
    flow.resume()  # what Faust does once the partitions are seeked
    assert flow.is_active()
