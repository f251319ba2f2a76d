"""Accounts, usernames and refresh tokens in Cassandra: every statement the accounts
routes run (tables of ``schemas/cql/0007_accounts.cql``).

Whatever must have one winner goes through a lightweight transaction (Paxos): claiming
and releasing a username, spending a refresh token, revoking or extending a family.
Plain reads before them are hints; the transaction decides. Nothing here logs or
returns a password or a token's text: tokens are looked up by their SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clients.cassandra import Db
from domain.accounts import RefreshRecord
from domain.clock import from_ms, to_ms


def _applied(rows: list[Any]) -> tuple[bool, Any]:
    """An LWT's answer: whether it applied, and the current row when it did not."""
    row = rows[0]
    return bool(row[0]), row


# --- accounts ------------------------------------------------------------------------

_INSERT_ACCOUNT = (
    "INSERT INTO accounts (user_id, username, password_hash, created_at) VALUES (?, ?, ?, ?)"
)
_SELECT_ACCOUNT = "SELECT username, password_hash FROM accounts WHERE user_id = ?"
_DELETE_ACCOUNT = "DELETE FROM accounts WHERE user_id = ?"
_SET_ACCOUNT_USERNAME = "UPDATE accounts SET username = ? WHERE user_id = ? IF EXISTS"
_SET_PASSWORD_HASH = "UPDATE accounts SET password_hash = ? WHERE user_id = ?"


@dataclass(frozen=True)
class StoredAccount:
    user_id: str
    username: str
    password_hash: str


async def create_account(
    db: Db, user_id: str, username: str, password_hash: str, now_ms: int
) -> None:
    await db.execute(_INSERT_ACCOUNT, (user_id, username, password_hash, from_ms(now_ms)))


async def delete_account(db: Db, user_id: str) -> None:
    """Remove an account row (a registration that lost its username claim, a deleted
    account)."""
    await db.execute(_DELETE_ACCOUNT, (user_id,))


async def read_account(db: Db, user_id: str) -> StoredAccount | None:
    rows = await db.execute(_SELECT_ACCOUNT, (user_id,))
    if not rows or not rows[0].password_hash:
        return None
    return StoredAccount(user_id, rows[0].username or "", rows[0].password_hash)


async def set_account_username(db: Db, user_id: str, username: str) -> bool:
    """Record a rename on the account; False for a user without one (made by events)."""
    applied, _ = _applied(await db.execute(_SET_ACCOUNT_USERNAME, (username, user_id)))
    return applied


async def set_password_hash(db: Db, user_id: str, password_hash: str) -> None:
    await db.execute(_SET_PASSWORD_HASH, (password_hash, user_id))


async def account_by_username(db: Db, username: str) -> StoredAccount | None:
    """The account holding a normalized username, or None."""
    user_id = await username_owner(db, username)
    return await read_account(db, user_id) if user_id else None


# --- usernames -----------------------------------------------------------------------

_CLAIM = "INSERT INTO usernames (username, user_id, claimed_at) VALUES (?, ?, ?) IF NOT EXISTS"
# A row whose held columns expired (a grace period over) still exists without a holder.
_CLAIM_EXPIRED = (
    "UPDATE usernames SET user_id = ?, claimed_at = ? WHERE username = ? IF user_id = null"
)
_OWNER = "SELECT user_id FROM usernames WHERE username = ?"
_RELEASE = "DELETE FROM usernames WHERE username = ? IF user_id = ?"
_RESERVE = (
    "UPDATE usernames USING TTL ? SET user_id = '', claimed_at = ? WHERE username = ? "
    "IF user_id = ?"
)


async def claim_username(db: Db, username: str, user_id: str, now_ms: int) -> bool:
    """Take a free username for ``user_id``; True also when it already holds it (a
    retry). Of concurrent claims of one free name exactly one gets True."""
    claimed_at = from_ms(now_ms)
    applied, row = _applied(await db.execute(_CLAIM, (username, user_id, claimed_at)))
    if applied:
        return True
    if row.user_id is None:
        applied, row = _applied(await db.execute(_CLAIM_EXPIRED, (user_id, claimed_at, username)))
        if applied:
            return True
    return bool(row.user_id == user_id)


async def username_owner(db: Db, username: str) -> str | None:
    """The user holding a normalized username; None when free or held in reserve."""
    rows = await db.execute(_OWNER, (username,))
    return (rows[0].user_id or None) if rows else None


async def release_username(db: Db, username: str, user_id: str) -> bool:
    """Free a username at once, only if ``user_id`` still holds it (after a rename)."""
    applied, _ = _applied(await db.execute(_RELEASE, (username, user_id)))
    return applied


async def reserve_username(
    db: Db, username: str, user_id: str, *, grace_s: int, now_ms: int
) -> bool:
    """Hold a deleted account's username for ``grace_s`` (``settings.username_grace_s``)
    so nobody can take it over at once; only if ``user_id`` still holds it. Afterwards
    the name is free to claim."""
    applied, _ = _applied(
        await db.execute(_RESERVE, (max(1, grace_s), from_ms(now_ms), username, user_id))
    )
    return applied


# --- refresh tokens ------------------------------------------------------------------

_INSERT_TOKEN = (
    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at, spent) "
    "VALUES (?, ?, ?, ?, false) USING TTL ?"
)
_SELECT_TOKEN = (
    "SELECT family_id, user_id, expires_at, spent FROM refresh_tokens WHERE token_hash = ?"
)
# Keeps the row's TTL: the rewritten column must expire with the rest of the row.
_SPEND_TOKEN = (
    "UPDATE refresh_tokens USING TTL ? SET spent = true WHERE token_hash = ? IF spent = false"
)
_CREATE_FAMILY = (
    "INSERT INTO refresh_families (family_id, user_id, revoked, created_at) "
    "VALUES (?, ?, false, ?) IF NOT EXISTS USING TTL ?"
)
_EXTEND_FAMILY = (
    "UPDATE refresh_families USING TTL ? SET user_id = ?, revoked = false "
    "WHERE family_id = ? IF revoked = false"
)
_REVOKE_FAMILY = (
    "UPDATE refresh_families USING TTL ? SET revoked = true WHERE family_id = ? IF EXISTS"
)
_SELECT_FAMILY = "SELECT revoked FROM refresh_families WHERE family_id = ?"
_INDEX_FAMILY = "INSERT INTO user_refresh_families (user_id, family_id) VALUES (?, ?) USING TTL ?"
_USER_FAMILIES = "SELECT family_id FROM user_refresh_families WHERE user_id = ?"
# By the storage-attached index of 0009_erasure.cql.
_USER_TOKENS = "SELECT token_hash FROM refresh_tokens WHERE user_id = ?"
_DELETE_TOKEN = "DELETE FROM refresh_tokens WHERE token_hash = ?"
_DELETE_FAMILY = "DELETE FROM refresh_families WHERE family_id = ?"
_DELETE_USER_FAMILIES = "DELETE FROM user_refresh_families WHERE user_id = ?"


def _ttl_s(expires_ms: int, now_ms: int) -> int:
    return max(1, -(-(expires_ms - now_ms) // 1000))


async def store_refresh_token(
    db: Db, token_hash: str, family_id: str, user_id: str, *, ttl_s: int, now_ms: int
) -> int:
    """Record a new unspent token of ``family_id``; returns its expiry (ms)."""
    expires_ms = now_ms + ttl_s * 1000
    await db.execute(_INSERT_TOKEN, (token_hash, family_id, user_id, from_ms(expires_ms), ttl_s))
    return expires_ms


async def read_refresh_token(db: Db, token_hash: str) -> RefreshRecord | None:
    rows = await db.execute(_SELECT_TOKEN, (token_hash,))
    if not rows or rows[0].family_id is None:
        return None
    row = rows[0]
    expires: datetime | None = row.expires_at
    return RefreshRecord(
        family_id=row.family_id,
        user_id=row.user_id or "",
        expires_ms=to_ms(expires) if expires else 0,
        spent=bool(row.spent),
    )


async def spend_refresh_token(db: Db, token_hash: str, expires_ms: int, now_ms: int) -> bool:
    """Mark a token spent; False when it already was (of two concurrent uses of one
    token exactly one gets True)."""
    applied, _ = _applied(await db.execute(_SPEND_TOKEN, (_ttl_s(expires_ms, now_ms), token_hash)))
    return applied


async def create_family(db: Db, family_id: str, user_id: str, *, ttl_s: int, now_ms: int) -> None:
    """A new login's family; it lives as long as its newest token."""
    await db.execute(_CREATE_FAMILY, (family_id, user_id, from_ms(now_ms), ttl_s))
    await db.execute(_INDEX_FAMILY, (user_id, family_id, ttl_s))


async def extend_family(db: Db, family_id: str, user_id: str, *, ttl_s: int) -> bool:
    """Keep a family alive as long as its new token; False when it was revoked."""
    applied, _ = _applied(await db.execute(_EXTEND_FAMILY, (ttl_s, user_id, family_id)))
    if applied:
        await db.execute(_INDEX_FAMILY, (user_id, family_id, ttl_s))
    return applied


async def family_revoked(db: Db, family_id: str) -> bool | None:
    """Whether a family is revoked; None when unknown (expired or never created)."""
    rows = await db.execute(_SELECT_FAMILY, (family_id,))
    if not rows or rows[0].revoked is None:
        return None
    return bool(rows[0].revoked)


async def revoke_family(db: Db, family_id: str, *, ttl_s: int) -> None:
    """End one login: every token of the family answers 401 from now on. The mark
    outlives every token the family could still have (``ttl_s``: their lifetime)."""
    await db.execute(_REVOKE_FAMILY, (ttl_s, family_id))


async def revoke_all_families(db: Db, user_id: str, *, ttl_s: int) -> int:
    """End every login of a user (account deletion); returns how many families."""
    rows = await db.execute(_USER_FAMILIES, (user_id,))
    for row in rows:
        await revoke_family(db, row.family_id, ttl_s=ttl_s)
    return len(rows)


# --- account deletion ----------------------------------------------------------------


async def close_account(
    db: Db, user_id: str, username: str, *, grace_s: int, refresh_ttl_s: int, now_ms: int
) -> None:
    """Everything an account logs in with, at its deletion: every session ended (each
    family revoked first, so a refresh racing this one fails, then every token and
    family removed), the username held for ``grace_s`` (nobody takes it over at once;
    the worker frees its row afterwards) and the account row removed. A retry finishes
    what a failed attempt began."""
    families = [row.family_id for row in await db.execute(_USER_FAMILIES, (user_id,))]
    for family_id in families:
        await revoke_family(db, family_id, ttl_s=refresh_ttl_s)
    tokens = await db.execute(_USER_TOKENS, (user_id,))
    await db.execute_many(_DELETE_TOKEN, [(row.token_hash,) for row in tokens])
    await db.execute_many(_DELETE_FAMILY, [(family_id,) for family_id in families])
    await db.execute(_DELETE_USER_FAMILIES, (user_id,))
    if username:
        await reserve_username(db, username, user_id, grace_s=grace_s, now_ms=now_ms)
    await delete_account(db, user_id)
