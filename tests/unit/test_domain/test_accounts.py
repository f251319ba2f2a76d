from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.accounts import (
    InvalidAccountField,
    Profile,
    RefreshRecord,
    RefreshVerdict,
    UsernameTaken,
    edit_profile,
    judge_refresh,
    normalize_username,
    username_or_none,
    validate_password,
    validate_username,
)
from domain.errors import Conflict

# --- usernames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("ada", "ada"),
        ("Ada.Lovelace", "ada.lovelace"),
        ("ＡＤＡ_１８１５", "ada_1815"),  # full-width letters and digits (NFKC)
        ("a", "a"),
        ("._.", "._."),
        ("x" * 30, "x" * 30),
        ("ﬁ", "fi"),  # a ligature decomposes under NFKC
    ],
)
def test_username_is_normalized_nfkc_then_lowercase(raw: str, canonical: str) -> None:
    assert validate_username(raw) == canonical


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("x" * 31, "at most 30"),
        ("ada lovelace", "only letters"),
        ("ada-l", "only letters"),
        ("adá", "only letters"),  # NFKC keeps the accent: not a-z
        ("ada@x", "only letters"),
        (" ada", "only letters"),
        (".", "only dots"),
        ("....", "only dots"),
    ],
)
def test_username_breaking_a_rule_is_refused_naming_the_field(raw: str, why: str) -> None:
    with pytest.raises(InvalidAccountField, match=why) as info:
        validate_username(raw)
    assert info.value.field == "username"
    assert str(info.value).startswith("username: ")


def test_two_spellings_of_one_name_are_one_username() -> None:
    assert validate_username("ＡＤＡ") == validate_username("ada") == validate_username("AdA")


def test_username_or_none_is_none_for_an_impossible_name() -> None:
    assert username_or_none("Ada") == "ada"
    assert username_or_none("no spaces") is None
    assert username_or_none("") is None


@given(st.text(max_size=40))
def test_any_accepted_username_is_canonical_and_within_the_rules(raw: str) -> None:
    name = username_or_none(raw)
    if name is None:
        return
    assert 1 <= len(name) <= 30
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789._")
    assert name.strip(".")
    assert normalize_username(name) == name  # normalizing again changes nothing


def test_username_taken_is_a_conflict_with_its_own_code() -> None:
    exc = UsernameTaken("ada")
    assert isinstance(exc, Conflict)
    assert exc.code == "username_taken"
    assert exc.message == "username 'ada' is taken"


# --- passwords ----------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["x" * 8, "correct horse", "ü" * 8, "x" * 256])
def test_password_of_8_to_256_characters_is_accepted(password: str) -> None:
    validate_password(password)


@pytest.mark.parametrize(
    ("password", "why"), [("", "at least 8"), ("x" * 7, "at least 8"), ("x" * 257, "at most 256")]
)
def test_password_outside_8_to_256_characters_is_refused(password: str, why: str) -> None:
    with pytest.raises(InvalidAccountField, match=why) as info:
        validate_password(password)
    assert info.value.field == "password"


# --- refresh tokens -------------------------------------------------------------------------

NOW = 1_000_000


def token(*, spent: bool = False, expires_ms: int = NOW + 60_000) -> RefreshRecord:
    return RefreshRecord(family_id="f1", user_id="u1", expires_ms=expires_ms, spent=spent)


def test_fresh_token_of_a_live_family_rotates() -> None:
    assert judge_refresh(token(), False, NOW) is RefreshVerdict.ROTATE


def test_unknown_or_expired_token_is_unknown() -> None:
    assert judge_refresh(None, None, NOW) is RefreshVerdict.UNKNOWN
    assert judge_refresh(token(expires_ms=NOW), False, NOW) is RefreshVerdict.UNKNOWN


def test_spent_token_presented_again_is_reuse() -> None:
    assert judge_refresh(token(spent=True), False, NOW) is RefreshVerdict.REUSED


def test_spent_token_retried_under_its_idempotency_key_is_a_retry() -> None:
    verdict = judge_refresh(token(spent=True), False, NOW, spent_by_this_request=True)
    assert verdict is RefreshVerdict.RETRY


@pytest.mark.parametrize("spent", [False, True])
def test_revoked_or_unknown_family_ends_every_token(spent: bool) -> None:
    assert judge_refresh(token(spent=spent), True, NOW) is RefreshVerdict.REVOKED
    assert judge_refresh(token(spent=spent), None, NOW) is RefreshVerdict.REVOKED
    retry = judge_refresh(token(spent=spent), True, NOW, spent_by_this_request=True)
    assert retry is RefreshVerdict.REVOKED


# --- profile edits -----------------------------------------------------------------------------

ADA = Profile(username="ada", display_name="Ada", bio="math", is_private=False)


def test_edit_changes_only_the_fields_sent() -> None:
    assert edit_profile(ADA, {"bio": "engines"}) == Profile("ada", "Ada", "engines", False)
    assert edit_profile(ADA, {"is_private": True, "username": "countess"}) == Profile(
        "countess", "Ada", "math", True
    )


def test_empty_edit_keeps_the_profile_and_unknown_fields_are_ignored() -> None:
    assert edit_profile(ADA, {}) == ADA
    assert edit_profile(ADA, {"user_id": "someone-else"}) == ADA
