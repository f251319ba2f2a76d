"""The search projection on real Redis: renames, deletions, counts beside the terms Redis
holds, tag members replaced, top lists capped, and every write replayable."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from domain.search import TOP_K
from schemas.redis_keys import SEARCH_TERM_SEPARATOR
from sinks.connections import Connections
from sinks.search import NameChange, terms_of, write_tag_index, write_user_index
from tests.factories import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def conn(namespace: str, settings: Any) -> AsyncIterator[Connections]:
    c = Connections(settings)
    yield c
    await c.close()


async def _members(conn: Connections, user_id: str) -> list[str]:
    members = await conn.redis().zrange(conn.keys.search_users(), 0, -1)
    return sorted(
        m.partition(SEARCH_TERM_SEPARATOR)[0]
        for m in members
        if m.partition(SEARCH_TERM_SEPARATOR)[2] == user_id
    )


async def test_a_rename_leaves_only_the_new_terms_and_replays_change_nothing(
    conn: Connections,
) -> None:
    user = unique("sx")
    await conn.redis().hset(conn.keys.user_counts(user), "followers", 4)
    first = NameChange(user, (), ("ada", "ada lovelace"))
    renamed = NameChange(user, first.new, ("countess", "lovelace"))
    for _ in range(2):  # the second time: a replay
        await write_user_index(conn, [first, renamed], {})
        assert await _members(conn, user) == ["countess", "lovelace"]
        value = await conn.redis().hget(conn.keys.search_user_terms(), user)
        assert value is not None and value.startswith("4\x1f")
        assert terms_of(value) == ["countess", "lovelace"]
        top = conn.keys.search_users_top
        assert await conn.redis().zscore(top("co"), user) == 4
        assert await conn.redis().zscore(top("ad"), user) is None
    await write_user_index(conn, [NameChange(user, renamed.new, ())], {})
    assert await _members(conn, user) == []
    assert await conn.redis().hget(conn.keys.search_user_terms(), user) is None
    assert await conn.redis().zscore(conn.keys.search_users_top("co"), user) is None


async def test_a_refresh_sets_the_count_beside_the_terms_redis_holds(conn: Connections) -> None:
    user = unique("sy")
    await write_user_index(conn, [NameChange(user, (), ("newname",))], {})
    await conn.redis().hset(conn.keys.user_counts(user), "followers", 9)
    # A refresh that read older terms before the rename was written: only the count moves.
    await write_user_index(conn, [], {user: ("oldname",)})
    value = await conn.redis().hget(conn.keys.search_user_terms(), user)
    assert value == "9\x1fnewname"
    assert await _members(conn, user) == ["newname"]
    # A user no longer indexed gets no terms back.
    gone = unique("sz")
    await write_user_index(conn, [], {gone: ("whatever",)})
    assert await conn.redis().hget(conn.keys.search_user_terms(), gone) is None


async def test_a_tag_has_one_member_with_its_count_and_none_at_zero(conn: Connections) -> None:
    tag, shorter = unique("tagx"), None
    shorter = tag[:-1]
    await write_tag_index(conn, {tag: 2, shorter: 1})
    await write_tag_index(conn, {tag: 3})
    members = await conn.redis().zrangebylex(conn.keys.search_tags(), f"[{shorter}", f"[{tag}\xff")
    assert sorted(members) == sorted([f"{shorter}\x001", f"{tag}\x003"])
    await write_tag_index(conn, {tag: 0})
    members = await conn.redis().zrangebylex(conn.keys.search_tags(), f"[{shorter}", f"[{tag}\xff")
    assert members == [f"{shorter}\x001"]
    assert await conn.redis().zscore(conn.keys.search_tags_top(tag[:2]), tag) is None


async def test_top_lists_keep_the_most_popular(conn: Connections) -> None:
    prefix = unique("")[-1] + "Ω"  # a two-character prefix nobody else uses
    tags = {f"{prefix}{i}": i + 1 for i in range(TOP_K + 30)}
    await write_tag_index(conn, tags)
    top = await conn.redis().zrevrange(conn.keys.search_tags_top(prefix), 0, -1)
    assert len(top) == TOP_K
    assert top[:3] == [f"{prefix}{TOP_K + 29}", f"{prefix}{TOP_K + 28}", f"{prefix}{TOP_K + 27}"]
    assert f"{prefix}0" not in top
