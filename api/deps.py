"""Dependencies as ``Annotated`` aliases: a route's signature says what it uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import InvalidToken, verify_token
from api.errors import ApiError
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


def get_state(request: Request) -> AppState:
    return request.app.state.photostream  # type: ignore[no-any-return]


StateDep = Annotated[AppState, Depends(get_state)]


def get_redis(state: StateDep) -> aioredis.Redis:
    return state.redis


def get_db(state: StateDep) -> Db:
    return state.db


def get_producer(state: StateDep) -> EventProducer:
    return state.producer


def get_settings_dep(state: StateDep) -> Settings:
    return state.settings


def get_store(state: StateDep) -> ObjectStore:
    if state.store is None:
        raise ApiError(503, "unavailable", "the object store is not configured")
    return state.store


RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
DbDep = Annotated[Db, Depends(get_db)]
ProducerDep = Annotated[EventProducer, Depends(get_producer)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]

_bearer = HTTPBearer(auto_error=False, description="`photostream token USER_ID` prints one")


def get_current_user(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise ApiError(401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)")
    try:
        return verify_token(credentials.credentials, secret=state.secret)
    except InvalidToken as exc:
        raise ApiError(401, "unauthorized", str(exc)) from exc


CurrentUser = Annotated[str, Depends(get_current_user)]

# Write endpoints: a retry under the same key gets the first accepted answer (api.writes).
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=128)]
