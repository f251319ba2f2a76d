"""Bytes from a Faust stream -> validated events; failures go to the dead-letter topic.

Agents iterate ``valid_events(stream)`` and receive models, never dicts. A message
that fails to decode or validate, or whose processing keeps failing, is sent to
``<namespace>.dlq`` with the reason and its topic/partition/offset, and the stream
moves on: the worker never stops on bad input and never drops it silently.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import faust

from schemas.dead_letters import DeadLetter
from schemas.events import EventBase, InvalidEvent, decode_event
from streams.retry import with_attempts
from streams.topics import dlq_topic

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=EventBase)


async def dead_letter(message: Any, reason: str, stage: str) -> None:
    letter = DeadLetter.build(
        reason=reason,
        stage=stage,
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
    )
    logger.warning(
        "dead-lettered %s[%s]@%s (%s): %s",
        message.topic,
        message.partition,
        message.offset,
        stage,
        reason,
    )
    await dlq_topic.send(key=message.key, value=letter.to_json())


async def valid_events(
    stream: faust.StreamT, *, dead_letters: bool = True
) -> AsyncIterator[EventBase]:
    """Yield each message of ``stream`` as a validated event; dead-letter the rest.

    A second agent on the same topic passes ``dead_letters=False``: one letter per bad
    message, sent by the topic's owner.
    """
    async for event in stream.events():
        try:
            yield decode_event(event.value)
        except InvalidEvent as exc:
            if dead_letters:
                await dead_letter(event.message, exc.reason, "validate")


async def process_or_dead_letter(
    event: EventBase, handler: Callable[[EventBase], Awaitable[None]]
) -> bool:
    """Run ``handler`` with retries; dead-letter the current message if it keeps failing."""
    try:
        await with_attempts(f"{event.type} {event.event_id}", handler, event)
        return True
    except Exception as exc:
        logger.exception("giving up on %s %s", event.type, event.event_id)
        current = faust.current_event()
        if current is not None:
            await dead_letter(current.message, f"{type(exc).__name__}: {exc}", "process")
        return False
