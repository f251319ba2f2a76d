"""Rendered media files, served from the object store (a CDN would front this)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import StoreDep
from clients.objectstore import ObjectStoreError
from domain.errors import NotFound

router = APIRouter(tags=["media"])

# Variants are immutable (new renditions get new keys), so caches may keep them a year.
IMMUTABLE = "public, max-age=31536000, immutable"
# A Reel's master playlist is rewritten as each rung lands: caches must revalidate it.
REVALIDATE = "public, no-cache"


@router.get(
    "/files/{key:path}", response_class=Response, responses={404: {"description": "no such file"}}
)
async def read_file(key: str, store: StoreDep) -> Response:
    """Fetch a rendered variant (or HLS playlist/segment) by its object key."""
    if not key.startswith(("variants/", "videos/")):
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
