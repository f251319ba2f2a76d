"""Redis is a cache: trays and trending lists come back from Cassandra after a loss."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from schemas.events import make_event
from tests.factories import unique
from tests.support import wait_until


def _rebuild(settings, name: str) -> int:  # type: ignore[no-untyped-def]
    from sinks.connections import Connections
    from sinks.rebuild import REBUILDERS

    async def run() -> int:
        conn = Connections(settings)
        try:
            return await REBUILDERS[name](conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def _drop(settings, *keys: str) -> None:  # type: ignore[no-untyped-def]
    from clients.redis import connect

    async def run() -> None:
        redis = connect(settings)
        await redis.delete(*keys)
        await redis.aclose()

    asyncio.run(run())


def test_trending_and_trays_are_rebuilt_from_cassandra(
    worker, api, producer, token_for, settings
) -> None:  # type: ignore[no-untyped-def]
    from schemas.redis_keys import RedisKeys

    keys = RedisKeys(settings.namespace)
    tag, viewer, author = unique("rebuildtag"), unique("rv"), unique("ra")
    for user in (unique("x"), unique("y")):
        producer.send(
            make_event(
                "post_created",
                user_id=user,
                post_id=unique("rp"),
                caption=f"#{tag}",
                media=[],
                occurred_at=datetime.now(UTC) - timedelta(hours=2),
            )
        )
    producer.send(make_event("follow", user_id=viewer, target_id=author))
    producer.flush()
    headers = token_for(viewer)

    def count() -> int:
        r = httpx.get(
            f"{api.url}/v1/trending/hashtags",
            params={"window": "24h", "limit": 100},
            headers=headers,
        )
        return {e["tag"]: e["count"] for e in r.json()["data"]}.get(tag, 0)

    def tray() -> list[str]:
        r = httpx.get(f"{api.url}/v1/stories/tray", headers=headers)
        return [e["author_id"] for e in r.json()["data"]]

    wait_until(lambda: count() == 2, timeout_s=45, what="the tag counted")
    wait_until(
        lambda: (
            httpx.get(f"{api.url}/v1/users/{viewer}", headers=headers).status_code in (200, 404)
            and _following(settings, viewer, author)
        ),
        timeout_s=45,
        what="the follow",
    )
    story = unique("rs")
    producer.send(
        make_event(
            "story_created", user_id=author, story_id=story, media_id="m", close_friends_only=False
        )
    )
    producer.flush()
    wait_until(lambda: tray() == [author], timeout_s=45, what="the story in the tray")

    _drop(
        settings,
        keys.hashtag_users(tag),
        keys.trending("24h"),
        keys.story_tray(viewer),
        keys.story(story),
        keys.author_stories(author),
    )
    assert tray() == [] and count() == 0
    assert _rebuild(settings, "trending") >= 2
    assert _rebuild(settings, "stories") >= 1
    assert count() == 2
    assert tray() == [author]
    r = httpx.get(f"{api.url}/v1/stories/{story}", headers=headers)
    assert r.status_code == 200 and r.json()["author_id"] == author


def _following(settings, viewer: str, author: str) -> bool:  # type: ignore[no-untyped-def]
    from clients import cassandra as cassandra_client

    session = cassandra_client.connect(settings, keyspace=settings.cassandra_keyspace)
    try:
        rows = session.execute(
            "SELECT follower_id FROM followers WHERE user_id = %s AND follower_id = %s",
            (author, viewer),
        )
        return bool(list(rows))
    finally:
        cassandra_client.close(session)
