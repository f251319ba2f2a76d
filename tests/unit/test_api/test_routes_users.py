"""Routes with their clients replaced by in-memory fakes (no services needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import issue_token
from api.deps import get_db, get_keys, get_redis, get_secret
from api.main import create_app
from schemas.redis_keys import RedisKeys
from settings import Settings

SECRET = "unit-test-secret-unit-test-secret"


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    async def hmget(self, key: str, *fields: str) -> list[str | None]:
        return [self.hashes.get(key, {}).get(f) for f in fields]

    def __getattr__(self, name: str) -> Any:
        # Reads only: a route that writes the cache fails here.
        raise AssertionError(f"redis.{name} called on the read path")


class FakeDb:
    def __init__(self, rows: dict[str, Any]) -> None:
        self.rows = rows
        self.queries = 0

    async def execute(self, cql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        self.queries += 1
        row = self.rows.get(params[0])
        return [row] if row else []


@pytest.fixture
def fakes() -> tuple[FakeRedis, FakeDb]:
    row = SimpleNamespace(username="ada", display_name="Ada", is_private=True, updated_at=None)
    redis = FakeRedis()
    redis.hashes["ns:ucounts:u1"] = {"followers": "3", "following": "2", "posts": "1"}
    return redis, FakeDb({"u1": row})


@pytest.fixture
def client(fakes: tuple[FakeRedis, FakeDb]) -> TestClient:
    redis, db = fakes
    settings = Settings(secret_key=SECRET)
    app = create_app(settings)
    # Each route declares the clients it uses; only those need a fake.
    app.dependency_overrides[get_redis] = lambda: redis
    app.dependency_overrides[get_db] = lambda: db
    app.dependency_overrides[get_keys] = lambda: RedisKeys("ns")
    app.dependency_overrides[get_secret] = lambda: SECRET
    return TestClient(app)  # no `with`: the lifespan (real connections) does not run


def auth(user: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user, secret=SECRET, ttl_s=60)}"}


def test_read_user_missing_from_redis_reads_cassandra_and_writes_nothing(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb]
) -> None:
    redis, db = fakes
    first = client.get("/v1/users/u1", headers=auth())
    assert first.status_code == 200
    assert first.json() == {
        "user_id": "u1",
        "username": "ada",
        "display_name": "Ada",
        "is_private": True,
        "bio": "",
        "followers": 3,
        "following": 2,
        "posts": 1,
    }
    assert "ns:user:u1" not in redis.hashes  # `photostream rebuild` refills the cache
    second = client.get("/v1/users/u1", headers=auth())
    assert second.json() == first.json()
    assert db.queries == 2


def test_read_user_cached_in_redis_skips_cassandra(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb]
) -> None:
    redis, db = fakes
    redis.hashes["ns:user:u1"] = {"username": "ada", "display_name": "Ada", "is_private": "0"}
    response = client.get("/v1/users/u1", headers=auth())
    assert response.status_code == 200
    assert response.json()["is_private"] is False
    assert db.queries == 0


def test_unknown_user_is_404_json(client: TestClient) -> None:
    response = client.get("/v1/users/nobody", headers=auth())
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "user 'nobody' not found"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]
)
def test_missing_or_bad_token_is_401_json(client: TestClient, headers: dict[str, str]) -> None:
    response = client.get("/v1/users/u1", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "unauthorized"
    assert body["message"]


def test_unknown_route_is_404_json(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_openapi_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/users/{user_id}" in paths
    assert "/healthz" in paths
