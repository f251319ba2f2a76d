"""Follows, follow requests, blocks, mutes, close friends and the follower lists.

Every write asks ``domain.visibility`` with the facts ``api.readers`` fetched, then
publishes the graph event (``api.writes.publish``, so an ``Idempotency-Key`` makes a
retry safe); the worker applies it moments later. An account the viewer may not see
is a 404, never a 403. The literal ``/users/me/...`` routes are declared first, so no
``/users/{user_id}/...`` route reads ``me`` as a user id.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, Path, Query, status
from pydantic import Field

from api.deps import CurrentUser, Cursor, DbDep, IdempotencyKey, KeysDep, ProducerDep, RedisDep
from api.errors import ApiError, error_responses
from api.readers.graph import (
    blocks,
    has_request,
    read_follow_requests,
    read_follows,
    read_own_list,
    read_target,
)
from api.writes import IDEMPOTENCY_TTL_S, publish
from clients.kafka import EventProducer
from domain.errors import NotFound
from domain.visibility import FollowOutcome, Relation, follow_outcome
from schemas.redis_keys import RedisKeys
from schemas.views import AcceptedPublic, UsersPage

router = APIRouter(prefix="/users", tags=["graph"])

MAX_LIMIT = 200

_WRITE_ERRORS = error_responses(401, 404, 422, 503)
_READ_ERRORS = error_responses(400, 401)
_LIST_ERRORS = error_responses(400, 401, 404)

# Every write answers 202 once its event is on the log.
_ACCEPTED: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "response_model": AcceptedPublic,
    "responses": _WRITE_ERRORS,
}

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
UserId = Annotated[str, Path(min_length=1, max_length=128)]


class FollowAcceptedPublic(AcceptedPublic):
    """A follow accepted: where it stands once the worker applies it."""

    event_id: str | None = Field(  # type: ignore[assignment]
        default=None, description="the event published; null when nothing had to change"
    )
    state: str = Field(description="following | requested (a private account's owner decides)")


def _not_yourself(viewer: str, user_id: str, what: str) -> None:
    if user_id == viewer:
        raise ApiError(422, "invalid_request", f"you cannot {what} yourself")


async def _remembered(
    redis: aioredis.Redis, keys: RedisKeys, viewer: str, key: str | None
) -> FollowAcceptedPublic | None:
    """The answer a follow already gave under this Idempotency-Key (its state included)."""
    if key is None:
        return None
    previous = await redis.get(keys.idempotency(viewer, f"follow-answer:{key}"))
    return None if previous is None else FollowAcceptedPublic.model_validate(orjson.loads(previous))


async def _remember(
    redis: aioredis.Redis,
    keys: RedisKeys,
    viewer: str,
    key: str | None,
    answer: FollowAcceptedPublic,
) -> FollowAcceptedPublic:
    """Keep the first answer under this key; a concurrent retry that lost gets it."""
    if key is None:
        return answer
    cache_key = keys.idempotency(viewer, f"follow-answer:{key}")
    if await redis.set(cache_key, answer.model_dump_json(), nx=True, ex=IDEMPOTENCY_TTL_S):
        return answer
    return await _remembered(redis, keys, viewer, key) or answer


async def _publish_about(
    redis: aioredis.Redis,
    keys: RedisKeys,
    producer: EventProducer,
    viewer: str,
    user_id: str,
    event_type: str,
    idempotency_key: str | None,
) -> AcceptedPublic:
    """Publish ``event_type`` by the viewer about ``user_id`` (the graph topic's key)."""
    return await publish(
        redis,
        keys,
        producer,
        event_type=event_type,
        user_id=viewer,
        idempotency_key=idempotency_key,
        target_id=user_id,
    )


# Writes that only need the other account visible: (method, path, event type, route name,
# verb for the refusal of oneself, summary). One route each, as below.
TARGET_WRITES: tuple[tuple[str, str, str, str, str, str], ...] = (
    (
        "POST",
        "/me/close-friends/{user_id}",
        "close_friend_added",
        "create_close_friend",
        "list",
        "Add someone to your close friends.",
    ),
    (
        "DELETE",
        "/me/close-friends/{user_id}",
        "close_friend_removed",
        "delete_close_friend",
        "unlist",
        "Remove someone from your close friends.",
    ),
    (
        "POST",
        "/{user_id}/mute",
        "mute",
        "create_mute",
        "mute",
        "Mute a user: their posts and stories leave your feed and tray; the follow stays.",
    ),
    (
        "DELETE",
        "/{user_id}/mute",
        "unmute",
        "delete_mute",
        "unmute",
        "Unmute a user: their newest posts and live stories come back.",
    ),
)


def _target_write(event_type: str, name: str, verb: str, summary: str) -> Any:
    async def write(
        user_id: UserId,
        redis: RedisDep,
        db: DbDep,
        keys: KeysDep,
        producer: ProducerDep,
        viewer: CurrentUser,
        idempotency_key: IdempotencyKey = None,
    ) -> AcceptedPublic:
        _not_yourself(viewer, user_id, verb)
        await read_target(redis, db, keys, viewer, user_id)
        return await _publish_about(
            redis, keys, producer, viewer, user_id, event_type, idempotency_key
        )

    write.__name__ = name
    write.__doc__ = summary
    return write


for _method, _path, _event_type, _name, _verb, _summary in TARGET_WRITES:
    router.add_api_route(
        _path, _target_write(_event_type, _name, _verb, _summary), methods=[_method], **_ACCEPTED
    )


# --- the viewer's own lists and requests ------------------------------------------------


@router.get("/me/follow-requests", response_model=UsersPage, responses=_READ_ERRORS)
async def read_my_follow_requests(
    redis: RedisDep, keys: KeysDep, viewer: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> UsersPage:
    """List the accounts waiting for your approval to follow you, newest first."""
    return await read_follow_requests(redis, keys, viewer, cursor=cursor, limit=limit)


async def _answer_request(
    redis: aioredis.Redis,
    keys: RedisKeys,
    producer: EventProducer,
    viewer: str,
    requester_id: str,
    event_type: str,
    idempotency_key: str | None,
) -> AcceptedPublic:
    if not await has_request(redis, keys, viewer, requester_id):
        raise NotFound(f"follow request from {requester_id!r}")
    return await _publish_about(
        redis, keys, producer, viewer, requester_id, event_type, idempotency_key
    )


@router.post("/me/follow-requests/{requester_id}/approve", **_ACCEPTED)
async def approve_follow_request(
    requester_id: UserId,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Let a pending requester follow you; they see your posts and stories once it lands."""
    return await _answer_request(
        redis, keys, producer, viewer, requester_id, "follow_request_approved", idempotency_key
    )


@router.post("/me/follow-requests/{requester_id}/deny", **_ACCEPTED)
async def deny_follow_request(
    requester_id: UserId,
    redis: RedisDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Turn down a pending follow request."""
    return await _answer_request(
        redis, keys, producer, viewer, requester_id, "follow_request_denied", idempotency_key
    )


@router.get("/me/close-friends", response_model=UsersPage, responses=_READ_ERRORS)
async def read_my_close_friends(
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List your close friends (who see your close-friends stories), in id order."""
    return await read_own_list(redis, db, keys, "close_friends", viewer, cursor=cursor, limit=limit)


@router.get("/me/blocked", response_model=UsersPage, responses=_READ_ERRORS)
async def read_my_blocked(
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List the accounts you blocked, in id order."""
    return await read_own_list(redis, db, keys, "blocked", viewer, cursor=cursor, limit=limit)


@router.get("/me/muted", response_model=UsersPage, responses=_READ_ERRORS)
async def read_my_muted(
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List the accounts you muted, in id order."""
    return await read_own_list(redis, db, keys, "muted", viewer, cursor=cursor, limit=limit)


# --- acting on another account ------------------------------------------------------------


@router.post(
    "/{user_id}/follow",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=FollowAcceptedPublic,
    responses=_WRITE_ERRORS,
)
async def create_follow(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> FollowAcceptedPublic:
    """Follow a user: a public account at once, a private one by request."""
    _not_yourself(viewer, user_id, "follow")
    remembered = await _remembered(redis, keys, viewer, idempotency_key)
    if remembered is not None:
        return remembered
    owner = await read_target(redis, db, keys, viewer, user_id)
    outcome = follow_outcome(owner.ties, owner.account)
    if outcome is FollowOutcome.ALREADY:
        state = "requested" if owner.relation is Relation.REQUESTER else "following"
        answer = FollowAcceptedPublic(event_id=None, state=state)
    elif outcome in (FollowOutcome.FOLLOW, FollowOutcome.REQUEST):
        follows = outcome is FollowOutcome.FOLLOW
        event_type = "follow" if follows else "follow_requested"
        accepted = await _publish_about(
            redis, keys, producer, viewer, user_id, event_type, idempotency_key
        )
        answer = FollowAcceptedPublic(
            event_id=accepted.event_id, state="following" if follows else "requested"
        )
    else:  # SELF and HIDDEN were refused above; the policy has the last word anyway
        raise NotFound(f"user {user_id!r}")
    return await _remember(redis, keys, viewer, idempotency_key, answer)


@router.delete("/{user_id}/follow", **_ACCEPTED)
async def delete_follow(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Unfollow a user, or withdraw your pending request to follow them."""
    _not_yourself(viewer, user_id, "unfollow")
    ties = (await read_target(redis, db, keys, viewer, user_id)).ties
    pending = ties.requested and not ties.follows
    return await _publish_about(
        redis,
        keys,
        producer,
        viewer,
        user_id,
        "follow_request_cancelled" if pending else "unfollow",
        idempotency_key,
    )


@router.post("/{user_id}/block", **_ACCEPTED)
async def create_block(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Block a user: follows and follow requests end both ways, and each is hidden from
    the other."""
    _not_yourself(viewer, user_id, "block")
    if not await blocks(db, viewer, user_id):  # blocking again is harmless
        await read_target(redis, db, keys, viewer, user_id)
    return await _publish_about(redis, keys, producer, viewer, user_id, "block", idempotency_key)


@router.delete("/{user_id}/block", **_ACCEPTED)
async def delete_block(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    viewer: CurrentUser,
    idempotency_key: IdempotencyKey = None,
) -> AcceptedPublic:
    """Unblock a user you blocked (follows are not restored)."""
    _not_yourself(viewer, user_id, "unblock")
    if not await blocks(db, viewer, user_id):  # someone your own block hides stays reachable
        await read_target(redis, db, keys, viewer, user_id)
    return await _publish_about(redis, keys, producer, viewer, user_id, "unblock", idempotency_key)


@router.get("/{user_id}/followers", response_model=UsersPage, responses=_LIST_ERRORS)
async def read_followers(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List a user's followers, one cursor page at a time (404 when their content is
    not yours to see)."""
    return await read_follows(
        redis, db, keys, "followers", user_id, cursor=cursor, limit=limit, viewer_id=viewer
    )


@router.get("/{user_id}/following", response_model=UsersPage, responses=_LIST_ERRORS)
async def read_following(
    user_id: UserId,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    viewer: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> UsersPage:
    """List the accounts a user follows, one cursor page at a time (404 when their
    content is not yours to see)."""
    return await read_follows(
        redis, db, keys, "following", user_id, cursor=cursor, limit=limit, viewer_id=viewer
    )
