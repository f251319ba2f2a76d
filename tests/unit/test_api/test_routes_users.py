"""Routes with their clients replaced by in-memory fakes (no services needed)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.auth import issue_token
from api.deps import get_db, get_keys, get_producer, get_redis, get_secret
from api.main import create_app
from schemas.redis_keys import RedisKeys
from settings import Settings

SECRET = "unit-test-secret-unit-test-secret"


class FakePipeline:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        def queue(*args: Any) -> FakePipeline:
            self.calls.append((name, args))
            return self

        return queue

    async def execute(self) -> list[Any]:
        return [await getattr(self.redis, name)(*args) for name, args in self.calls]


class FakeRedis:
    def __init__(self) -> None:
        self.hashes: dict[str, dict[str, str]] = {}
        self.sets: dict[str, set[str]] = {}

    async def hgetall(self, key: str) -> dict[str, str]:
        return dict(self.hashes.get(key, {}))

    async def hmget(self, key: str, *fields: str) -> list[str | None]:
        return [self.hashes.get(key, {}).get(f) for f in fields]

    async def smismember(self, key: str, members: list[str]) -> list[int]:
        return [int(m in self.sets.get(key, set())) for m in members]

    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline(self)

    def __getattr__(self, name: str) -> Any:
        # Reads only: a route that writes the cache fails here.
        raise AssertionError(f"redis.{name} called on the read path")


class FakeDb:
    """Rows by table, keyed by the first parameter of a single-key SELECT."""

    def __init__(self, tables: dict[str, dict[str, Any]]) -> None:
        self.tables = tables
        self.queries: list[str] = []

    async def execute(self, cql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        assert cql.startswith("SELECT"), f"a write on the read path: {cql}"
        table = cql.split(" FROM ")[1].split()[0]
        self.queries.append(table)
        row = self.tables.get(table, {}).get(params[0])
        return [row] if row else []


class NoProducer:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"producer.{name} called")


KEYS = RedisKeys("ns")


@pytest.fixture
def fakes() -> tuple[FakeRedis, FakeDb]:
    ada = SimpleNamespace(
        username="ada", display_name="Ada", is_private=True, bio="engines", deleted=None
    )
    redis = FakeRedis()
    redis.hashes[KEYS.user_counts("u1")] = {"followers": "3", "following": "2", "posts": "1"}
    db = FakeDb(
        {
            "users": {"u1": ada},
            "usernames": {
                "ada": SimpleNamespace(user_id="u1"),
                "held": SimpleNamespace(user_id=""),  # reserved after a deletion
            },
        }
    )
    return redis, db


@pytest.fixture
def client(fakes: tuple[FakeRedis, FakeDb]) -> TestClient:
    redis, db = fakes
    settings = Settings(secret_key=SECRET)
    app = create_app(settings)
    # Each route declares the clients it uses; only those need a fake.
    app.dependency_overrides[get_redis] = lambda: redis
    app.dependency_overrides[get_db] = lambda: db
    app.dependency_overrides[get_keys] = lambda: KEYS
    app.dependency_overrides[get_secret] = lambda: SECRET
    app.dependency_overrides[get_producer] = lambda: NoProducer()
    return TestClient(app)  # no `with`: the lifespan (real connections) does not run


def auth(user: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(user, secret=SECRET, ttl_s=60)}"}


ADA = {
    "user_id": "u1",
    "username": "ada",
    "display_name": "Ada",
    "is_private": True,
    "bio": "engines",
    "followers": 3,
    "following": 2,
    "posts": 1,
}


def test_read_user_missing_from_redis_reads_cassandra_and_writes_nothing(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb]
) -> None:
    redis, db = fakes
    first = client.get("/v1/users/u1", headers=auth())
    assert first.status_code == 200
    assert first.json() == ADA
    assert KEYS.user("u1") not in redis.hashes  # `photostream rebuild` refills the cache
    second = client.get("/v1/users/u1", headers=auth())
    assert second.json() == first.json()
    assert db.queries == ["users", "users"]


def test_read_user_cached_in_redis_skips_cassandra(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb]
) -> None:
    redis, db = fakes
    redis.hashes[KEYS.user("u1")] = {
        "username": "ada",
        "display_name": "Ada",
        "is_private": "0",
        "bio": "cached bio",
    }
    response = client.get("/v1/users/u1", headers=auth())
    assert response.status_code == 200
    assert response.json()["is_private"] is False
    assert response.json()["bio"] == "cached bio"
    assert db.queries == []


def test_unknown_user_is_404_json(client: TestClient) -> None:
    response = client.get("/v1/users/nobody", headers=auth())
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "user 'nobody' not found"}


@pytest.mark.parametrize("who_blocked", ["viewer", "owner"])
def test_profile_behind_a_block_either_way_is_404_like_an_unknown_one(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb], who_blocked: str
) -> None:
    redis, _ = fakes
    redis.hashes[KEYS.user("u1")] = {"username": "ada", "display_name": "Ada", "is_private": "0"}
    # The graph keeps a block in both users' sets, whoever made it.
    redis.sets[KEYS.blocked("viewer")] = {"u1"}
    response = client.get("/v1/users/u1", headers=auth("viewer"))
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "user 'u1' not found"}
    assert client.get("/v1/users/by-username/ada", headers=auth("viewer")).status_code == 404
    assert client.get("/v1/users/u1", headers=auth("someone-else")).status_code == 200


def test_deleted_account_is_404_even_for_its_owner_and_by_username(
    client: TestClient, fakes: tuple[FakeRedis, FakeDb]
) -> None:
    redis, _ = fakes
    redis.hashes[KEYS.user("u1")] = {"username": "ada", "display_name": "", "deleted": "1"}
    assert client.get("/v1/users/u1", headers=auth()).status_code == 404
    assert client.get("/v1/users/by-username/ada", headers=auth()).status_code == 404
    assert client.get("/v1/users/me", headers=auth("u1")).status_code == 404


@pytest.mark.parametrize("spelling", ["ada", "ADA", "Ａｄａ"])
def test_lookup_by_username_in_any_spelling_answers_the_profile(
    client: TestClient, spelling: str
) -> None:
    response = client.get(f"/v1/users/by-username/{spelling}", headers=auth())
    assert response.status_code == 200
    assert response.json() == ADA


@pytest.mark.parametrize("name", ["nobody", "held", "not a name", "...."])
def test_lookup_of_a_free_reserved_or_impossible_username_is_404(
    client: TestClient, name: str
) -> None:
    response = client.get(f"/v1/users/by-username/{name}", headers=auth())
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_me_is_the_token_users_own_profile_not_a_user_called_me(client: TestClient) -> None:
    response = client.get("/v1/users/me", headers=auth("u1"))
    assert response.status_code == 200
    assert response.json() == ADA


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"username": "has space"}, "username"),
        ({"username": "."}, "username"),
        ({"username": ""}, "username"),
        ({"display_name": "x" * 129}, "display_name"),
        ({"bio": "x" * 513}, "bio"),
        ({"is_private": "yes"}, "is_private"),
        ({"bio": 42}, "bio"),
        ({"avatar": "x"}, "avatar"),  # unknown fields are refused, not ignored
    ],
)
def test_invalid_profile_edit_is_422_json_naming_the_field(
    client: TestClient, body: dict[str, Any], where: str
) -> None:
    response = client.patch("/v1/users/me", json=body, headers=auth("u1"))
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"
    assert where in response.json()["message"]


def test_profile_edit_of_a_user_with_neither_profile_nor_account_is_404(
    client: TestClient,
) -> None:
    response = client.patch("/v1/users/me", json={"bio": "hi"}, headers=auth("ghost"))
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "user 'ghost' not found"}


def test_profile_edit_that_changes_nothing_publishes_nothing(client: TestClient) -> None:
    # NoProducer fails the request if anything is produced.
    response = client.patch(
        "/v1/users/me", json={"bio": "engines", "username": "ADA"}, headers=auth("u1")
    )
    assert response.status_code == 200
    assert response.json() == ADA


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
    assert "/v1/users/by-username/{username}" in paths
    assert {"get", "patch"} <= set(paths["/v1/users/me"])
    assert {"/v1/accounts", "/v1/accounts/login", "/v1/accounts/refresh"} <= set(paths)
    assert "/healthz" in paths
