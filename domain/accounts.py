"""Account rules without I/O: usernames, passwords, refresh-token rotation.

Usernames are compared in one canonical form: NFKC (so a full-width ``Ａｄａ`` and
``ada`` are one name), then lowercase; the result must be 1 to 30 characters of
``a-z``, ``0-9``, ``.`` and ``_``, and not dots alone. Passwords are kept as given
(no normalization, no composition rules) and must be 8 to 256 characters long.

Refresh tokens rotate: each use spends the token and hands out the next one of its
family (one family per login). A spent token presented again means two parties hold
it, so the whole family is revoked, the legitimate device included.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, fields, replace
from enum import StrEnum

from domain.errors import Conflict

USERNAME_MAX_CHARS = 30
PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 256

_USERNAME = re.compile(r"[a-z0-9._]+")


class InvalidAccountField(ValueError):
    """A username or password that breaks the rules; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UsernameTaken(Conflict):
    """Someone else holds this username (or it is reserved after a deletion)."""

    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken")
        self.username = username


def normalize_username(raw: str) -> str:
    """The canonical form two spellings of one name share (NFKC, then lowercase)."""
    return unicodedata.normalize("NFKC", raw).lower()


def validate_username(raw: str) -> str:
    """The canonical username, or ``InvalidAccountField`` saying which rule it breaks."""
    name = normalize_username(raw)
    if not name:
        raise InvalidAccountField("username", "must not be empty")
    if len(name) > USERNAME_MAX_CHARS:
        raise InvalidAccountField("username", f"at most {USERNAME_MAX_CHARS} characters")
    if not _USERNAME.fullmatch(name):
        raise InvalidAccountField(
            "username", "only letters a-z, digits, '.' and '_' (case does not matter)"
        )
    if not name.strip("."):
        raise InvalidAccountField("username", "must not be only dots")
    return name


def username_or_none(raw: str) -> str | None:
    """The canonical username, or None when ``raw`` cannot be one (lookups and logins:
    an impossible name is simply nobody's)."""
    try:
        return validate_username(raw)
    except InvalidAccountField:
        return None


def validate_password(password: str) -> None:
    """Refuse a password shorter than 8 or longer than 256 characters."""
    if len(password) < PASSWORD_MIN_CHARS:
        raise InvalidAccountField("password", f"at least {PASSWORD_MIN_CHARS} characters")
    if len(password) > PASSWORD_MAX_CHARS:
        raise InvalidAccountField("password", f"at most {PASSWORD_MAX_CHARS} characters")


class RefreshVerdict(StrEnum):
    ROTATE = "rotate"  # spend it and hand out the next token of the family
    RETRY = "retry"  # the same request again (Idempotency-Key) after its answer was lost
    UNKNOWN = "unknown"  # no such token, or expired: 401 invalid_refresh_token
    REVOKED = "revoked"  # its family was revoked (logout, reuse): 401 refresh_revoked
    REUSED = "reused"  # already spent: revoke the family, 401 refresh_reused


@dataclass(frozen=True)
class RefreshRecord:
    """A stored refresh token (by the hash of its text)."""

    family_id: str
    user_id: str
    expires_ms: int
    spent: bool


def judge_refresh(
    token: RefreshRecord | None,
    family_revoked: bool | None,
    now_ms: int,
    *,
    spent_by_this_request: bool = False,
) -> RefreshVerdict:
    """What presenting a refresh token does.

    ``family_revoked`` is None when the family is unknown (treated as revoked);
    ``spent_by_this_request`` is true when the token was spent by an earlier attempt
    under the same Idempotency-Key, whose answer the client never received.
    """
    if token is None or token.expires_ms <= now_ms:
        return RefreshVerdict.UNKNOWN
    if family_revoked is None or family_revoked:
        return RefreshVerdict.REVOKED
    if token.spent:
        return RefreshVerdict.RETRY if spent_by_this_request else RefreshVerdict.REUSED
    return RefreshVerdict.ROTATE


@dataclass(frozen=True)
class Profile:
    """The editable part of a profile."""

    username: str
    display_name: str
    bio: str
    is_private: bool


def edit_profile(current: Profile, changes: dict[str, object]) -> Profile:
    """The profile after a partial edit: fields not in ``changes`` keep their values."""
    editable = {f.name for f in fields(Profile)}
    return replace(current, **{k: v for k, v in changes.items() if k in editable})
