"""The graph projection on real Cassandra and Redis: follow requests, mutes and blocks,
replayable, and rebuilt from Cassandra alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.clock import to_ms
from domain.graph import FollowFacts
from schemas.redis_hashes import ProfileHash
from sinks.connections import Connections
from sinks.graph import (
    read_audience,
    read_follow_facts,
    read_follow_requests,
    rebuild_graph,
    write_block,
    write_close_friend,
    write_follow,
    write_follow_request,
    write_mute,
)
from tests.factories import unique

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
async def conn(namespace: str, settings: Any) -> AsyncIterator[Connections]:
    c = Connections(settings)
    yield c
    await c.close()


async def _request(conn: Connections, owner: str, requester: str, seconds: float = 0) -> None:
    await write_follow_request(
        conn,
        owner_id=owner,
        requester_id=requester,
        present=True,
        requested_at=T0 + timedelta(seconds=seconds),
    )


async def _rows(conn: Connections, cql: str, *params: str) -> list[Any]:
    return await (await conn.db()).execute(cql, params)


async def test_request_is_pending_in_both_stores_and_a_replay_keeps_its_time(
    conn: Connections,
) -> None:
    owner, fan, late = unique("owner"), unique("fan"), unique("late")
    k, redis = conn.keys, conn.redis()
    await redis.hset(k.user(owner), items=ProfileHash("o", "O", is_private=True).fields())
    await _request(conn, owner, fan, seconds=1)
    await _request(conn, owner, late, seconds=5)
    await _request(conn, owner, fan, seconds=9)  # asked again (a replay): the first time stays
    assert await redis.zrange(k.follow_requests(owner), 0, -1, withscores=True) == [
        (fan, float(to_ms(T0 + timedelta(seconds=1)))),
        (late, float(to_ms(T0 + timedelta(seconds=5)))),
    ]
    assert await redis.smembers(k.requests_sent(fan)) == {owner}
    assert await read_follow_requests(conn, owner) == [fan, late]
    assert await read_follow_facts(conn, fan, owner) == FollowFacts(private=True, requested=True)
    rows = await _rows(conn, "SELECT requester_id FROM follow_requests WHERE owner_id = ?", owner)
    assert sorted(r.requester_id for r in rows) == sorted([fan, late])

    await write_follow_request(
        conn, owner_id=owner, requester_id=fan, present=False, requested_at=T0
    )
    assert await read_follow_requests(conn, owner) == [late]
    assert await redis.smembers(k.requests_sent(fan)) == set()
    assert await read_follow_facts(conn, fan, owner) == FollowFacts(private=True)
    rows = await _rows(conn, "SELECT requester_id FROM follow_requests WHERE owner_id = ?", owner)
    assert [r.requester_id for r in rows] == [late]


async def test_unknown_profile_is_public_and_a_block_shows_in_the_facts(conn: Connections) -> None:
    a, b = unique("a"), unique("b")
    assert await read_follow_facts(conn, a, b) == FollowFacts()
    await write_block(conn, blocker_id=b, blocked_id=a, present=True, occurred_at=T0)
    assert (await read_follow_facts(conn, a, b)).hidden
    assert (await read_follow_facts(conn, b, a)).hidden


async def test_block_ends_pending_requests_and_close_friendship_both_ways(
    conn: Connections,
) -> None:
    a, b, other = unique("a"), unique("b"), unique("other")
    k, redis = conn.keys, conn.redis()
    await _request(conn, a, b)
    await _request(conn, b, a)
    await _request(conn, a, other)
    await write_close_friend(conn, user_id=a, friend_id=b, present=True, occurred_at=T0)
    await write_block(conn, blocker_id=a, blocked_id=b, present=True, occurred_at=T0)
    assert await read_follow_requests(conn, a) == [other]
    assert await read_follow_requests(conn, b) == []
    assert await redis.smembers(k.requests_sent(a)) == set()
    assert await redis.smembers(k.requests_sent(b)) == set()
    assert await redis.smembers(k.close_friend_of(b)) == set()
    for owner, requester in ((a, b), (b, a)):
        rows = await _rows(
            conn,
            "SELECT requester_id FROM follow_requests WHERE owner_id = ? AND requester_id = ?",
            owner,
            requester,
        )
        assert rows == []


async def test_mute_keeps_the_follow_and_marks_the_muter_in_the_audience(
    conn: Connections,
) -> None:
    author, muter, fan = unique("author"), unique("muter"), unique("fan")
    for follower, count in ((muter, 1), (fan, 2)):
        await write_follow(
            conn,
            follower_id=follower,
            followee_id=author,
            present=True,
            follower_count=count,
            celebrity=False,
            occurred_at=T0,
        )
    await write_mute(conn, user_id=muter, muted_id=author, present=True, occurred_at=T0)
    await write_mute(conn, user_id=muter, muted_id=author, present=True, occurred_at=T0)
    audience = await read_audience(conn, author)
    assert audience.followers == tuple(sorted((muter, fan)))
    assert audience.muted_by == frozenset({muter})
    assert await conn.redis().smembers(conn.keys.muted(muter)) == {author}
    rows = await _rows(conn, "SELECT muted_id FROM mutes WHERE user_id = ?", muter)
    assert [r.muted_id for r in rows] == [author]

    await write_mute(conn, user_id=muter, muted_id=author, present=False, occurred_at=T0)
    assert (await read_audience(conn, author)).muted_by == frozenset()
    assert await _rows(conn, "SELECT muted_id FROM mutes WHERE user_id = ?", muter) == []


async def test_rebuild_restores_requests_mutes_and_close_friend_index(conn: Connections) -> None:
    owner, fan, muter, friend = unique("owner"), unique("fan"), unique("muter"), unique("cf")
    k, redis = conn.keys, conn.redis()
    await _request(conn, owner, fan, seconds=3)
    await write_mute(conn, user_id=muter, muted_id=owner, present=True, occurred_at=T0)
    await write_close_friend(conn, user_id=owner, friend_id=friend, present=True, occurred_at=T0)
    keys = [
        k.follow_requests(owner),
        k.requests_sent(fan),
        k.muted(muter),
        k.close_friends(owner),
        k.close_friend_of(friend),
    ]
    before = [await redis.zrange(keys[0], 0, -1, withscores=True)] + [
        await redis.smembers(key) for key in keys[1:]
    ]
    await redis.delete(*keys)
    await rebuild_graph(conn)
    after = [await redis.zrange(keys[0], 0, -1, withscores=True)] + [
        await redis.smembers(key) for key in keys[1:]
    ]
    assert after == before
    assert before == [
        [(fan, float(to_ms(T0 + timedelta(seconds=3))))],
        {owner},
        {owner},
        {friend},
        {owner},
    ]
