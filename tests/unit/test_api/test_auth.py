from __future__ import annotations

import hashlib
import time

import jwt
import pytest
from argon2 import PasswordHasher

from api.auth import (
    ALGORITHM,
    InvalidToken,
    hash_password,
    issue_access_token,
    issue_token,
    load_secret,
    needs_rehash,
    new_family_id,
    new_refresh_token,
    new_user_id,
    refresh_token_hash,
    verify_password,
    verify_token,
)
from settings import Settings


def test_token_names_the_user() -> None:
    token = issue_token("u42", secret="s" * 32, ttl_s=60)
    assert verify_token(token, secret="s" * 32) == "u42"


def test_expired_token_is_refused() -> None:
    token = issue_token("u42", secret="s" * 32, ttl_s=60, now=1_000_000)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, secret="s" * 32)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("u42", secret="a" * 32, ttl_s=60)
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(token, secret="b" * 32)


def test_dev_secret_is_generated_once_and_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path)
    first = load_secret(settings)
    assert load_secret(settings) == first
    assert (tmp_path / "dev-secret").stat().st_mode & 0o777 == 0o600


def test_secret_from_environment_wins(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert load_secret(Settings(data_dir=tmp_path, secret_key="from-env")) == "from-env"
    assert not (tmp_path / "dev-secret").exists()


# --- access tokens from login ---------------------------------------------------------


def test_access_token_names_the_user_and_says_it_is_an_access_token() -> None:
    token = issue_access_token("u42", secret="s" * 32, ttl_s=900)
    claims = jwt.decode(token, "s" * 32, algorithms=[ALGORITHM])
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert verify_token(token, secret="s" * 32) == "u42"


def test_expired_access_token_is_refused() -> None:
    token = issue_access_token("u42", secret="s" * 32, ttl_s=900, now=1_000_000)
    with pytest.raises(InvalidToken, match="expired"):
        verify_token(token, secret="s" * 32)


def test_development_token_without_a_type_is_still_accepted() -> None:
    token = issue_token("dev-user", secret="s" * 32, ttl_s=60)
    assert "typ" not in jwt.decode(token, "s" * 32, algorithms=[ALGORITHM])
    assert verify_token(token, secret="s" * 32) == "dev-user"


def test_token_of_another_type_is_not_an_access_token() -> None:
    now = int(time.time())
    token = jwt.encode(
        {"sub": "u42", "typ": "refresh", "iat": now, "exp": now + 60}, "s" * 32, algorithm=ALGORITHM
    )
    with pytest.raises(InvalidToken, match="not an access token"):
        verify_token(token, secret="s" * 32)


def test_unsigned_token_is_refused() -> None:
    token = jwt.encode({"sub": "u42", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(InvalidToken, match="invalid token"):
        verify_token(token, secret="s" * 32)


# --- refresh tokens and ids -------------------------------------------------------------


def test_refresh_tokens_are_random_and_stored_only_as_their_sha256() -> None:
    first, second = new_refresh_token(), new_refresh_token()
    assert first != second
    assert len(first) >= 43
    digest = refresh_token_hash(first)
    assert digest == hashlib.sha256(first.encode()).hexdigest()
    assert first not in digest
    assert new_user_id() != new_user_id()
    assert new_family_id() != new_family_id()


# --- passwords ----------------------------------------------------------------------------


async def test_password_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first = await hash_password("correct horse")
    second = await hash_password("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # salted
    assert "correct horse" not in first
    assert await verify_password(first, "correct horse")
    assert not await verify_password(first, "correct horsE")
    assert not needs_rehash(first)


async def test_password_without_a_stored_hash_never_verifies() -> None:
    assert not await verify_password(None, "correct horse")
    assert not await verify_password(None, "x" * 300)  # not even the dummy's own password
    assert not await verify_password("not-a-hash", "correct horse")


async def test_missing_user_costs_a_real_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    import api.auth

    calls: list[str] = []
    real = api.auth._verify

    def spy(stored_hash: str, password: str) -> bool:
        calls.append(stored_hash)
        return real(stored_hash, password)

    monkeypatch.setattr(api.auth, "_verify", spy)
    await verify_password(None, "correct horse")
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$")  # a hash with the real parameters


def test_weaker_hash_needs_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("correct horse")
    assert needs_rehash(weak)
