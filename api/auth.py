"""Bearer tokens, refresh tokens and password hashes.

Access tokens are HS256-signed JWTs whose subject is the user id: short-lived ones
from login carry ``typ: "access"``; the long-lived development tokens of
``photostream token`` carry no ``typ`` and are accepted too (local use and tests).
Refresh tokens are opaque random strings; only their SHA-256 is stored.

The secret comes from ``PHOTOSTREAM_SECRET_KEY``; without it a development secret
is generated once and kept in the data folder (mode 0600), so ``photostream token``
and the API agree on one machine. A deployment sets the variable and uses login.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's low-memory
profile); hashing is CPU work and runs in a thread, off the event loop.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

from settings import Settings

ALGORITHM = "HS256"
ACCESS = "access"
# Bytes of randomness in a refresh token (43 URL-safe characters).
REFRESH_TOKEN_BYTES = 32

_hasher = PasswordHasher()


class InvalidToken(Exception):
    pass


def load_secret(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    path: Path = settings.data_dir / "dev-secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together keep the first secret written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret


# --- access tokens -------------------------------------------------------------------


def issue_token(user_id: str, *, secret: str, ttl_s: int, now: float | None = None) -> str:
    """A development token naming ``user_id`` (``photostream token``; no ``typ``)."""
    issued = int(now if now is not None else time.time())
    return jwt.encode(
        {"sub": user_id, "iat": issued, "exp": issued + ttl_s}, secret, algorithm=ALGORITHM
    )


def issue_access_token(user_id: str, *, secret: str, ttl_s: int, now: float | None = None) -> str:
    """A short-lived access token from login or refresh."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "typ": ACCESS, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, *, secret: str) -> str:
    """Return the user id the token names, or raise ``InvalidToken`` saying why."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token expired") from exc
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"invalid token: {exc}") from exc
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise InvalidToken("invalid token: no subject")
    # Development tokens carry no type; anything typed must be an access token.
    if claims.get("typ", ACCESS) != ACCESS:
        raise InvalidToken("invalid token: not an access token")
    return subject


# --- refresh tokens ------------------------------------------------------------------


def new_refresh_token() -> str:
    """A fresh opaque refresh token (shown to the client once, never stored)."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def refresh_token_hash(token: str) -> str:
    """What is stored and looked up for a refresh token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_family_id() -> str:
    """One login's chain of refresh tokens."""
    return secrets.token_hex(16)


def new_user_id() -> str:
    """A fresh random user id for a registered account."""
    return secrets.token_hex(12)


# --- passwords -----------------------------------------------------------------------


async def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (encoded with its salt and parameters)."""
    return await run_in_threadpool(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash``.

    Without a stored hash (no such user) the password is checked against a dummy
    hash all the same, so a wrong username costs what a wrong password costs.
    """
    if stored_hash is None:
        await run_in_threadpool(_verify, await _dummy_hash(), password)
        return False
    return await run_in_threadpool(_verify, stored_hash, password)


def needs_rehash(stored_hash: str) -> bool:
    """The stored hash was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return False


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _dummy_hash() -> str:
    cached = _dummy.cache_info().currsize
    if cached:
        return _dummy()
    return await run_in_threadpool(_dummy)


@lru_cache(maxsize=1)
def _dummy() -> str:
    # Same parameters as real hashes, of a password nobody can send (too long).
    return _hasher.hash("x" * 300)
