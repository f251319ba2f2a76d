"""`photostream rebuild`: profiles, posts and feeds come back from Cassandra."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx

from schemas.events import make_event
from tests.factories import unique
from tests.support import ROOT, wait_until


def _drop(settings, *keys: str) -> int:  # type: ignore[no-untyped-def]
    from clients.redis import connect

    async def run() -> int:
        redis = connect(settings)
        try:
            return int(await redis.delete(*keys))
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_rebuild_restores_profiles_posts_and_feeds(
    worker, api, producer, token_for, settings, test_env
) -> None:  # type: ignore[no-untyped-def]
    from schemas.redis_keys import RedisKeys

    keys = RedisKeys(settings.namespace)
    author, reader, post_id = unique("rb-author"), unique("rb-reader"), unique("rb-post")
    producer.send(
        make_event(
            "profile_updated",
            user_id=author,
            username="rebuilt",
            display_name="Re Built",
            is_private=False,
        )
    )
    producer.send(make_event("follow", user_id=reader, target_id=author))
    producer.flush()
    headers = token_for(reader)

    def following() -> bool:
        r = httpx.get(f"{api.url}/v1/users/{author}/followers", headers=headers, timeout=5)
        return r.status_code == 200 and reader in [u["user_id"] for u in r.json()["data"]]

    wait_until(following, timeout_s=30, what="the follow")
    producer.send(
        make_event("post_created", user_id=author, post_id=post_id, caption="kept", media=[])
    )
    producer.flush()

    def feed_ids() -> list[str]:
        r = httpx.get(f"{api.url}/v1/feed", params={"limit": 10}, headers=headers, timeout=5)
        return [p["post_id"] for p in r.json()["data"]] if r.status_code == 200 else []

    wait_until(lambda: post_id in feed_ids(), timeout_s=30, what="the post in the feed")
    profile = httpx.get(f"{api.url}/v1/users/{author}", headers=headers, timeout=5).json()
    # Wait for the durable feed copy (flushed every few seconds) before losing Redis.
    dropped = [keys.user(author), keys.post(post_id), keys.feed(reader), keys.author_posts(author)]

    def feed_snapshot_written() -> bool:
        from clients import cassandra as cassandra_client

        session = cassandra_client.connect(settings, keyspace=settings.cassandra_keyspace)
        try:
            tables = {
                r.table_name
                for r in session.execute(
                    "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
                    (settings.cassandra_keyspace,),
                )
            }
            assert "feed_candidates" in tables
            return (
                session.execute(
                    "SELECT user_id FROM feed_candidates WHERE user_id = %s", (reader,)
                ).one()
                is not None
            )
        finally:
            cassandra_client.close(session)

    wait_until(feed_snapshot_written, timeout_s=30, interval_s=0.5, what="the durable feed copy")
    assert _drop(settings, *dropped) == len(dropped)
    assert httpx.get(f"{api.url}/v1/posts/{post_id}", headers=headers, timeout=5).status_code == 404

    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "rebuild"],
        env={**test_env, "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert "profiles:" in result.stdout.decode()

    assert httpx.get(f"{api.url}/v1/users/{author}", headers=headers, timeout=5).json() == profile
    assert (
        httpx.get(f"{api.url}/v1/posts/{post_id}", headers=headers, timeout=5).json()["caption"]
        == "kept"
    )
    assert post_id in feed_ids()
