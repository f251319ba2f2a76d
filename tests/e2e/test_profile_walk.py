"""One profile from producer to API over the real Kafka, worker, Cassandra and Redis."""

from __future__ import annotations

import subprocess
import sys

import httpx
import orjson

from tests.factories import unique
from tests.support import ROOT, wait_until


def test_profile_event_reaches_cassandra_redis_and_the_api(
    worker, api, test_env, token_for
) -> None:  # type: ignore[no-untyped-def]
    user = unique("walker")
    line = orjson.dumps(
        {
            "type": "profile_updated",
            "user_id": user,
            "username": "walker",
            "display_name": "Wal Ker",
            "is_private": True,
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "produce", "-"],
        input=line + b"\n",
        env={**test_env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()

    def read() -> dict[str, object] | None:
        r = httpx.get(f"{api.url}/v1/users/{user}", headers=token_for("someone"), timeout=5)
        return r.json() if r.status_code == 200 else None

    body = wait_until(read, timeout_s=30, what="the profile in the API")
    assert body == {
        "user_id": user,
        "username": "walker",
        "display_name": "Wal Ker",
        "is_private": True,
        "bio": "",
        "followers": 0,
        "following": 0,
        "posts": 0,
    }


def test_later_profile_update_wins_and_an_older_replay_does_not(
    worker, api, producer, token_for
) -> None:  # type: ignore[no-untyped-def]
    from schemas.events import make_event

    user = unique("updater")
    new = make_event(
        "profile_updated",
        user_id=user,
        username="new",
        display_name="New",
        is_private=False,
        occurred_at="2026-01-02T00:00:00Z",
    )
    old = make_event(
        "profile_updated",
        user_id=user,
        username="old",
        display_name="Old",
        is_private=False,
        occurred_at="2026-01-01T00:00:00Z",
    )
    producer.send(new)
    producer.send(old)  # arrives last, happened first
    producer.flush()
    marker = unique("marker")
    producer.send(
        make_event(
            "profile_updated", user_id=marker, username="m", display_name="m", is_private=False
        )
    )
    producer.flush()

    def seen(uid: str) -> dict[str, object] | None:
        r = httpx.get(f"{api.url}/v1/users/{uid}", headers=token_for("x"), timeout=5)
        return r.json() if r.status_code == 200 else None

    wait_until(lambda: seen(marker), timeout_s=30, what="the marker profile")
    wait_until(lambda: seen(user), timeout_s=30, what="the profile")
    assert seen(user)["username"] == "new"  # type: ignore[index]


def test_unknown_user_is_404_and_no_token_is_401(api, token_for) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{api.url}/v1/users/{unique('ghost')}", headers=token_for("x"))
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    r = httpx.get(f"{api.url}/v1/users/anyone")
    assert r.status_code == 401
    assert r.json()["code"] == "unauthorized"


def test_healthz_reports_every_dependency_ok(api) -> None:  # type: ignore[no-untyped-def]
    body = httpx.get(f"{api.url}/healthz").json()
    assert body["status"] == "ok"
    assert set(body["dependencies"]) == {"kafka", "cassandra", "redis"}
    assert all(dep["ok"] for dep in body["dependencies"].values())
    assert httpx.get(f"{api.url}/docs").status_code == 200
