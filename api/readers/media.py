"""Media state: Redis first, Cassandra behind it."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis

from clients.cassandra import Db
from schemas.redis_keys import RedisKeys
from schemas.views import MediaPublic, VariantPublic

FILES_PREFIX = "/files"

_SELECT = "SELECT owner_id, kind, state, variants, placeholder, reason, width, height FROM media WHERE media_id = ?"


def file_url(object_key: str) -> str:
    return f"{FILES_PREFIX}/{object_key}"


def _public(media_id: str, fields: dict[str, str]) -> MediaPublic:
    variants = [
        VariantPublic(
            name=v["name"],
            url=file_url(v["object_key"]),
            content_type=v["content_type"],
            width=v.get("width"),
            height=v.get("height"),
        )
        for v in orjson.loads(fields.get("variants") or "[]")
    ]
    return MediaPublic(
        media_id=media_id,
        kind=fields.get("kind") or "photo",
        state=fields.get("state") or "pending",
        variants=variants,
        placeholder=fields.get("placeholder") or None,
        reason=fields.get("reason") or None,
        width=int(fields["width"]) if fields.get("width") else None,
        height=int(fields["height"]) if fields.get("height") else None,
    )


async def read_media_many(
    redis: aioredis.Redis, keys: RedisKeys, media_ids: Sequence[str]
) -> dict[str, tuple[str, MediaPublic]]:
    """media_id -> (owner_id, state) for those Redis knows, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for media_id in media_ids:
            pipe.hgetall(keys.media(media_id))
        rows = await pipe.execute()
    return {
        m: (row.get("owner_id", ""), _public(m, row))
        for m, row in zip(media_ids, rows, strict=True)
        if row
    }


async def read_media(
    redis: aioredis.Redis, db: Db, keys: RedisKeys, media_id: str
) -> tuple[str, MediaPublic] | None:
    """(owner_id, media) or None when no such upload exists."""
    cached = await redis.hgetall(keys.media(media_id))
    if cached:
        return cached.get("owner_id", ""), _public(media_id, cached)
    rows = await db.execute(_SELECT, (media_id,))
    if not rows:
        return None
    row = rows[0]
    fields = {
        "kind": row.kind or "photo",
        "state": row.state or "pending",
        "variants": row.variants or "[]",
        "placeholder": row.placeholder or "",
        "reason": row.reason or "",
        "width": str(row.width or ""),
        "height": str(row.height or ""),
    }
    return row.owner_id or "", _public(media_id, fields)
