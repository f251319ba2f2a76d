"""Accounts over the real API, Cassandra (lightweight transactions), Kafka and worker:
registration, login, refresh rotation and reuse, logout, renames and lookups."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.factories import unique
from tests.support import ROOT, wait_until

PASSWORD = "correct horse battery"


def register(api: Any, username: str, password: str = PASSWORD, **extra: Any) -> httpx.Response:
    body = {"username": username, "password": password, **extra}
    return httpx.post(f"{api.url}/v1/accounts", json=body, timeout=30)


def registered(api: Any, username: str, password: str = PASSWORD, **extra: Any) -> dict[str, Any]:
    response = register(api, username, password, **extra)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


_addresses = itertools.count(2)


def fresh_address() -> str:
    """A loopback source address of its own: failed logins back off per address, so a
    test that fails logins on purpose sends them from one nobody else uses."""
    n = next(_addresses)
    return f"127.0.{n // 250}.{n % 250 + 2}"


def login(
    api: Any, username: str, password: str = PASSWORD, *, address: str = "127.0.0.1"
) -> httpx.Response:
    body = {"username": username, "password": password}
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.post(f"{api.url}/v1/accounts/login", json=body)


def refresh(api: Any, token: str, **headers: str) -> httpx.Response:
    return httpx.post(
        f"{api.url}/v1/accounts/refresh", json={"refresh_token": token}, headers=headers
    )


def bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


def profile(api: Any, path: str, session: dict[str, Any]) -> dict[str, Any] | None:
    response = httpx.get(f"{api.url}/v1/users/{path}", headers=bearer(session), timeout=10)
    return response.json() if response.status_code == 200 else None  # type: ignore[no-any-return]


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    return body["code"]  # type: ignore[no-any-return]


# --- register and log in -----------------------------------------------------------------


def test_registration_opens_a_session_and_the_stream_builds_the_profile(worker, api) -> None:  # type: ignore[no-untyped-def]
    name = unique("ada")
    session = registered(api, name.upper(), display_name="Ada L")
    assert session["username"] == name  # stored normalized
    assert session["token_type"] == "bearer"
    assert session["expires_in"] == 15 * 60
    assert session["user_id"] and session["refresh_token"]
    me = wait_until(
        lambda: profile(api, session["user_id"], session), timeout_s=30, what="the profile"
    )
    assert me == {
        "user_id": session["user_id"],
        "username": name,
        "display_name": "Ada L",
        "is_private": False,
        "bio": "",
        "followers": 0,
        "following": 0,
        "posts": 0,
    }
    assert profile(api, "me", session) == me
    assert profile(api, f"by-username/{name.upper()}", session) == me


def test_login_answers_a_new_session_for_the_right_password(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("grace")
    account = registered(api, name)
    response = login(api, name.upper())
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["user_id"] == account["user_id"]
    assert session["username"] == name
    assert session["refresh_token"] != account["refresh_token"]
    me = httpx.get(f"{api.url}/v1/users/me", headers=bearer(session))
    assert me.status_code in (200, 404)  # authenticated; the profile may still be on its way
    assert error(httpx.get(f"{api.url}/v1/users/me"), 401) == "unauthorized"


def test_wrong_password_and_unknown_user_answer_alike(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("hopper")
    registered(api, name)
    address = fresh_address()
    wrong = login(api, name, "not the password", address=address)
    nobody = login(api, unique("nobody"), address=address)
    impossible = login(api, "not a username!", address=address)
    for response in (wrong, nobody, impossible):
        assert error(response, 401) == "invalid_credentials"
    assert wrong.json() == nobody.json() == impossible.json()


def test_repeated_failures_back_off_with_429_even_for_the_right_password(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("guessed")
    registered(api, name)
    address = fresh_address()
    answers = []
    # A few failures are free; then each one makes the next attempt wait longer.
    for _ in range(12):
        answers.append(login(api, name, "a wrong guess", address=address))
        if answers[-1].status_code == 429:
            break
    assert [r.status_code for r in answers[:5]] == [401] * 5
    refused = answers[-1]
    assert error(refused, 429) == "rate_limited"
    assert int(refused.headers["Retry-After"]) >= 1
    assert error(login(api, name, address=address), 429) == "rate_limited"


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("has space", PASSWORD, "username"),
        ("....", PASSWORD, "username"),
        ("x" * 31, PASSWORD, "username"),
        ("fine_name", "short", "password"),
        ("fine_name", "x" * 257, "password"),
    ],
)
def test_registration_breaking_a_rule_is_422_naming_the_field(
    api, username: str, password: str, field: str
) -> None:  # type: ignore[no-untyped-def]
    response = register(api, username, password)
    assert error(response, 422) == "invalid_request"
    assert response.json()["message"].startswith(f"{field}:")


def test_a_taken_username_in_another_spelling_is_409(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("lovelace")
    registered(api, name)
    response = register(api, f"{name.upper()}")
    assert error(response, 409) == "username_taken"
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in name)
    assert error(register(api, full_width), 409) == "username_taken"


async def test_concurrent_registrations_of_one_username_have_one_winner(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("race")
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/accounts", json={"username": name, "password": f"{PASSWORD} {i}"})
                for i in range(4)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 201)
    assert all(r.json()["code"] == "username_taken" for r in responses if r.status_code == 409)
    # Only the winner's password opens the account.
    address = fresh_address()
    for i in range(4):
        status = login(api, name, f"{PASSWORD} {i}", address=address).status_code
        assert status == (200 if i == winner else 401)


def test_registration_retried_under_its_idempotency_key_is_the_same_account(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("retry")
    key = {"Idempotency-Key": unique("key")}
    body = {"username": name, "password": PASSWORD}
    first = httpx.post(f"{api.url}/v1/accounts", json=body, headers=key, timeout=30)
    second = httpx.post(f"{api.url}/v1/accounts", json=body, headers=key, timeout=30)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["user_id"] == second.json()["user_id"]
    # The lost answer's session is revoked; the one the client got works.
    assert error(refresh(api, first.json()["refresh_token"]), 401) == "refresh_revoked"
    assert refresh(api, second.json()["refresh_token"]).status_code == 200
    # Under the same key, a different password is someone else: the name is taken.
    other = httpx.post(
        f"{api.url}/v1/accounts", json={**body, "password": "another password"}, headers=key
    )
    assert error(other, 409) == "username_taken"


# --- refresh and log out -------------------------------------------------------------------


def test_refresh_rotates_and_a_reused_token_revokes_the_family(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("turing")
    first = registered(api, name)
    other_device = login(api, name).json()

    second = refresh(api, first["refresh_token"])
    assert second.status_code == 200, second.text
    second_body = second.json()
    assert second_body["user_id"] == first["user_id"]
    assert second_body["refresh_token"] != first["refresh_token"]
    assert httpx.get(f"{api.url}/v1/users/me", headers=bearer(second_body)).status_code != 401
    third = refresh(api, second_body["refresh_token"])
    assert third.status_code == 200, third.text

    # The first token again: someone copied it. Every token of that login ends.
    assert error(refresh(api, first["refresh_token"]), 401) == "refresh_reused"
    assert error(refresh(api, third.json()["refresh_token"]), 401) == "refresh_revoked"
    assert error(refresh(api, second_body["refresh_token"]), 401) == "refresh_revoked"
    # Another login of the same account is another family, untouched.
    assert refresh(api, other_device["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_401(api) -> None:  # type: ignore[no-untyped-def]
    assert error(refresh(api, "made-up-token"), 401) == "invalid_refresh_token"


async def test_two_concurrent_refreshes_with_one_token_end_the_family(api) -> None:  # type: ignore[no-untyped-def]
    session = registered(api, unique("twice"))
    body = {"refresh_token": session["refresh_token"]}
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.post("/v1/accounts/refresh", json=body) for _ in range(2))
        )
    # One spends the token; the other finds it spent, which means it was copied, and
    # ends the family. Whether the first still answers 200 depends on which of the two
    # reaches the family first; either way nothing of the family works afterwards.
    codes = sorted(r.json().get("code", "") if r.status_code != 200 else "ok" for r in responses)
    assert codes in (["ok", "refresh_reused"], ["refresh_reused", "refresh_revoked"]), [
        r.text for r in responses
    ]
    for r in responses:
        if r.status_code == 200:
            assert error(refresh(api, r.json()["refresh_token"]), 401) == "refresh_revoked"


def test_refresh_retried_after_a_lost_answer_spends_the_lost_token(api) -> None:  # type: ignore[no-untyped-def]
    session = registered(api, unique("lost"))
    key = {"Idempotency-Key": unique("key")}
    lost = refresh(api, session["refresh_token"], **key)
    assert lost.status_code == 200
    retried = refresh(api, session["refresh_token"], **key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] != lost.json()["refresh_token"]
    # The client's copy works on; the token of the answer it never saw is spent, and
    # presenting it means it leaked.
    following = refresh(api, retried.json()["refresh_token"])
    assert following.status_code == 200, following.text
    assert error(refresh(api, lost.json()["refresh_token"]), 401) == "refresh_reused"
    assert error(refresh(api, following.json()["refresh_token"]), 401) == "refresh_revoked"


def test_logout_ends_the_session_and_is_idempotent(api) -> None:  # type: ignore[no-untyped-def]
    name = unique("bye")
    session = registered(api, name)
    other_device = login(api, name).json()
    body = {"refresh_token": session["refresh_token"]}
    out = httpx.post(f"{api.url}/v1/accounts/logout", json=body)
    assert out.status_code == 204
    assert out.content == b""
    assert error(refresh(api, session["refresh_token"]), 401) == "refresh_revoked"
    assert httpx.post(f"{api.url}/v1/accounts/logout", json=body).status_code == 204
    assert refresh(api, other_device["refresh_token"]).status_code == 200


# --- profiles: rename, lookup, privacy ---------------------------------------------------------


def test_rename_claims_the_new_name_and_frees_the_old_one(worker, api) -> None:  # type: ignore[no-untyped-def]
    old, new = unique("before"), unique("after")
    session = registered(api, old, display_name="Renamer")
    user_id = session["user_id"]
    wait_until(lambda: profile(api, user_id, session), timeout_s=30, what="the profile")

    taken = registered(api, unique("taken"))
    clash = httpx.patch(
        f"{api.url}/v1/users/me", json={"username": taken["username"]}, headers=bearer(session)
    )
    assert error(clash, 409) == "username_taken"

    response = httpx.patch(
        f"{api.url}/v1/users/me", json={"username": new.upper()}, headers=bearer(session)
    )
    assert response.status_code == 200, response.text
    assert response.json()["username"] == new
    assert response.json()["display_name"] == "Renamer"  # not sent: kept

    assert profile(api, f"by-username/{new}", session) is not None
    assert profile(api, f"by-username/{old}", session) is None
    wait_until(
        lambda: (profile(api, user_id, session) or {}).get("username") == new,
        timeout_s=30,
        what="the renamed profile",
    )
    assert login(api, new).status_code == 200
    # The old name is free for anyone.
    newcomer = registered(api, old, "newcomer password")
    assert newcomer["user_id"] != user_id
    assert login(api, old, address=fresh_address()).status_code == 401
    assert login(api, old, "newcomer password").json()["user_id"] == newcomer["user_id"]


def test_privacy_and_display_name_edits_reach_other_viewers(worker, api) -> None:  # type: ignore[no-untyped-def]
    owner = registered(api, unique("private"), display_name="Before")
    viewer = registered(api, unique("viewer"))
    user_id = owner["user_id"]
    wait_until(lambda: profile(api, user_id, viewer), timeout_s=30, what="the profile")

    response = httpx.patch(
        f"{api.url}/v1/users/me",
        json={"is_private": True, "display_name": "After", "bio": "hello"},
        headers=bearer(owner),
    )
    assert response.status_code == 200, response.text
    assert response.json() | {"followers": 0, "following": 0, "posts": 0} == {
        "user_id": user_id,
        "username": owner["username"],
        "display_name": "After",
        "is_private": True,
        "bio": "hello",
        "followers": 0,
        "following": 0,
        "posts": 0,
    }
    seen = wait_until(
        lambda: (p := profile(api, user_id, viewer)) and p["is_private"] and p,
        timeout_s=30,
        what="the private profile",
    )
    assert seen["display_name"] == "After"
    assert seen["username"] == owner["username"]
    # The next edit starts from what the views hold now.
    again = httpx.patch(f"{api.url}/v1/users/me", json={"is_private": False}, headers=bearer(owner))
    assert again.json()["display_name"] == "After"
    assert again.json()["is_private"] is False


def test_lookup_of_an_unknown_username_is_404(api) -> None:  # type: ignore[no-untyped-def]
    session = registered(api, unique("looker"))
    response = httpx.get(
        f"{api.url}/v1/users/by-username/{unique('unknown')}", headers=bearer(session)
    )
    assert error(response, 404) == "not_found"


def test_passwords_and_tokens_reach_neither_the_topic_nor_the_log(worker, api, test_env) -> None:  # type: ignore[no-untyped-def]
    secret_password = f"{unique('pw')} do not log me"
    session = registered(api, unique("quiet"), secret_password)
    rotated = refresh(api, session["refresh_token"]).json()
    login(api, session["username"], "wrong password, not logged either", address=fresh_address())
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "tail",
            "users",
            "--from-beginning",
            "--json",
            "--user",
            session["user_id"],
            "--type",
            "profile_updated",
            "--limit",
            "1",
        ],
        env={**test_env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    event = result.stdout.decode()
    assert session["username"] in event
    secrets = [
        secret_password,
        "wrong password",
        session["refresh_token"],
        session["access_token"],
        rotated["refresh_token"],
    ]
    for text in (event, api.log(), worker.log()):
        for secret in secrets:
            assert secret not in text


# --- usernames in Cassandra: claims, release, grace ---------------------------------------------


async def test_claims_release_and_grace_period_in_cassandra(namespace, services) -> None:  # type: ignore[no-untyped-def]
    from api import credentials as cred
    from clients.cassandra import open_db
    from domain.clock import now_ms

    db = await open_db(services)
    try:
        name = unique("held")
        claims = await asyncio.gather(
            *(cred.claim_username(db, name, f"u{i}", now_ms()) for i in range(8))
        )
        assert claims.count(True) == 1
        holder = f"u{claims.index(True)}"
        assert await cred.username_owner(db, name) == holder
        assert await cred.claim_username(db, name, holder, now_ms())  # a retry: still its

        # Only the holder releases or reserves it.
        assert not await cred.release_username(db, name, "someone-else")
        assert not await cred.reserve_username(db, name, "someone-else", grace_s=1, now_ms=now_ms())
        assert await cred.reserve_username(db, name, holder, grace_s=1, now_ms=now_ms())
        assert await cred.username_owner(db, name) is None  # nobody's, yet not free
        assert not await cred.claim_username(db, name, "u-new", now_ms())
        await _eventually(lambda: cred.claim_username(db, name, "u-new", now_ms()))
        assert await cred.username_owner(db, name) == "u-new"
        assert await cred.release_username(db, name, "u-new")
        assert await cred.username_owner(db, name) is None
        assert await cred.claim_username(db, name, "u-other", now_ms())
    finally:
        db.close()


async def _eventually(probe: Any, timeout_s: float = 30.0) -> None:
    """Poll an async probe until it answers True (a TTL expiring in Cassandra)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no True from the probe within {timeout_s:.0f} s")
