"""Media state: Redis first, Cassandra behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis

from clients.cassandra import Db
from schemas.redis_hashes import MediaHash
from schemas.redis_keys import RedisKeys
from schemas.views import MediaPublic, VariantPublic

FILES_PREFIX = "/files"

_SELECT = "SELECT owner_id, kind, state, variants, placeholder, reason, width, height FROM media WHERE media_id = ?"


def file_url(object_key: str) -> str:
    return f"{FILES_PREFIX}/{object_key}"


def _public(media_id: str, media: MediaHash) -> MediaPublic:
    variants = [
        VariantPublic(
            name=v["name"],
            url=file_url(v["object_key"]),
            content_type=v["content_type"],
            width=v.get("width"),
            height=v.get("height"),
        )
        for v in media.variants or ()
    ]
    return MediaPublic(
        media_id=media_id,
        kind=media.kind or "photo",
        state=media.state or "pending",
        variants=variants,
        placeholder=media.placeholder,
        reason=media.reason,
        width=media.width,
        height=media.height,
    )


def queue_media(pipe: Any, keys: RedisKeys, media_ids: Sequence[str]) -> None:
    """One HGETALL per upload onto ``pipe``; ``media_of`` reads the replies."""
    for media_id in media_ids:
        pipe.hgetall(keys.media(media_id))


def media_of(media_ids: Sequence[str], rows: Sequence[Any]) -> dict[str, tuple[str, MediaPublic]]:
    """media_id -> (owner_id, state) for those Redis knows."""
    found = {m: MediaHash.from_fields(row) for m, row in zip(media_ids, rows, strict=True)}
    return {m: (h.owner_id or "", _public(m, h)) for m, h in found.items() if h is not None}


async def read_media_many(
    redis: aioredis.Redis, keys: RedisKeys, media_ids: Sequence[str]
) -> dict[str, tuple[str, MediaPublic]]:
    """media_id -> (owner_id, state) for those Redis knows, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        queue_media(pipe, keys, media_ids)
        rows = await pipe.execute()
    return media_of(media_ids, rows)


async def read_media(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, media_id: str
) -> tuple[str, MediaPublic] | None:
    """(owner_id, media) or None when no such upload exists."""
    cached = MediaHash.from_fields(await redis.hgetall(keys.media(media_id)))
    if cached is not None:
        return cached.owner_id or "", _public(media_id, cached)
    rows = await db.execute(_SELECT, (media_id,))
    if not rows:
        return None
    media = MediaHash.from_row(rows[0])
    return media.owner_id or "", _public(media_id, media)
