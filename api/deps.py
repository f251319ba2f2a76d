"""Dependencies as ``Annotated`` aliases: a route's signature says what it uses.

Each is ``async def`` though none awaits: FastAPI runs a plain ``def`` dependency in
its thread pool, a thread hop per dependency per request.

The lifespan keeps the clients it opened in one ``AppState``; routes never take it
whole but declare the clients and values they use (``RedisDep``, ``KeysDep``, ...),
and pass those on to readers and ``api.writes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import InvalidToken, verify_token
from api.errors import ApiError
from api.ratelimit import verified_user
from clients.cassandra import Db
from clients.kafka import EventProducer
from clients.objectstore import ObjectStore
from schemas.redis_keys import RedisKeys
from settings import Settings


@dataclass
class AppState:
    settings: Settings
    secret: str
    keys: RedisKeys
    redis: aioredis.Redis
    db: Db
    producer: EventProducer
    store: ObjectStore | None = None


async def get_state(request: Request) -> AppState:
    """What the lifespan opened; only the narrow dependencies below read it."""
    return request.app.state.photostream  # type: ignore[no-any-return]


_State = Annotated[AppState, Depends(get_state)]


async def get_redis(state: _State) -> aioredis.Redis:
    return state.redis


async def get_db(state: _State) -> Db:
    return state.db


async def get_keys(state: _State) -> RedisKeys:
    return state.keys


async def get_producer(state: _State) -> EventProducer:
    return state.producer


async def get_settings_dep(state: _State) -> Settings:
    return state.settings


async def get_secret(state: _State) -> str:
    return state.secret


async def get_store(state: _State) -> ObjectStore:
    if state.store is None:
        raise ApiError(503, "unavailable", "the object store is not configured")
    return state.store


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
DbDep = Annotated[Db, Depends(get_db)]
KeysDep = Annotated[RedisKeys, Depends(get_keys)]
ProducerDep = Annotated[EventProducer, Depends(get_producer)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SecretDep = Annotated[str, Depends(get_secret)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]

_bearer = HTTPBearer(
    auto_error=False,
    description="`POST /v1/accounts/login` answers one (`photostream token USER_ID` for local "
    "development)",
)


async def get_current_user(
    request: Request,
    secret: SecretDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    # The rate limiter verified this very header with the same secret already.
    verified = verified_user(request)
    if verified is not None:
        return verified
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    try:
        return verify_token(credentials.credentials, secret=secret)
    except InvalidToken as exc:
        raise ApiError(401, "unauthorized", str(exc)) from exc


CurrentUser = Annotated[str, Depends(get_current_user)]

# Paginated lists: the previous page's ``next_cursor``. Its length and shape are checked
# by ``domain.cursors``, so every malformed cursor answers 400 ``bad_cursor``.
Cursor = Annotated[
    str | None, Query(description="`next_cursor` of the previous page (opaque); omit for the first")
]

# Write endpoints: a retry under the same key gets the first accepted answer (api.writes).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
