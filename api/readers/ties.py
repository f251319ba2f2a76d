"""The facts the visibility policy needs, for one viewer and many owners, in one round trip.

``read_ties`` is the one reader every route uses before ``domain.visibility`` decides
(``queue_ties``/``ties_of`` put the same reads in a pipeline of the caller's):
how the viewer stands to each owner (follows, close friend, requested, blocked either
way, muted) and the owner's account (private, deleted) with its profile card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from domain.errors import NotFound
from domain.visibility import Account, Relation, Ties, may_see_account, may_see_content, relation
from schemas.redis_hashes import ProfileHash
from schemas.redis_keys import RedisKeys
from schemas.views import UserPublic


@dataclass(frozen=True)
class Owner:
    """One owner as seen by one viewer."""

    ties: Ties
    account: Account
    profile: UserPublic
    known: bool  # a profile exists (accounts created by events alone may have none)

    @property
    def relation(self) -> Relation:
        return relation(self.ties)


def _profile(user_id: str, cached: ProfileHash | None) -> UserPublic:
    return UserPublic(
        user_id=user_id,
        username=(cached.username if cached else "") or user_id,
        display_name=cached.display_name if cached else "",
        is_private=bool(cached and cached.is_private),
        bio=cached.bio if cached else "",
    )


# Commands ``queue_ties`` puts on a pipeline before the owners' profiles.
_SETS = 5


def queue_ties(pipe: Any, keys: RedisKeys, viewer_id: str, owners: Sequence[str]) -> int:
    """The ties' commands onto ``pipe``; returns how many replies ``ties_of`` reads."""
    pipe.smismember(keys.following(viewer_id), owners)
    pipe.smismember(keys.close_friend_of(viewer_id), owners)
    pipe.smismember(keys.requests_sent(viewer_id), owners)
    pipe.smismember(keys.blocked(viewer_id), owners)
    pipe.smismember(keys.muted(viewer_id), owners)
    for owner in owners:
        pipe.hgetall(keys.user(owner))
    return _SETS + len(owners)


def ties_of(viewer_id: str, owners: Sequence[str], replies: Sequence[Any]) -> dict[str, Owner]:
    """owner_id -> ``Owner`` from the replies of ``queue_ties``."""
    follows, close, requested, blocked, muted = replies[:_SETS]
    out = {}
    for i, owner in enumerate(owners):
        cached = ProfileHash.from_fields(replies[_SETS + i])
        out[owner] = Owner(
            ties=Ties(
                viewer_id=viewer_id,
                owner_id=owner,
                follows=bool(follows[i]),
                close_friend=bool(close[i]),
                requested=bool(requested[i]),
                blocked=bool(blocked[i]),
                muted=bool(muted[i]),
            ),
            account=Account(
                private=bool(cached and cached.is_private),
                deleted=bool(cached and cached.deleted),
            ),
            profile=_profile(owner, cached),
            known=cached is not None,
        )
    return out


async def read_ties(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, owner_ids: Sequence[str]
) -> dict[str, Owner]:
    """owner_id -> ``Owner`` for each distinct owner, in one pipelined round trip."""
    owners = list(dict.fromkeys(owner_ids))
    if not owners:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        queue_ties(pipe, keys, viewer_id, owners)
        replies = await pipe.execute()
    return ties_of(viewer_id, owners, replies)


async def read_owner(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, owner_id: str
) -> Owner:
    """One owner; ``NotFound`` when the viewer may not even see the account."""
    owner = (await read_ties(redis, keys, viewer_id, [owner_id]))[owner_id]
    if not may_see_account(owner.relation, owner.account):
        raise NotFound(f"user {owner_id!r}")
    return owner


async def require_content(
    redis: aioredis.Redis, keys: RedisKeys, viewer_id: str, owner_id: str
) -> Owner:
    """One owner whose content (posts, stories, lists) the viewer may see; ``NotFound``
    otherwise, so a private account's content cannot be told from none."""
    owner = await read_owner(redis, keys, viewer_id, owner_id)
    if not may_see_content(owner.relation, owner.account):
        raise NotFound(f"user {owner_id!r}")
    return owner
