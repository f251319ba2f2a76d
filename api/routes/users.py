"""Profiles: read one (by id or username), edit one's own, delete one's account.

Every read goes through the visibility policy: a deleted account, or one with a block
either way between it and the viewer, is 404 like an unknown one.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from api import credentials as cred
from api.deps import (
    CurrentUser,
    DbDep,
    IdempotencyKey,
    KeysDep,
    ProducerDep,
    RedisDep,
    SettingsDep,
)
from api.errors import ApiError, error_responses
from api.readers.graph import read_counts
from api.readers.users import read_editable_profile, read_profile, user_id_for_username
from api.writes import publish
from domain.accounts import InvalidAccountField, UsernameTaken, edit_profile, validate_username
from domain.clock import now_ms
from schemas.views import AcceptedPublic, ProfileUpdate, UserProfilePublic

router = APIRouter(prefix="/users", tags=["users"])


# Literal paths before /{user_id}, which would otherwise take "me" for an id.
@router.get("/me", response_model=UserProfilePublic, responses=error_responses(401, 404))
async def read_me(
    redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> UserProfilePublic:
    """Read the token's user's own profile."""
    return await read_profile(redis, db, keys, viewer, viewer)


@router.delete(
    "/me",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=AcceptedPublic,
    responses=error_responses(401, 404, 503),
)
async def delete_me(
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    settings: SettingsDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Delete one's account. Every session ends and the username stays reserved for the
    grace period; the account and everything of it (posts, stories, comments, likes,
    saves, shares, follows, media) leave every view within moments and are removed, and
    its last traces go once the grace period is over. 202 with the event id; an account
    already deleted is 404."""
    retry = bool(idempotency_key) and bool(
        await redis.exists(keys.idempotency(user, idempotency_key or ""))
    )
    if not retry:
        await read_editable_profile(redis, db, keys, user)  # NotFound once deleted
    account = await cred.read_account(db, user)
    username = account.username if account else ""
    answer = await publish(
        redis,
        keys,
        producer,
        event_type="account_deleted",
        user_id=user,
        idempotency_key=idempotency_key,
        username=username,
    )
    # After the event: a failure here answers 503 and a retry (same key) finishes it.
    await cred.close_account(
        db,
        user,
        username,
        grace_s=settings.username_grace_s,
        refresh_ttl_s=settings.refresh_token_ttl_s,
        now_ms=now_ms(),
    )
    return answer


@router.get(
    "/by-username/{username}",
    response_model=UserProfilePublic,
    responses=error_responses(401, 404),
)
async def read_user_by_username(
    username: str, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> UserProfilePublic:
    """Read a profile by username (any spelling: case and width do not matter). Users
    made by events alone, without a registered account, are found by id only."""
    user_id = await user_id_for_username(db, username)
    return await read_profile(redis, db, keys, viewer, user_id)


@router.get(
    "/{user_id}",
    response_model=UserProfilePublic,
    responses=error_responses(404, 401),
)
async def read_user(
    user_id: str, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> UserProfilePublic:
    """Read a user's profile with follower, following and post counts."""
    return await read_profile(redis, db, keys, viewer, user_id)


@router.patch(
    "/me",
    response_model=UserProfilePublic,
    responses=error_responses(401, 404, 409, 422, 503),
)
async def update_me(
    body: ProfileUpdate,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> UserProfilePublic:
    """Edit one's profile: fields left out keep their values. A new username is claimed
    first (409 `username_taken`), then the old one is freed. Answers the new profile;
    reads show it once the stream has applied it, within moments."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "username" in changes:
        try:
            changes["username"] = validate_username(changes["username"])
        except InvalidAccountField as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
    current = await read_editable_profile(redis, db, keys, user)
    edited = edit_profile(current, changes)
    renamed = edited.username != current.username
    if renamed and not await cred.claim_username(db, edited.username, user, now_ms()):
        raise UsernameTaken(edited.username)
    if edited != current:
        await publish(
            redis,
            keys,
            producer,
            event_type="profile_updated",
            user_id=user,
            idempotency_key=idempotency_key,
            username=edited.username,
            display_name=edited.display_name,
            is_private=edited.is_private,
            bio=edited.bio,
        )
    if renamed:
        # After the event: a retry of a failed publish still sees the old name as its.
        await cred.set_account_username(db, user, edited.username)
        await cred.release_username(db, current.username, user)
    followers, following, posts = await read_counts(redis, db, keys, user)
    return UserProfilePublic(
        user_id=user,
        username=edited.username,
        display_name=edited.display_name,
        is_private=edited.is_private,
        bio=edited.bio,
        followers=followers,
        following=following,
        posts=posts,
    )
