"""Faust's aiokafka transport with a cheaper hand-off of each fetched message.

Faust's consumer hands every message to the streams with
``wait_first(callback(message), suspend_flow.wait())``: four tasks and an
``asyncio.wait`` per message, about 30 µs here, which is a third of what a plain
Faust agent spends per event. Nearly always the hand-off finishes without
suspending (the stream buffer has room), so ``EagerConsumer`` first runs it to
its first suspension in place, the way Python 3.12's eager tasks do. Only a
hand-off that really has to wait (a full buffer, paused flow control) becomes a
task, and it still races ``suspend_flow`` exactly as before, so a rebalance
abandons it as Faust intends.

Faust also waits for every event in flight to be acked before a rebalance or a stop,
with no limit: one message that no stream acks holds the worker forever (a SIGTERM then
ends in a kill). ``EagerConsumer.wait_empty`` waits at most ``WAIT_EMPTY_S``, commits
what is acked and names what it left; those events are replayed by the next owner,
and every effect is idempotent. On a stop that is the last commit: Faust then cancels
the agents, and a stream acks the event it was processing when cancelled, so any later
commit would mark an event done that never finished.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport.drivers import aiokafka
from mode import Service
from mode.services import WaitResults


class _Resume:
    """Await a coroutine that has already run up to ``waiting``, its first suspension."""

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting = self.waiting
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # cancellation reaches the coroutine
                try:
                    waiting = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                waiting = self.coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def resume(coro: Coroutine[Any, Any, Any], waiting: Any) -> Any:
    return await _Resume(coro, waiting)


async def hand_off(service: Service, handoff: Any, suspended: Any) -> WaitResults:
    """``service.wait_first(handoff, suspended)``, running ``handoff`` eagerly first."""
    try:
        waiting = handoff.send(None)
    except StopIteration as stop:
        suspended.close()
        return WaitResults([handoff], [stop.value], False)
    except BaseException:
        suspended.close()
        raise
    # Service.wait_first itself: the override below would route this pair back here.
    return await Service.wait_first(service, resume(handoff, waiting), suspended)


# The longest a rebalance or a stop waits for events in flight (seconds).
WAIT_EMPTY_S = 5.0


class EagerConsumer(aiokafka.Consumer):
    # Set once a stopping worker has made its last commit (see the module docstring).
    _sealed = False

    async def commit(self, *args: Any, **kwargs: Any) -> bool:
        if self._sealed:
            return False
        return await super().commit(*args, **kwargs)

    async def on_stop(self) -> None:
        # Faust's own stop would wait and commit again, after the agents were cancelled.
        self._sealed = True
        self.transport._topic_waiters.clear()

    async def wait_empty(self) -> None:
        """Faust's wait for acks of events in flight, bounded by ``WAIT_EMPTY_S``."""
        deadline = time.monotonic() + WAIT_EMPTY_S
        while not self.should_stop and self._unacked_messages:
            await self.commit()
            self._clean_unacked_messages()
            if not self._unacked_messages:
                break
            if time.monotonic() >= deadline:
                left = sorted((m.topic, m.partition, m.offset) for m in self._unacked_messages)
                self.log.warning(
                    "gave up waiting for %d events in flight after %.0f s (they will be "
                    "replayed): %s",
                    len(left),
                    WAIT_EMPTY_S,
                    ", ".join(f"{t}[{p}]@{o}" for t, p, o in left[:10]),
                )
                break
            await self._wait_for_ack(timeout=1)
        await self.commit_and_end_transactions()
        if self.app.should_stop:
            self._sealed = True

    async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
        # Only the per-message hand-off: (callback(message), suspend_flow.wait()).
        if (
            len(coros) == 2
            and timeout is None
            and all(inspect.iscoroutine(c) for c in coros)
            and not self.should_stop
        ):
            return await hand_off(self, *coros)
        return await super().wait_first(*coros, timeout=timeout)


class Transport(aiokafka.Transport):
    Consumer = EagerConsumer
