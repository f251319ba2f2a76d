"""Accepting writes: validate, produce the event, answer with its id.

An ``Idempotency-Key`` makes a retry safe: the first accepted answer is kept in
Redis for a day and returned again, without producing a second event.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis

from api.errors import ApiError
from clients.kafka import EventProducer
from schemas.events import InvalidEvent, make_event
from schemas.redis_keys import RedisKeys
from schemas.views import AcceptedPublic

IDEMPOTENCY_TTL_S = 24 * 3600


async def publish(
    redis: aioredis.Redis,
    keys: RedisKeys,
    producer: EventProducer,
    *,
    event_type: str,
    user_id: str,
    idempotency_key: str | None = None,
    **fields: Any,
) -> AcceptedPublic:
    cache_key = keys.idempotency(user_id, idempotency_key) if idempotency_key else None
    if cache_key is not None:
        previous = await redis.get(cache_key)
        if previous is not None:
            return AcceptedPublic.model_validate(orjson.loads(previous))
    try:
        event = make_event(event_type, user_id=user_id, **fields)
    except InvalidEvent as exc:
        raise ApiError(422, "invalid_request", exc.reason) from exc
    answer = AcceptedPublic(event_id=event.event_id)
    if cache_key is not None:
        # Claim the key first: of two concurrent retries only one produces.
        claimed = await redis.set(
            cache_key, answer.model_dump_json(), nx=True, ex=IDEMPOTENCY_TTL_S
        )
        if not claimed:
            previous = await redis.get(cache_key)
            if previous is not None:
                return AcceptedPublic.model_validate(orjson.loads(previous))
    try:
        await producer.send_and_wait(event)
    except Exception as exc:
        if cache_key is not None:
            await redis.delete(cache_key)
        raise ApiError(503, "unavailable", f"could not write the event log: {exc}") from exc
    return answer
