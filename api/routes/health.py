"""Liveness: of the process (``/livez``) and of every dependency (``/healthz``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import DbDep, ProducerDep, RedisDep
from domain.clock import SECOND_MS
from schemas.views import DependencyState, HealthPublic

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_S = 2.0


async def _check(probe: Callable[[], Awaitable[str]]) -> DependencyState:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
        return DependencyState(
            ok=True, detail=detail, latency_ms=(time.perf_counter() - started) * SECOND_MS
        )
    except Exception as exc:
        return DependencyState(
            ok=False, detail=f"{type(exc).__name__}: {exc or 'no answer in time'}"
        )


@router.get("/livez")
async def read_liveness() -> dict[str, bool]:
    """The process answers: no store is touched (the benchmarks' framework ceiling)."""
    return {"ok": True}


@router.get("/healthz", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def read_health(producer: ProducerDep, db: DbDep, redis: RedisDep) -> JSONResponse:
    """Report whether Kafka, Cassandra and Redis answer a real request right now."""

    async def kafka() -> str:
        loop = asyncio.get_running_loop()
        metadata = await loop.run_in_executor(
            None, lambda: producer.list_topics(timeout=CHECK_TIMEOUT_S)
        )
        return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topics"

    async def cassandra() -> str:
        rows = await db.execute("SELECT release_version FROM system.local")
        return f"release {rows[0].release_version}"

    async def redis_ping() -> str:
        await redis.ping()
        return "PONG"

    results = await asyncio.gather(_check(kafka), _check(cassandra), _check(redis_ping))
    deps = dict(zip(("kafka", "cassandra", "redis"), results, strict=True))
    ok = all(d.ok for d in deps.values())
    body = HealthPublic(status="ok" if ok else "degraded", dependencies=deps)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
