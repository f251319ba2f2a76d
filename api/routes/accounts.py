"""Accounts: register, log in, refresh and log out.

None of these routes takes a bearer token: they hand tokens out. A session is a
short-lived access token (``settings.access_token_ttl_s``) plus an opaque refresh
token; each refresh spends the token and returns the next one of its family, and a
spent token presented again ends the whole family (it was copied). An access token
stays valid until it expires, even after logout; keep its lifetime short.

An ``Idempotency-Key`` makes a retry safe without keeping any token: a retried
registration or login (same key, same password) gets a new session and the session
of the lost answer is revoked; a retried refresh gets the next token and the one the
lost answer carried is spent, so only the client's copy works. Logout is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from fastapi import APIRouter, Request, Response, status

from api import credentials as cred
from api.auth import (
    hash_password,
    issue_access_token,
    needs_rehash,
    new_family_id,
    new_refresh_token,
    new_user_id,
    refresh_token_hash,
    verify_password,
)
from api.deps import DbDep, IdempotencyKey, KeysDep, ProducerDep, RedisDep, SecretDep, SettingsDep
from api.errors import ApiError, error_responses
from api.ratelimit import login_failed, login_refusal, login_succeeded, login_wait
from api.writes import IDEMPOTENCY_TTL_S, publish
from clients.cassandra import Db
from domain.accounts import (
    InvalidAccountField,
    RefreshVerdict,
    UsernameTaken,
    judge_refresh,
    normalize_username,
    username_or_none,
    validate_password,
    validate_username,
)
from domain.clock import now_ms
from schemas.redis_keys import RedisKeys
from schemas.views import (
    AccountCreate,
    AccountTokensPublic,
    Credentials,
    RefreshTokenBody,
    TokensPublic,
)
from settings import Settings

router = APIRouter(prefix="/accounts", tags=["accounts"])

_WRONG_CREDENTIALS = "wrong username or password"


# --- sessions ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Session:
    family_id: str
    tokens: TokensPublic


def _tokens(settings: Settings, secret: str, user_id: str, refresh: str, now: int) -> TokensPublic:
    ttl_s = settings.access_token_ttl_s
    return TokensPublic(
        user_id=user_id,
        access_token=issue_access_token(user_id, secret=secret, ttl_s=ttl_s, now=now / 1000),
        refresh_token=refresh,
        expires_in=ttl_s,
    )


async def _open_session(
    db: Db, settings: Settings, secret: str, user_id: str, now: int
) -> _Session:
    """A new family and its first refresh token."""
    family_id = new_family_id()
    refresh = new_refresh_token()
    ttl_s = settings.refresh_token_ttl_s
    await cred.create_family(db, family_id, user_id, ttl_s=ttl_s, now_ms=now)
    await cred.store_refresh_token(
        db, refresh_token_hash(refresh), family_id, user_id, ttl_s=ttl_s, now_ms=now
    )
    return _Session(family_id, _tokens(settings, secret, user_id, refresh, now))


def _with_username(session: _Session, username: str) -> AccountTokensPublic:
    return AccountTokensPublic(**session.tokens.model_dump(), username=username)


# --- idempotency records (never a token's text) -----------------------------------------


async def _recall(
    redis: aioredis.Redis, keys: RedisKeys, scope: str, key: str | None
) -> dict[str, Any] | None:
    if not key:
        return None
    raw = await redis.get(keys.idempotency(scope, key))
    return orjson.loads(raw) if raw else None  # type: ignore[no-any-return]


async def _remember(
    redis: aioredis.Redis, keys: RedisKeys, scope: str, key: str | None, record: dict[str, Any]
) -> None:
    if key:
        await redis.set(keys.idempotency(scope, key), orjson.dumps(record), ex=IDEMPOTENCY_TTL_S)


def _invalid(exc: InvalidAccountField) -> ApiError:
    return ApiError(422, "invalid_request", str(exc))


def _unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


# --- routes ----------------------------------------------------------------------------


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountTokensPublic,
    responses=error_responses(409, 422, 429, 503),
)
async def create_account(
    body: AccountCreate,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    producer: ProducerDep,
    settings: SettingsDep,
    secret: SecretDep,
    idempotency_key: IdempotencyKey = None,
) -> AccountTokensPublic:
    """Register: claim a username and open a session. 409 `username_taken` when the
    name is held (by anyone, in any spelling)."""
    try:
        username = validate_username(body.username)
        validate_password(body.password)
    except InvalidAccountField as exc:
        raise _invalid(exc) from exc
    now = now_ms()
    scope = f"register:{username}"
    earlier = await _recall(redis, keys, scope, idempotency_key)
    if earlier is not None:
        account = await cred.read_account(db, earlier["user_id"])
        if account is None or not await verify_password(account.password_hash, body.password):
            raise UsernameTaken(username)
        user_id = account.user_id
        if earlier.get("family_id"):
            await cred.revoke_family(db, earlier["family_id"], ttl_s=settings.refresh_token_ttl_s)
    else:
        user_id = new_user_id()
        password_hash = await hash_password(body.password)
        # The account row first: a claimed name always has an account behind it.
        await cred.create_account(db, user_id, username, password_hash, now)
        if not await cred.claim_username(db, username, user_id, now):
            await cred.delete_account(db, user_id)
            raise UsernameTaken(username)
        await _remember(redis, keys, scope, idempotency_key, {"user_id": user_id})
    await publish(
        redis,
        keys,
        producer,
        event_type="profile_updated",
        user_id=user_id,
        idempotency_key=idempotency_key,
        username=username,
        display_name=body.display_name,
        is_private=False,
        bio="",
    )
    session = await _open_session(db, settings, secret, user_id, now)
    await _remember(
        redis, keys, scope, idempotency_key, {"user_id": user_id, "family_id": session.family_id}
    )
    return _with_username(session, username)


@router.post(
    "/login",
    response_model=AccountTokensPublic,
    responses=error_responses(401, 422, 429),
)
async def login(
    body: Credentials,
    request: Request,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    settings: SettingsDep,
    secret: SecretDep,
    idempotency_key: IdempotencyKey = None,
) -> AccountTokensPublic:
    """Log in with username and password. A wrong username and a wrong password both
    answer 401 `invalid_credentials`, alike and at a like cost; repeated failures for
    a username or from an address answer 429 `rate_limited` for a growing while."""
    hooks: dict[str, Any] = {
        "username": normalize_username(body.username),
        "address": request.client.host if request.client else "",
    }
    # The limiter's back-off around the check: wait, then count a failure or clear.
    wait_s = await login_wait(redis, keys, settings, **hooks)
    if wait_s > 0:
        raise login_refusal(wait_s)
    username = username_or_none(body.username)
    account = await cred.account_by_username(db, username) if username else None
    matches = await verify_password(account.password_hash if account else None, body.password)
    if account is None or not matches:
        await login_failed(redis, keys, settings, **hooks)
        raise _unauthorized("invalid_credentials", _WRONG_CREDENTIALS)
    await login_succeeded(redis, keys, settings, **hooks)
    if needs_rehash(account.password_hash):
        await cred.set_password_hash(db, account.user_id, await hash_password(body.password))
    scope = f"login:{account.user_id}"
    earlier = await _recall(redis, keys, scope, idempotency_key)
    if earlier is not None:
        await cred.revoke_family(db, earlier["family_id"], ttl_s=settings.refresh_token_ttl_s)
    session = await _open_session(db, settings, secret, account.user_id, now_ms())
    await _remember(redis, keys, scope, idempotency_key, {"family_id": session.family_id})
    return _with_username(session, account.username)


@router.post("/refresh", response_model=TokensPublic, responses=error_responses(401, 422))
async def refresh_session(
    body: RefreshTokenBody,
    redis: RedisDep,
    db: DbDep,
    keys: KeysDep,
    settings: SettingsDep,
    secret: SecretDep,
    idempotency_key: IdempotencyKey = None,
) -> TokensPublic:
    """Trade a refresh token for a new access token and the next refresh token. A
    token works once: presenting a spent one ends every session of its login
    (401 `refresh_reused`); an ended session answers 401 `refresh_revoked`."""
    token_hash = refresh_token_hash(body.refresh_token)
    now = now_ms()
    record = await cred.read_refresh_token(db, token_hash)
    revoked = await cred.family_revoked(db, record.family_id) if record else None
    scope = f"refresh:{token_hash}"
    earlier = await _recall(redis, keys, scope, idempotency_key) if record else None
    verdict = judge_refresh(record, revoked, now, spent_by_this_request=earlier is not None)
    if verdict is RefreshVerdict.UNKNOWN or record is None:
        raise _unauthorized("invalid_refresh_token", "refresh token unknown or expired")
    if verdict is RefreshVerdict.REVOKED:
        raise _unauthorized("refresh_revoked", "this session has ended; log in again")
    ttl_s = settings.refresh_token_ttl_s
    # The token to spend now: this one, or the one the lost answer carried.
    spend_hash, spend_expires = (
        (earlier["next_hash"], earlier["next_expires_ms"])
        if verdict is RefreshVerdict.RETRY and earlier
        else (token_hash, record.expires_ms)
    )
    if verdict is RefreshVerdict.REUSED or not await cred.spend_refresh_token(
        db, spend_hash, spend_expires, now
    ):
        await cred.revoke_family(db, record.family_id, ttl_s=ttl_s)
        raise _unauthorized(
            "refresh_reused", "refresh token already used; every session of this login ended"
        )
    refresh = new_refresh_token()
    next_hash = refresh_token_hash(refresh)
    # Stored, then remembered: a retry under the same key finds a token it can spend.
    next_expires = await cred.store_refresh_token(
        db, next_hash, record.family_id, record.user_id, ttl_s=ttl_s, now_ms=now
    )
    await _remember(
        redis,
        keys,
        scope,
        idempotency_key,
        {"next_hash": next_hash, "next_expires_ms": next_expires},
    )
    # A revocation that raced this rotation wins: the new token is never handed out.
    if not await cred.extend_family(db, record.family_id, record.user_id, ttl_s=ttl_s):
        raise _unauthorized("refresh_revoked", "this session has ended; log in again")
    return _tokens(settings, secret, record.user_id, refresh, now)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(422),
)
async def logout(
    body: RefreshTokenBody,
    db: DbDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """End the session a refresh token belongs to (every token of its login). An
    unknown or already ended session answers 204 too: there is nothing left to end."""
    record = await cred.read_refresh_token(db, refresh_token_hash(body.refresh_token))
    if record is not None:
        await cred.revoke_family(db, record.family_id, ttl_s=settings.refresh_token_ttl_s)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
