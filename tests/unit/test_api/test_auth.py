from __future__ import annotations

import pytest

from api.auth import InvalidToken, issue_token, load_secret, verify_token
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
