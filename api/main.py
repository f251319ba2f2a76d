"""The read API and the write edge for clients that do not speak Kafka.

``create_app()`` is the composition root: the lifespan opens Redis, Cassandra and a
Kafka producer once per process; routers are included under ``/v1``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from api import errors, ratelimit
from api.auth import load_secret
from api.deps import AppState
from api.routes import (
    accounts,
    engagement,
    feeds,
    files,
    graph,
    health,
    media,
    posts,
    search,
    stories,
    trending,
    users,
)
from clients import cassandra as cassandra_client
from clients import redis as redis_client
from clients.kafka import EventProducer
from clients.objectstore import LocalObjectStore
from schemas.redis_keys import RedisKeys
from settings import Settings, get_settings

logger = logging.getLogger(__name__)

API_PREFIX = "/v1"


def build_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(accounts.router)
    # Before users: /users/me/saved must not be read as a user id.
    router.include_router(engagement.router)
    router.include_router(users.router)
    router.include_router(feeds.router)
    router.include_router(posts.router)
    router.include_router(graph.router)
    router.include_router(media.router)
    router.include_router(stories.router)
    router.include_router(trending.router)
    router.include_router(search.router)
    return router


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await cassandra_client.open_db(settings)
        state = AppState(
            settings=settings,
            secret=load_secret(settings),
            keys=RedisKeys(settings.namespace),
            redis=redis_client.connect(settings),
            db=db,
            producer=EventProducer(settings, **{"client.id": f"{settings.namespace}-api"}),
            store=LocalObjectStore(settings.media_dir),
        )
        app.state.photostream = state
        logger.info("API ready (namespace %s)", settings.namespace)
        try:
            yield
        finally:
            state.producer.close()
            await state.redis.aclose()
            db.close()

    app = FastAPI(
        title="photostream",
        version="1.0",
        summary="Feeds, stories, engagement and media views of a photo-and-video social app.",
        lifespan=lifespan,
    )
    errors.install(app)
    ratelimit.install(app)
    app.include_router(health.router)
    app.include_router(files.router)
    app.include_router(build_router())
    return app
