"""Every paginated list refuses a malformed cursor with 400 ``bad_cursor``, before any read."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import issue_token
from api.deps import get_db, get_keys, get_producer, get_redis, get_secret, get_settings_dep
from api.main import create_app
from domain.cursors import MAX_CURSOR_LENGTH, encode_cursor
from schemas.redis_keys import RedisKeys
from settings import Settings

SECRET = "unit-test-secret-unit-test-secret"

# A request path of every paginated list -> its OpenAPI path.
PAGED = {
    "/v1/feed": "/v1/feed",
    "/v1/users/me/feed": "/v1/users/{user_id}/feed",
    "/v1/users/u1/followers": "/v1/users/{user_id}/followers",
    "/v1/users/u1/following": "/v1/users/{user_id}/following",
    "/v1/users/u1/posts": "/v1/users/{user_id}/posts",
    "/v1/posts/p1/comments": "/v1/posts/{post_id}/comments",
    "/v1/users/me/saved": "/v1/users/me/saved",
    "/v1/stories/tray": "/v1/stories/tray",
    "/v1/stories/s1/viewers": "/v1/stories/{story_id}/viewers",
    "/v1/hashtags/cats/posts": "/v1/hashtags/{tag}/posts",
}
# Lists whose cursor holds a number (an offset or epoch milliseconds).
NUMBERED = [p for p in PAGED if not p.endswith(("/followers", "/following", "/comments"))]

MALFORMED = {
    "not base64 json": "%%%",
    "not an object": "WzFd",  # [1]
    "no known field": encode_cursor(z=1),
    # Every field any list reads, each of the wrong type.
    "wrong field types": encode_cursor(a=1, c="x", o="x", p=1, s=1, t="x", u=1),
    "too long": "A" * (MAX_CURSOR_LENGTH + 1),
}


class PostOnlyRedis:
    """Knows one live post (the comments route checks it first); any other read fails."""

    async def hmget(self, key: str, *fields: str) -> list[str]:
        return ["author", "ready"]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"redis.{name} called before the cursor was checked")


class NoDb:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"db.{name} called before the cursor was checked")


class NoProducer:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"producer.{name} called before the cursor was checked")


def _get(client: TestClient, path: str, cursor: str) -> Any:
    token = issue_token("u1", secret=SECRET, ttl_s=60)
    return client.get(path, params={"cursor": cursor}, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def client() -> TestClient:
    app = create_app(Settings(secret_key=SECRET))
    app.dependency_overrides[get_redis] = PostOnlyRedis
    app.dependency_overrides[get_db] = NoDb
    app.dependency_overrides[get_producer] = NoProducer
    app.dependency_overrides[get_keys] = lambda: RedisKeys("ns")
    app.dependency_overrides[get_secret] = lambda: SECRET
    app.dependency_overrides[get_settings_dep] = lambda: Settings(secret_key=SECRET)
    return TestClient(app)


@pytest.mark.parametrize("cursor", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("path", PAGED)
def test_malformed_cursor_is_400_bad_cursor(client: TestClient, path: str, cursor: str) -> None:
    response = _get(client, path, cursor)
    assert response.status_code == 400, response.text
    assert response.json() == {"code": "bad_cursor", "message": "malformed cursor"}


@pytest.mark.parametrize("path", NUMBERED)
def test_negative_number_in_cursor_is_400_bad_cursor(client: TestClient, path: str) -> None:
    response = _get(client, path, encode_cursor(c=-1, o=-1, p="", s="", t=-1, u=""))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_cursor"


@pytest.mark.parametrize(("path", "template"), PAGED.items())
def test_paginated_route_documents_400(client: TestClient, path: str, template: str) -> None:
    responses = client.get("/openapi.json").json()["paths"][template]["get"]["responses"]
    assert "400" in responses
