"""Comment pages follow comment ids (which sort by time), oldest first."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from api.readers.engagement import read_comments


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


async def test_read_comments_pages_oldest_first_without_repeats() -> None:
    ids = [f"c{i}" for i in range(5)]
    db = FakeDb(ids)
    seen, cursor = [], None
    while True:
        page = await read_comments(db, "p1", cursor=cursor, limit=2)  # type: ignore[arg-type]
        seen += [c.comment_id for c in page.data]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids
    assert page.data[-1].created_at == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)
