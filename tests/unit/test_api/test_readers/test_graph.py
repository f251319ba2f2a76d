"""Follower lists page through every id once, in id order, with ``domain.cursors`` cursors."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from api.readers.graph import read_follows
from domain.cursors import decode_cursor
from schemas.redis_keys import RedisKeys


class FakeDb:
    def __init__(self, ids: list[str]) -> None:
        self.ids = sorted(ids)

    async def execute(self, cql: str, params: tuple[Any, ...]) -> list[Any]:
        _, after, limit = params
        return [SimpleNamespace(id=i) for i in self.ids if i > after][:limit]


class FakePipeline:
    def __init__(self) -> None:
        self.calls = 0

    async def __aenter__(self) -> FakePipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def hgetall(self, key: str) -> None:
        self.calls += 1

    async def execute(self) -> list[dict[str, str]]:
        return [{}] * self.calls  # no cached profile: the id stands in for the name


class FakeRedis:
    def pipeline(self, transaction: bool = True) -> FakePipeline:
        return FakePipeline()


async def test_read_follows_pages_every_id_once_in_order() -> None:
    ids = [f"u{i:02d}" for i in range(7)]
    db, redis, keys = FakeDb(ids), FakeRedis(), RedisKeys("ns")
    seen, cursor = [], None
    while True:
        page = await read_follows(redis, db, keys, "followers", "x", cursor=cursor, limit=3)  # type: ignore[arg-type]
        seen += [u.user_id for u in page.data]
        if page.next_cursor is None:
            break
        assert decode_cursor(page.next_cursor, "a")["a"] == seen[-1]
        cursor = page.next_cursor
    assert seen == ids


async def test_read_follows_last_full_page_has_no_cursor() -> None:
    page = await read_follows(
        FakeRedis(),  # type: ignore[arg-type]
        FakeDb(["a", "b"]),  # type: ignore[arg-type]
        RedisKeys("ns"),
        "following",
        "x",
        cursor=None,
        limit=2,
    )
    assert [u.user_id for u in page.data] == ["a", "b"]
    assert page.next_cursor is None
