"""Rendered media files, served from the object store.

A file is its media's: it is served to a viewer who may see the media owner's content
(``domain.visibility``), with their bearer token, like every other route; anyone else
gets 404. Responses are cacheable by the viewer's client only (``private``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import CurrentUser, DbDep, KeysDep, RedisDep, StoreDep
from api.readers.media import read_media
from api.readers.ties import read_ties
from clients.objectstore import ObjectStoreError
from domain.errors import NotFound
from domain.visibility import may_see_content

router = APIRouter(tags=["media"])

# Variants are immutable (new renditions get new keys), so caches may keep them a year.
IMMUTABLE = "private, max-age=31536000, immutable"
# A Reel's master playlist is rewritten as each rung lands: caches must revalidate it.
REVALIDATE = "private, no-cache"


@router.get(
    "/files/{key:path}",
    response_class=Response,
    responses={401: {"description": "no token"}, 404: {"description": "no such file"}},
)
async def read_file(
    key: str, store: StoreDep, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> Response:
    """Fetch a rendered variant (or HLS playlist/segment) by its object key."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] not in ("variants", "videos"):
        raise NotFound("file")
    found = await read_media(redis, db, keys, parts[1])
    if found is None:
        raise NotFound("file")
    owner = (await read_ties(redis, keys, viewer, [found[0]]))[found[0]]
    if not may_see_content(owner.relation, owner.account):
        raise NotFound("file")
    try:
        meta = store.stat(key)
        data = store.get(key)
    except (ObjectStoreError, ValueError, KeyError):
        raise NotFound("file") from None
    return Response(
        content=data,
        media_type=meta.content_type,
        headers={
            "Cache-Control": REVALIDATE if key.endswith("/master.m3u8") else IMMUTABLE,
            "ETag": f'"{meta.sha256}"',
        },
    )
