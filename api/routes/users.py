"""Profiles."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, DbDep, KeysDep, RedisDep
from api.errors import error_responses
from api.readers.graph import read_counts
from api.readers.users import get_user
from domain.errors import NotFound
from schemas.views import UserProfilePublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "/{user_id}",
    response_model=UserProfilePublic,
    responses=error_responses(404, 401),
)
async def read_user(
    user_id: str, redis: RedisDep, db: DbDep, keys: KeysDep, viewer: CurrentUser
) -> UserProfilePublic:
    """Read a user's public profile with follower, following and post counts."""
    user = await get_user(redis, db, keys, user_id)
    if user is None:
        raise NotFound(f"user {user_id!r}")
    followers, following, posts = await read_counts(redis, db, keys, user_id)
    return UserProfilePublic(
        **user.model_dump(), followers=followers, following=following, posts=posts
    )
