"""Rate-limit decisions without Redis: classes from method and path, allowances, back-off."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ratelimit import (
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
    user_subject,
    username_subject,
)

LIMITS = Limits(
    reads_per_min=600,
    writes_per_min=120,
    likes_per_min=60,
    uploads_per_min=20,
    login_per_min=120,
    per_ip_factor=5,
)
BACKOFF = {"free_failures": 5, "base_s": 1, "max_s": 900}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/v1/feed", RouteClass.READS),
        ("GET", "/v1/posts/p1/comments", RouteClass.READS),
        ("HEAD", "/v1/users/u1", RouteClass.READS),
        ("OPTIONS", "/v1/posts", RouteClass.READS),
        ("get", "/v1/feed", RouteClass.READS),
        ("POST", "/v1/posts", RouteClass.WRITES),
        ("DELETE", "/v1/posts/p1", RouteClass.WRITES),
        ("POST", "/v1/stories/s1/views", RouteClass.WRITES),
        ("POST", "/v1/users/u1/block", RouteClass.WRITES),
        ("PATCH", "/v1/users/me", RouteClass.WRITES),
        ("POST", "/v1/accounts/refresh", RouteClass.WRITES),
        ("POST", "/v1/posts/p1/like", RouteClass.LIKES),
        ("DELETE", "/v1/posts/p1/like", RouteClass.LIKES),
        ("POST", "/v1/posts/p1/save", RouteClass.LIKES),
        ("DELETE", "/v1/posts/p1/save/", RouteClass.LIKES),
        ("POST", "/v1/posts/p1/share", RouteClass.LIKES),
        ("POST", "/v1/posts/p1/comments", RouteClass.LIKES),
        ("DELETE", "/v1/posts/p1/comments/c1", RouteClass.LIKES),
        ("POST", "/v1/users/u1/follow", RouteClass.LIKES),
        ("DELETE", "/v1/users/u1/follow", RouteClass.LIKES),
        ("POST", "/v1/users/me/follow-requests/u2/approve", RouteClass.LIKES),
        ("POST", "/v1/users/me/follow-requests/u2/deny", RouteClass.LIKES),
        ("POST", "/v1/media", RouteClass.UPLOADS),
        ("POST", "/v1/media/", RouteClass.UPLOADS),
        ("POST", "/v1/accounts/login", RouteClass.LOGIN),
        ("POST", "/v1/accounts", RouteClass.LOGIN),
        ("GET", "/", RouteClass.READS),
        ("POST", "/nowhere", RouteClass.WRITES),
    ],
)
def test_a_request_is_classed_by_its_method_and_path(
    method: str, path: str, expected: RouteClass
) -> None:
    assert classify(method, path) is expected


@pytest.mark.parametrize(
    "path",
    [
        "/livez",
        "/healthz",
        "/healthz/",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/files/variants/m1/w320.jpg",
    ],
)
def test_probes_docs_and_files_are_never_limited(path: str) -> None:
    assert classify("GET", path) is None


def test_an_id_that_spells_an_action_does_not_change_the_class() -> None:
    # The noun after the resource id decides, not an id that happens to read "like".
    assert classify("DELETE", "/v1/posts/like") is RouteClass.WRITES
    assert classify("POST", "/v1/users/comments/block") is RouteClass.WRITES
    assert classify("GET", "/v1/media") is RouteClass.READS  # only POST uploads


def test_a_request_counts_against_its_user_and_its_address_with_the_factor() -> None:
    found = quotas(RouteClass.LIKES, user_id="u1", address="10.0.0.7", limits=LIMITS)
    assert found == (Quota(user_subject("u1"), 60), Quota(address_subject("10.0.0.7"), 300))


def test_an_anonymous_request_counts_against_its_address_only() -> None:
    found = quotas(RouteClass.READS, user_id=None, address="10.0.0.7", limits=LIMITS)
    assert found == (Quota("a:10.0.0.7", 3000),)
    assert quotas(RouteClass.READS, user_id=None, address=None, limits=LIMITS) == ()


def test_a_class_with_limit_zero_or_a_factor_of_zero_turns_that_limit_off() -> None:
    off = Limits(0, 1, 1, 1, 1, per_ip_factor=0)
    assert quotas(RouteClass.READS, user_id="u1", address="10.0.0.7", limits=off) == ()
    assert quotas(RouteClass.WRITES, user_id="u1", address="10.0.0.7", limits=off) == (
        Quota("u:u1", 1),
    )


def test_each_class_has_its_own_limit() -> None:
    assert [LIMITS.per_min(c) for c in RouteClass] == [600, 120, 60, 20, 120]


def test_user_and_address_subjects_never_collide() -> None:
    assert user_subject("10.0.0.7") != address_subject("10.0.0.7")
    assert username_subject("10.0.0.7") not in {user_subject("10.0.0.7"), "a:10.0.0.7"}


def test_usernames_differing_in_case_or_width_share_one_failure_count() -> None:
    assert username_subject("Ada") == username_subject("ada") == username_subject("ＡＤＡ")


@pytest.mark.parametrize(
    ("wait_ms", "seconds"), [(1, 1), (999, 1), (1000, 1), (1001, 2), (59_999, 60), (0, 1)]
)
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(
    wait_ms: int, seconds: int
) -> None:
    assert retry_after_s(wait_ms) == seconds


def test_the_refusal_says_when_to_try_again() -> None:
    assert refusal_message(RouteClass.LIKES, 7).endswith("try again in 7 s")


def test_failures_within_the_free_ones_cost_nothing_then_the_wait_doubles() -> None:
    waits = [login_backoff_s(n, **BACKOFF) for n in range(0, 12)]
    assert waits == [0, 0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 32]


def test_the_wait_never_passes_its_cap_even_after_very_many_failures() -> None:
    assert login_backoff_s(15, **BACKOFF) == 512
    assert login_backoff_s(16, **BACKOFF) == 900
    assert login_backoff_s(10_000, **BACKOFF) == 900


@given(st.integers(min_value=0, max_value=80) | st.integers(min_value=0, max_value=10_000))
def test_the_wait_grows_with_every_failure_until_the_cap(failures: int) -> None:
    now = login_backoff_s(failures, **BACKOFF)
    after = login_backoff_s(failures + 1, **BACKOFF)
    assert 0 <= now <= after <= BACKOFF["max_s"]
    if failures < BACKOFF["free_failures"]:
        assert after == 0
    elif failures == BACKOFF["free_failures"]:
        assert after == BACKOFF["base_s"]
    else:
        assert after in (2 * now, BACKOFF["max_s"])


def test_the_wait_counts_down_from_the_last_failure() -> None:
    last = 1_000_000
    # Seven failures: 2 s from the last one.
    assert login_wait_s(7, last, last, **BACKOFF) == 2
    assert login_wait_s(7, last, last + 1, **BACKOFF) == 2  # 1.999 s rounds up
    assert login_wait_s(7, last, last + 1000, **BACKOFF) == 1
    assert login_wait_s(7, last, last + 2000, **BACKOFF) == 0
    assert login_wait_s(5, last, last, **BACKOFF) == 0


def test_failures_are_remembered_longer_than_any_wait_they_cause() -> None:
    assert login_failures_ttl_s(900) == 1800 > login_backoff_s(10_000, **BACKOFF)
    assert login_failures_ttl_s(1) >= 60
