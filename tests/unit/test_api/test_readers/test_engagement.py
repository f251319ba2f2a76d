"""Comment and saved-post pages: every item once, in order, and no cache writes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from api.readers.engagement import comments_after, read_comments, read_saved
from schemas.redis_keys import RedisKeys


class FakeDb:
    def __init__(self, comment_ids: list[str]) -> None:
        self.rows = [
            SimpleNamespace(
                comment_id=c, user_id="u", text=c, created_at=datetime(2024, 1, 1, tzinfo=UTC)
            )
            for c in sorted(comment_ids)
        ]

    async def execute(self, cql: str, params: tuple[Any, ...]) -> list[Any]:
        _, after, limit = params
        return [r for r in self.rows if r.comment_id > after][:limit]


class TiesRedis:
    """Answers the ties pipeline: ``blocked`` commenters are blocked with the viewer."""

    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked
        self.calls: list[Any] = []

    def pipeline(self, transaction: bool = True) -> TiesRedis:
        self.calls = []
        return self

    async def __aenter__(self) -> TiesRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def smismember(self, key: str, members: list[str]) -> None:
        hit = self.blocked if key.startswith("ns:blocked:") else set()
        self.calls.append([int(m in hit) for m in members])

    def hgetall(self, key: str) -> None:
        self.calls.append({})

    async def execute(self) -> list[Any]:
        return self.calls


async def _comment_pages(redis: TiesRedis, db: FakeDb) -> tuple[list[str], Any]:
    seen, cursor = [], None
    while True:
        page = await read_comments(
            redis,  # type: ignore[arg-type]
            db,  # type: ignore[arg-type]
            RedisKeys("ns"),
            "viewer",
            "p1",
            after=comments_after(cursor),
            limit=2,
        )
        seen += [c.comment_id for c in page.data]
        if page.next_cursor is None:
            return seen, page
        cursor = page.next_cursor


async def test_read_comments_leave_out_commenters_blocked_with_the_viewer() -> None:
    db = FakeDb([f"c{i}" for i in range(5)])
    for i, row in enumerate(db.rows):
        row.user_id = f"u{i % 2}"
    seen, _ = await _comment_pages(TiesRedis({"u1"}), db)
    assert seen == ["c0", "c2", "c4"]  # the cursor still walks every row


async def test_read_comments_pages_oldest_first_without_repeats() -> None:
    ids = [f"c{i}" for i in range(5)]
    db = FakeDb(ids)
    seen, page = await _comment_pages(TiesRedis(set()), db)
    assert seen == ids
    assert page.data[-1].created_at == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)


class SavedRedis:
    """Saved lists as sorted sets; any write fails (the read path writes nothing)."""

    def __init__(self, zsets: dict[str, dict[str, int]]) -> None:
        self.zsets = zsets

    def pipeline(self, transaction: bool = True) -> SavedPipeline:
        return SavedPipeline(self)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"redis.{name} called on the read path")


class SavedPipeline:
    def __init__(self, redis: SavedRedis) -> None:
        self.redis, self.results = redis, []  # type: ignore[var-annotated]

    async def __aenter__(self) -> SavedPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def exists(self, key: str) -> None:
        self.results.append(int(key in self.redis.zsets))

    def zrevrangebyscore(self, key: str, top: Any, bottom: Any, **kw: Any) -> None:
        members = self.redis.zsets.get(key, {})
        ceiling = float("inf") if top == "+inf" else int(top)
        entries = sorted(((s, m) for m, s in members.items() if s <= ceiling), reverse=True)
        self.results.append([(m, float(s)) for s, m in entries][: kw["num"]])

    async def execute(self) -> list[Any]:
        return self.results


class SavesDb:
    def __init__(self, saves: dict[str, int]) -> None:
        # Cassandra's saves_by_user is clustered by post id, not by time.
        self.rows = [
            SimpleNamespace(post_id=p, saved_at=datetime.fromtimestamp(ms / 1000, UTC))
            for p, ms in sorted(saves.items())
        ]
        self.queries = 0

    async def execute(self, cql: str, params: tuple[Any, ...]) -> list[Any]:
        self.queries += 1
        return self.rows


SAVES = {"pa": 3000, "pb": 1000, "pc": 2000, "pd": 2000, "pe": 5000}
NEWEST_FIRST = ["pe", "pa", "pd", "pc", "pb"]


async def _all_pages(redis: Any, db: Any) -> list[str]:
    seen, cursor = [], None
    while True:
        page, cursor = await read_saved(redis, db, RedisKeys("ns"), "u1", cursor=cursor, limit=2)
        seen += [post_id for _, post_id in page]
        if cursor is None:
            return seen


async def test_read_saved_from_redis_pages_newest_first() -> None:
    db = SavesDb({})
    assert await _all_pages(SavedRedis({"ns:saved:u1": dict(SAVES)}), db) == NEWEST_FIRST
    assert db.queries == 0


async def test_read_saved_missing_from_redis_reads_cassandra_and_writes_nothing() -> None:
    redis, db = SavedRedis({}), SavesDb(SAVES)
    assert await _all_pages(redis, db) == NEWEST_FIRST
    assert redis.zsets == {}
    assert db.queries == 3  # one bounded read per page while the cache is cold
