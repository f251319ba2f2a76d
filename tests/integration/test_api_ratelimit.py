"""Rate limits on real Redis: the sliding-window script, the middleware, the login back-off."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI, Request

from api import ratelimit
from api.auth import issue_token
from api.deps import AppState
from api.ratelimit import (
    RateLimited,
    check,
    login_failed,
    login_refusal,
    login_succeeded,
    login_wait,
    verified_user,
)
from clients.redis import connect
from domain.ratelimit import WINDOW_MS, Quota, RouteClass
from schemas.redis_keys import RedisKeys
from settings import Settings
from tests.factories import unique
from tests.support import free_port

NOW = 1_700_000_000_000
SECRET = "rate-limit-test-secret-of-at-least-32-bytes"


@pytest.fixture
async def redis(namespace: str, settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = connect(settings)
    yield client
    await client.aclose()


@pytest.fixture
def keys(namespace: str) -> RedisKeys:
    return RedisKeys(namespace)


# --- the script --------------------------------------------------------------------------


async def test_the_limit_is_exact_and_a_refusal_says_when_the_oldest_request_leaves(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    quota = [Quota(unique("u:"), 3)]
    answers = [await check(redis, keys, RouteClass.READS, quota, now_ms=NOW + i) for i in range(3)]
    assert [(a.allowed, a.limit, a.remaining) for a in answers] == [
        (True, 3, 2),
        (True, 3, 1),
        (True, 3, 0),
    ]
    refused = await check(redis, keys, RouteClass.READS, quota, now_ms=NOW + 10_000)
    assert not refused.allowed
    assert refused.wait_ms == NOW + WINDOW_MS - (NOW + 10_000)  # the first request's exit
    assert refused.limit == 3


async def test_the_window_slides_one_request_at_a_time(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    quota = [Quota(unique("u:"), 2)]
    for at in (NOW, NOW + 20_000):
        assert (await check(redis, keys, RouteClass.READS, quota, now_ms=at)).allowed
    assert not (await check(redis, keys, RouteClass.READS, quota, now_ms=NOW + 59_999)).allowed
    # The first request has left the window; the second is still in it.
    assert (await check(redis, keys, RouteClass.READS, quota, now_ms=NOW + WINDOW_MS)).allowed
    late = await check(redis, keys, RouteClass.READS, quota, now_ms=NOW + WINDOW_MS + 1)
    assert late.wait_ms == NOW + 20_000 + WINDOW_MS - (NOW + WINDOW_MS + 1)


async def test_both_subjects_are_checked_and_recorded_together(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    user, address = Quota(unique("u:"), 5), Quota(unique("a:"), 2)
    other_user = Quota(unique("u:"), 5)
    assert (await check(redis, keys, RouteClass.LIKES, [user, address], now_ms=NOW)).allowed
    both = await check(redis, keys, RouteClass.LIKES, [other_user, address], now_ms=NOW + 1)
    assert (both.allowed, both.limit, both.remaining) == (True, 2, 0)  # the tighter one
    refused = await check(redis, keys, RouteClass.LIKES, [user, address], now_ms=NOW + 2)
    assert not refused.allowed and refused.limit == 2
    # The refused request counted against neither subject.
    assert await redis.zcard(keys.rate(RouteClass.LIKES, user.subject)) == 1
    assert await redis.zcard(keys.rate(RouteClass.LIKES, address.subject)) == 2


async def test_classes_count_apart(redis: aioredis.Redis, keys: RedisKeys) -> None:
    quota = [Quota(unique("u:"), 1)]
    assert (await check(redis, keys, RouteClass.LIKES, quota, now_ms=NOW)).allowed
    assert not (await check(redis, keys, RouteClass.LIKES, quota, now_ms=NOW)).allowed
    assert (await check(redis, keys, RouteClass.READS, quota, now_ms=NOW)).allowed


async def test_every_key_expires_a_window_after_its_newest_request(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    user, address = Quota(unique("u:"), 5), Quota(unique("a:"), 5)
    # Redis's own clock this time, as the API uses it.
    assert (await check(redis, keys, RouteClass.WRITES, [user, address])).allowed
    for quota in (user, address):
        ttl_ms = await redis.pttl(keys.rate(RouteClass.WRITES, quota.subject))
        assert 0 < ttl_ms <= WINDOW_MS


async def test_concurrent_requests_never_pass_the_limit_together(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    quota = [Quota(unique("u:"), 10), Quota(unique("a:"), 50)]
    answers = await asyncio.gather(
        *(check(redis, keys, RouteClass.WRITES, quota) for _ in range(40))
    )
    assert sum(a.allowed for a in answers) == 10
    assert await redis.zcard(keys.rate(RouteClass.WRITES, quota[0].subject)) == 10


# --- the middleware ----------------------------------------------------------------------


def _app(settings: Settings, redis: aioredis.Redis, keys: RedisKeys) -> FastAPI:
    app = FastAPI()
    ratelimit.install(app)

    @app.get("/v1/thing")
    async def read_thing(request: Request) -> dict[str, Any]:
        return {"user": verified_user(request)}

    @app.post("/v1/posts/{post_id}/like")
    async def like(post_id: str) -> dict[str, str]:
        return {"post_id": post_id}

    @app.get("/livez")
    async def live() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/accounts/login")
    async def login() -> None:
        raise login_refusal(7)

    app.state.photostream = AppState(
        settings=settings,
        secret=SECRET,
        keys=keys,
        redis=redis,
        db=None,
        producer=None,  # type: ignore[arg-type]
    )
    return app


@pytest.fixture
def client_for(
    namespace: str, redis: aioredis.Redis, keys: RedisKeys
) -> Callable[..., httpx.AsyncClient]:
    def make(address: str, **limits: Any) -> httpx.AsyncClient:
        small = {"rate_reads_per_min": 3, "rate_likes_per_min": 2, "rate_per_ip_factor": 2}
        app = _app(Settings(**{**small, **limits}), redis, keys)
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://api")

    return make


def _auth(user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user_id, secret=SECRET, ttl_s=600)}"}


async def test_over_the_limit_a_request_gets_429_json_and_retry_after(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    user = unique("u")
    async with client_for(unique("10.9.0.")) as client:
        allowed = [await client.get("/v1/thing", headers=_auth(user)) for _ in range(3)]
        refused = await client.get("/v1/thing", headers=_auth(user))
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert allowed[0].json() == {"user": user}  # the verified token, shared with the route
    assert [r.headers["RateLimit-Remaining"] for r in allowed] == ["2", "1", "0"]
    assert allowed[0].headers["RateLimit-Limit"] == "3"
    assert refused.status_code == 429
    wait_s = int(refused.headers["Retry-After"])
    assert 1 <= wait_s <= 60
    assert refused.json() == {
        "code": "rate_limited",
        "message": f"too many reads requests; try again in {wait_s} s",
    }


async def test_a_bad_token_counts_against_the_address_alone(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    forged = {
        "Authorization": "Bearer "
        + issue_token("victim", secret="another-secret-of-at-least-32-bytes", ttl_s=600)
    }
    async with client_for(unique("10.9.1.")) as client:
        codes = [(await client.get("/v1/thing", headers=forged)).status_code for _ in range(7)]
        # The victim named by the forged token still has every request of their own.
        victim = await client.get("/v1/thing", headers=_auth(unique("victim")))
    assert codes == [200] * 6 + [429]  # 3 per minute times the factor 2
    assert victim.status_code == 429  # but this address is spent for everyone


async def test_probes_are_never_counted_and_limits_can_be_turned_off(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    address = unique("10.9.2.")
    async with client_for(address) as client:
        assert {(await client.get("/livez")).status_code for _ in range(10)} == {200}
        assert "RateLimit-Limit" not in (await client.get("/livez")).headers
    async with client_for(address, rate_limits_enabled=False) as client:
        assert {(await client.get("/v1/thing")).status_code for _ in range(10)} == {200}
    async with client_for(address, rate_reads_per_min=0) as client:
        assert {(await client.get("/v1/thing")).status_code for _ in range(10)} == {200}


def test_the_openapi_document_lists_429_on_limited_operations_only(
    namespace: str, keys: RedisKeys
) -> None:
    paths = _app(Settings(), None, keys).openapi()["paths"]  # type: ignore[arg-type]
    assert "429" in paths["/v1/thing"]["get"]["responses"]
    assert "429" in paths["/v1/posts/{post_id}/like"]["post"]["responses"]
    assert "429" not in paths["/livez"]["get"]["responses"]


async def test_likes_and_reads_are_separate_classes(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    user = _auth(unique("u"))
    async with client_for(unique("10.9.3.")) as client:
        likes = [(await client.post("/v1/posts/p1/like", headers=user)).status_code for _ in "abc"]
        read = await client.get("/v1/thing", headers=user)
    assert likes == [200, 200, 429]
    assert read.status_code == 200


async def test_redis_unavailable_lets_requests_through_with_a_warning(
    namespace: str, keys: RedisKeys, caplog: pytest.LogCaptureFixture
) -> None:
    dead = connect(Settings(redis_port=free_port()))
    app = _app(Settings(rate_reads_per_min=1), dead, keys)
    transport = httpx.ASGITransport(app=app, client=("10.9.4.1", 40000))
    with caplog.at_level(logging.WARNING, logger="api.ratelimit"):
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            codes = [(await client.get("/v1/thing")).status_code for _ in range(3)]
    await dead.aclose()
    assert codes == [200, 200, 200]
    warnings = [r for r in caplog.records if "rate limits not checked" in r.getMessage()]
    assert len(warnings) == 1  # once per interval, not once per request


async def test_a_route_refusing_with_rate_limited_answers_429_and_retry_after(
    client_for: Callable[..., httpx.AsyncClient],
) -> None:
    async with client_for(unique("10.9.5.")) as client:
        refused = await client.post("/v1/accounts/login")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "7"
    assert refused.json() == {
        "code": "rate_limited",
        "message": "too many failed logins; try again in 7 s",
    }
    assert isinstance(login_refusal(0), RateLimited) and login_refusal(0).wait_s == 1


# --- failed logins -----------------------------------------------------------------------

BACKOFF = Settings(login_free_failures=2, login_backoff_base_s=10, login_backoff_max_s=40)


async def _fail(redis: aioredis.Redis, keys: RedisKeys, times: int, **who: Any) -> list[int]:
    return [await login_failed(redis, keys, BACKOFF, now_ms=NOW + i, **who) for i in range(times)]


async def test_failures_past_the_free_ones_double_the_wait_up_to_the_cap(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    who = {"username": unique("ada"), "address": unique("10.8.0.")}
    assert await login_wait(redis, keys, BACKOFF, now_ms=NOW, **who) == 0
    assert await _fail(redis, keys, 6, **who) == [0, 0, 10, 20, 40, 40]
    last = NOW + 5
    assert await login_wait(redis, keys, BACKOFF, now_ms=last, **who) == 40
    assert await login_wait(redis, keys, BACKOFF, now_ms=last + 39_001, **who) == 1
    assert await login_wait(redis, keys, BACKOFF, now_ms=last + 40_000, **who) == 0


async def test_a_success_clears_the_username_but_not_the_address(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    name, address = unique("ada"), unique("10.8.1.")
    await _fail(redis, keys, 3, username=name, address=address)
    await login_succeeded(redis, keys, BACKOFF, username=name.upper(), address=address)
    assert await login_wait(redis, keys, BACKOFF, username=name, address=None, now_ms=NOW) == 0
    # The address still owes its wait, whichever name is tried from it next.
    other = unique("bob")
    assert await login_wait(redis, keys, BACKOFF, username=other, address=address, now_ms=NOW) > 0


async def test_one_username_backs_off_from_every_address(
    redis: aioredis.Redis, keys: RedisKeys
) -> None:
    name = unique("ada")
    for i in range(3):
        await login_failed(
            redis, keys, BACKOFF, username=name, address=unique("10.8.2."), now_ms=NOW + i
        )
    fresh = unique("10.8.3.")
    assert (
        await login_wait(redis, keys, BACKOFF, username=name, address=fresh, now_ms=NOW + 2) == 10
    )


async def test_failure_counts_expire(redis: aioredis.Redis, keys: RedisKeys) -> None:
    name, address = unique("ada"), unique("10.8.4.")
    await _fail(redis, keys, 1, username=name, address=address)
    for subject in (f"n:{name}", f"a:{address}"):
        ttl_s = await redis.ttl(keys.login_failures(subject))
        assert 0 < ttl_s <= 2 * BACKOFF.login_backoff_max_s + 60


async def test_login_back_off_lets_logins_through_when_redis_is_away(keys: RedisKeys) -> None:
    dead = connect(Settings(redis_port=free_port()))
    who = {"username": "ada", "address": "10.8.5.1"}
    assert await login_failed(dead, keys, BACKOFF, **who) == 0
    assert await login_wait(dead, keys, BACKOFF, **who) == 0
    await login_succeeded(dead, keys, BACKOFF, **who)
    await dead.aclose()
