"""Per-key locks: one key's events in order, other keys side by side, nothing left behind."""

from __future__ import annotations

import asyncio

from streams.keyed import KeyedLocks


async def test_one_keys_holders_run_in_arrival_order_while_other_keys_overlap() -> None:
    locks, log = KeyedLocks(), []
    gate = asyncio.Event()

    async def hold(key: str, name: str, wait: bool = False) -> None:
        async with locks.hold(key):
            log.append(f"{name} in")
            if wait:
                await gate.wait()
            log.append(f"{name} out")

    first = asyncio.ensure_future(hold("a", "a1", wait=True))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(hold("a", "a2"))
    other = asyncio.ensure_future(hold("b", "b1"))
    await asyncio.sleep(0.01)
    assert log == ["a1 in", "b1 in", "b1 out"]  # b ran while a1 held a; a2 waits
    gate.set()
    await asyncio.gather(first, second, other)
    assert log[3:] == ["a1 out", "a2 in", "a2 out"]
    assert len(locks) == 0  # dropped once nobody holds or waits


async def test_a_holder_that_raises_releases_its_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("a"):
        assert len(locks) == 1
