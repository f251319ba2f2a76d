"""Bearer tokens: HS256-signed JWTs whose subject is the user id.

The secret comes from ``PHOTOSTREAM_SECRET_KEY``; without it a development secret
is generated once and kept in the data folder (mode 0600), so ``photostream token``
and the API agree on one machine.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import jwt

from settings import Settings

ALGORITHM = "HS256"


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


def issue_token(user_id: str, *, secret: str, ttl_s: int, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    return jwt.encode(
        {"sub": user_id, "iat": issued, "exp": issued + ttl_s}, secret, algorithm=ALGORITHM
    )


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
    return subject
