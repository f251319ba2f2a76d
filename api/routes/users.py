"""Profiles."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, DbDep, StateDep
from api.errors import not_found
from api.readers.users import get_user
from schemas.views import ErrorPublic, UserPublic

router = APIRouter(prefix="/users", tags=["users"])


@router.get(
    "/{user_id}",
    response_model=UserPublic,
    responses={404: {"model": ErrorPublic}, 401: {"model": ErrorPublic}},
)
async def read_user(user_id: str, state: StateDep, db: DbDep, viewer: CurrentUser) -> UserPublic:
    """Read a user's public profile."""
    user = await get_user(state.redis, db, state.keys, user_id)
    if user is None:
        raise not_found(f"user {user_id!r}")
    return user
