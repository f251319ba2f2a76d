"""Uploads and their processing state."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, UploadFile, status

from api.deps import (
    CurrentUser,
    DbDep,
    KeysDep,
    ProducerDep,
    RedisDep,
    SettingsDep,
    StoreDep,
)
from api.errors import ApiError, error_responses
from api.readers.media import read_media
from api.readers.ties import read_ties
from api.writes import publish
from domain.errors import NotFound
from domain.visibility import may_see_content
from schemas.views import MediaPublic, UploadAcceptedPublic

router = APIRouter(prefix="/media", tags=["media"])

# Declared types we accept; the worker verifies the bytes (magic, structure, pixels).
ACCEPTED_TYPES = {
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/heic",
    "image/heif",
    "image/avif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
}
_CHUNK = 1 << 20


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadAcceptedPublic,
    responses=error_responses(401, 413, 415, 422, 503),
)
async def create_media(
    file: UploadFile,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    settings: SettingsDep,
    store: StoreDep,
    owner: CurrentUser,
) -> UploadAcceptedPublic:
    """Upload a photo or video; it is stored durably and processed in the background."""
    content_type = (file.content_type or "").split(";")[0].strip().lower()
    if content_type not in ACCEPTED_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {content_type or 'missing'!r} is not accepted; one of {', '.join(sorted(ACCEPTED_TYPES))}",
        )
    limit = settings.media_max_upload_bytes
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(
                413, "payload_too_large", f"upload exceeds the {limit // (1024 * 1024)} MiB limit"
            )
        chunks.append(chunk)
    if size == 0:
        raise ApiError(422, "invalid_request", "the upload is empty")
    data = b"".join(chunks)
    # Hashing and fsync are blocking; keep them off the event loop.
    stored = await asyncio.get_running_loop().run_in_executor(
        None, lambda: store.put_original(data, content_type=content_type)
    )
    media_id = uuid.uuid4().hex
    accepted = await publish(
        redis,
        keys,
        producer,
        event_type="media_uploaded",
        user_id=owner,
        media_id=media_id,
        object_key=stored.key,
        content_type=content_type,
        size_bytes=size,
    )
    return UploadAcceptedPublic(media_id=media_id, event_id=accepted.event_id)


@router.get("/{media_id}", response_model=MediaPublic, responses=error_responses(401, 404))
async def read_media_state(
    media_id: str, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> MediaPublic:
    """Processing state, variants (URLs) and placeholder of an upload: the owner's, or
    one of an account whose content the viewer may see."""
    found = await read_media(redis, db, keys, media_id)
    if found is None:
        raise NotFound(f"media {media_id!r}")
    owner_id, media = found
    owner = (await read_ties(redis, keys, viewer, [owner_id]))[owner_id]
    if not may_see_content(owner.relation, owner.account):
        raise NotFound(f"media {media_id!r}")
    # Only the owner learns why processing failed.
    if media.state == "failed" and owner_id != viewer:
        media = media.model_copy(update={"reason": None})
    return media
