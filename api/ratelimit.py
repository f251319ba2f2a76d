"""Rate limits per user and client address, shared by every API process through Redis.

``install(app)`` puts a pure ASGI middleware in front of every route: it classifies the
method and path before routing (``domain.ratelimit``), verifies the bearer token once,
and runs ONE Lua script that checks and records the user's and the address's allowance
together. Over either: 429, ``Retry-After`` (whole seconds) and ``{"code":
"rate_limited", ...}``; allowed answers carry ``RateLimit-Limit``/``-Remaining``.

The count is a sliding window log (one sorted set of request times per class and
subject, as ``RedisKeys.rate`` lays out): exact at every instant, with no burst of twice
the limit across a window edge as fixed windows allow; a refused client learns exactly
when its oldest counted request leaves the window; each check is O(log n), n at most the
limit. GCRA would keep one number per subject, but a minute of times is small and the
window log needs no rate/burst tuning. The clock is Redis's (``TIME`` in the script),
so processes whose clocks disagree still share one window.

The failed-login back-off (``login_wait``, ``login_failed``, ``login_succeeded``) is
called by the login route, which alone knows the username.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import InvalidToken, verify_token
from api.errors import ApiError
from clients.lua import Lua
from domain import clock
from domain.ratelimit import (
    WINDOW_MS,
    Limits,
    Quota,
    RouteClass,
    address_subject,
    classify,
    login_backoff_s,
    login_failures_ttl_s,
    login_wait_s,
    quotas,
    refusal_message,
    retry_after_s,
    username_subject,
)
from schemas.redis_keys import RedisKeys
from schemas.views import ErrorPublic
from settings import Settings

logger = logging.getLogger(__name__)

# Where the middleware leaves the user id of a bearer token it verified, in the
# request's state, so the route's authentication need not decode the token again.
VERIFIED_USER = "photostream.verified_user"
# One warning per this many seconds while Redis cannot be reached, not one per request.
WARN_EVERY_S = 30.0

# KEYS: one sorted set per subject. ARGV[1] = window (ms); ARGV[2] = now (ms), or ""
# for the server's clock; ARGV[3] = this request's member; ARGV[4..] = each key's limit.
# When any subject is at its limit nothing is recorded and the wait (ms) until its
# oldest counted request leaves the window comes back: {wait, limit, 0}. Otherwise the
# request is recorded in every set (each kept a window past its newest request) and
# {0, limit, remaining} of the subject with the fewest requests left comes back.
SLIDING_WINDOW = Lua("""
local window = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local counts = {}
local wait, binding = 0, 0
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 + i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= cap then
    local oldest = redis.call('ZRANGE', key, count - cap, count - cap, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait, binding = w, cap end
  end
end
if wait > 0 then return {wait, binding, 0} end
local remaining = -1
for i, key in ipairs(KEYS) do
  local cap = tonumber(ARGV[3 + i])
  redis.call('ZADD', key, now, ARGV[3])
  redis.call('PEXPIRE', key, window)
  local left = cap - counts[i] - 1
  if remaining < 0 or left < remaining then remaining, binding = left, cap end
end
return {0, binding, remaining}
""")


@dataclass(frozen=True)
class Verdict:
    """What the script decided: ``wait_ms`` > 0 means refused; ``limit`` and
    ``remaining`` describe the tighter of the request's allowances."""

    wait_ms: int
    limit: int
    remaining: int

    @property
    def allowed(self) -> bool:
        return self.wait_ms <= 0


async def check(
    redis: aioredis.Redis,
    keys: RedisKeys,
    route_class: RouteClass,
    found: Sequence[Quota],
    *,
    window_ms: int = WINDOW_MS,
    now_ms: int | None = None,
) -> Verdict:
    """Check and record one request against every allowance in ``found``, atomically,
    in one round trip; ``now_ms`` replaces Redis's clock (tests)."""
    names = [keys.rate(route_class, quota.subject) for quota in found]
    args: list[Any] = [window_ms, "" if now_ms is None else now_ms, secrets.token_hex(8)]
    args.extend(quota.limit for quota in found)
    wait_ms, limit, remaining = await SLIDING_WINDOW(redis, names, args)
    return Verdict(int(wait_ms), int(limit), int(remaining))


def limits_from(settings: Settings) -> Limits:
    """The per-minute limits of settings. Logins and registrations have no figure of
    their own: they count in their own class with the writes figure, on top of the
    failed-login back-off."""
    return Limits(
        reads_per_min=settings.rate_reads_per_min,
        writes_per_min=settings.rate_writes_per_min,
        likes_per_min=settings.rate_likes_per_min,
        uploads_per_min=settings.rate_uploads_per_min,
        login_per_min=settings.rate_writes_per_min,
        per_ip_factor=settings.rate_per_ip_factor,
    )


class RateLimited(ApiError):
    """A refusal to raise from a route: 429 ``rate_limited`` with ``Retry-After``."""

    def __init__(self, wait_s: int, message: str) -> None:
        super().__init__(429, "rate_limited", message)
        self.wait_s = max(1, wait_s)


def _refusal_headers(wait_s: int, limit: int | None = None) -> dict[str, str]:
    headers = {"Retry-After": str(wait_s)}
    if limit:
        headers.update({"RateLimit-Limit": str(limit), "RateLimit-Remaining": "0"})
    return headers


def verified_user(request: Request) -> str | None:
    """The user id the middleware verified from this request's bearer token, if any."""
    state = request.scope.get("state")
    return state.get(VERIFIED_USER) if isinstance(state, dict) else None


def _bearer_user(scope: Scope, secret: str) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return None
            try:
                return verify_token(token.strip(), secret=secret)
            except InvalidToken:
                return None
    return None


class RateLimitMiddleware:
    """Refuses a request over its user's or its address's limit before any route runs.

    Redis unavailable (or the script failing for any reason): the request goes through
    and a warning is logged at most every ``WARN_EVERY_S``. Redis is the serving cache;
    refusing every request while it is away would turn the loss of a cache into an
    outage of the whole API, and the limits protect capacity, not secrets.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limits: tuple[Settings, Limits] | None = None
        self._warned_at = float("-inf")

    def _limits_of(self, settings: Settings) -> Limits:
        if self._limits is None or self._limits[0] is not settings:
            self._limits = (settings, limits_from(settings))
        return self._limits[1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route_class = classify(scope["method"], scope["path"]) if scope["type"] == "http" else None
        app = scope.get("app") if route_class else None
        state = getattr(app.state, "photostream", None) if app is not None else None
        if route_class is None or state is None or not state.settings.rate_limits_enabled:
            await self.app(scope, receive, send)
            return
        user_id = _bearer_user(scope, state.secret)
        if user_id is not None:
            scope.setdefault("state", {})[VERIFIED_USER] = user_id
        client = scope.get("client")
        found = quotas(
            route_class,
            user_id=user_id,
            address=client[0] if client else None,
            limits=self._limits_of(state.settings),
        )
        if not found:
            await self.app(scope, receive, send)
            return
        try:
            verdict = await check(state.redis, state.keys, route_class, found)
        except Exception as exc:
            self._warn(exc)
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            await _send_refusal(send, route_class, verdict)
            return
        await self.app(scope, receive, _with_headers(send, verdict))

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            logger.warning(
                "rate limits not checked (requests let through): %s: %s", type(exc).__name__, exc
            )


def _with_headers(send: Send, verdict: Verdict) -> Send:
    extra = [
        (b"ratelimit-limit", str(verdict.limit).encode()),
        (b"ratelimit-remaining", str(max(0, verdict.remaining)).encode()),
    ]

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), *extra]}
        await send(message)

    return send_with_headers


async def _send_refusal(send: Send, route_class: RouteClass, verdict: Verdict) -> None:
    wait_s = retry_after_s(verdict.wait_ms)
    message = refusal_message(route_class, wait_s)
    body = ErrorPublic(code="rate_limited", message=message).model_dump_json().encode()
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        **_refusal_headers(wait_s, verdict.limit),
    }
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- failed logins -------------------------------------------------------------------


def _login_keys(keys: RedisKeys, username: str | None, address: str | None) -> list[str]:
    subjects = [username_subject(username)] if username else []
    if address:
        subjects.append(address_subject(address))
    return [keys.login_failures(subject) for subject in subjects]


def _backoff(settings: Settings) -> dict[str, int]:
    return {
        "free_failures": settings.login_free_failures,
        "base_s": settings.login_backoff_base_s,
        "max_s": settings.login_backoff_max_s,
    }


async def login_wait(
    redis: aioredis.Redis,
    keys: RedisKeys,
    settings: Settings,
    *,
    username: str | None,
    address: str | None,
    now_ms: int | None = None,
) -> int:
    """Seconds the username and the address must still wait before a login attempt
    (the longer of the two); 0 when it may go. Redis unavailable: 0, with a warning."""
    names = _login_keys(keys, username, address)
    if not names:
        return 0
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(name, "count", "last_ms")
            rows = await pipe.execute()
    except Exception as exc:
        logger.warning("login back-off not checked: %s: %s", type(exc).__name__, exc)
        return 0
    now = clock.now_ms() if now_ms is None else now_ms
    return max(
        login_wait_s(int(count or 0), int(last or 0), now, **_backoff(settings))
        for count, last in rows
    )


async def login_failed(
    redis: aioredis.Redis,
    keys: RedisKeys,
    settings: Settings,
    *,
    username: str | None,
    address: str | None,
    now_ms: int | None = None,
) -> int:
    """Count a failed login against the username and the address; returns the seconds
    the next attempt must now wait (0 while failures are still free)."""
    names = _login_keys(keys, username, address)
    if not names:
        return 0
    now = clock.now_ms() if now_ms is None else now_ms
    try:
        async with redis.pipeline(transaction=True) as pipe:
            for name in names:
                pipe.hincrby(name, "count", 1)
                pipe.hset(name, "last_ms", now)
                pipe.expire(name, login_failures_ttl_s(settings.login_backoff_max_s))
            replies = await pipe.execute()
    except Exception as exc:
        logger.warning("failed login not counted: %s: %s", type(exc).__name__, exc)
        return 0
    return max(login_backoff_s(int(count), **_backoff(settings)) for count in replies[::3])


async def login_succeeded(
    redis: aioredis.Redis,
    keys: RedisKeys,
    settings: Settings,
    *,
    username: str | None,
    address: str | None,
) -> None:
    """Forget the username's failures; the address keeps its own (others may have
    failed from it)."""
    if not username:
        return
    try:
        await redis.delete(keys.login_failures(username_subject(username)))
    except Exception as exc:
        logger.warning("login failures not cleared: %s: %s", type(exc).__name__, exc)


def login_refusal(wait_s: int) -> RateLimited:
    """The error the login route raises when ``login_wait`` is not 0."""
    return RateLimited(wait_s, f"too many failed logins; try again in {max(1, wait_s)} s")


async def _rate_limited(_: Request, exc: Exception) -> JSONResponse:
    wait_s = getattr(exc, "wait_s", 1)
    body = ErrorPublic(code="rate_limited", message=str(exc))
    return JSONResponse(body.model_dump(), status_code=429, headers=_refusal_headers(wait_s))


_METHODS = frozenset({"get", "head", "options", "post", "put", "patch", "delete"})
_429 = {
    "description": "Too Many Requests: over the limit of the user or the address",
    "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}},
}


def _document_refusals(app: FastAPI) -> None:
    """List the 429 answer in the OpenAPI document of every limited operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("ErrorPublic", ErrorPublic.model_json_schema())
            for path, operations in schema.get("paths", {}).items():
                for method, operation in operations.items():
                    if method in _METHODS and classify(method, path) is not None:
                        operation.setdefault("responses", {}).setdefault("429", _429)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Put the limiter in front of every route, answer ``RateLimited`` with 429, and
    document that answer."""
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_middleware(RateLimitMiddleware)
    _document_refusals(app)
