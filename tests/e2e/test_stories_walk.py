"""Stories from producers to the API over the real Kafka, worker, Redis and Cassandra.

The graph (follows, close friends, blocks) is produced as events and materialised by
the graph agent; the stories agent fans out against it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from schemas.events import make_event
from tests.factories import unique
from tests.support import wait_until


@pytest.fixture(scope="module")
def followers_of(namespace: str, settings):  # type: ignore[no-untyped-def]
    """Reads the graph's Cassandra followers table, to know when the graph is in place."""
    from clients import cassandra as cassandra_client

    session = cassandra_client.connect(settings, keyspace=settings.cassandra_keyspace)

    def read(author: str) -> set[str]:
        rows = session.execute("SELECT follower_id FROM followers WHERE user_id = %s", (author,))
        return {row.follower_id for row in rows}

    yield read
    cassandra_client.close(session)


def _graph(producer, kind: str, user: str, target: str) -> None:  # type: ignore[no-untyped-def]
    producer.send(make_event(kind, user_id=user, target_id=target))


def _story(producer, author: str, *, ago: timedelta, close_friends_only: bool = False) -> str:  # type: ignore[no-untyped-def]
    story_id = unique("st")
    producer.send(
        make_event(
            "story_created",
            user_id=author,
            story_id=story_id,
            media_id=unique("sm"),
            close_friends_only=close_friends_only,
            occurred_at=datetime.now(UTC) - ago,
        )
    )
    return story_id


def _get(api, path: str, user: str, token_for, **params: Any) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(f"{api.url}/v1{path}", params=params, headers=token_for(user), timeout=5)


def _tray(api, viewer: str, token_for) -> list[tuple[str, bool, bool]]:  # type: ignore[no-untyped-def]
    r = _get(api, "/stories/tray", viewer, token_for)
    assert r.status_code == 200, r.text
    return [(e["author_id"], e["close_friend"], e["has_unseen"]) for e in r.json()["data"]]


def _expired_events(settings, story_id: str) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from clients.kafka import open_tail
    from schemas.topics import STORIES

    consumer = open_tail(settings, [STORIES.name(settings.namespace)], from_beginning=True)
    try:
        idle = 0
        while idle < 3:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 1
                continue
            idle = 0
            if msg.error() is None:
                body = orjson.loads(msg.value())
                if body.get("type") == "story_expired" and body.get("story_id") == story_id:
                    yield body
    finally:
        consumer.close()


def test_tray_order_visibility_expiry_deletion_seen_and_receipts(
    worker, api, producer, token_for, followers_of, settings
) -> None:  # type: ignore[no-untyped-def]
    viewer = unique("viewer")
    cf, newer, older, seen, hidden, blocked, stale = (
        unique(n) for n in ("cf", "newer", "older", "seen", "hidden", "blocked", "stale")
    )
    authors = (cf, newer, older, seen, hidden, blocked, stale)
    for author in authors:
        _graph(producer, "follow", viewer, author)
    _graph(producer, "close_friend_added", cf, viewer)  # cf counts the viewer as close
    producer.flush()
    wait_until(
        lambda: all(viewer in followers_of(a) for a in authors),
        timeout_s=45,
        what="the viewer's follows in the graph",
    )
    _graph(producer, "block", blocked, viewer)
    producer.flush()
    wait_until(lambda: viewer not in followers_of(blocked), timeout_s=45, what="the block")

    cf_public = _story(producer, cf, ago=timedelta(hours=5))
    cf_private = _story(producer, cf, ago=timedelta(hours=4), close_friends_only=True)
    newer_story = _story(producer, newer, ago=timedelta(hours=1))
    _story(producer, newer, ago=timedelta(hours=2))
    older_story = _story(producer, older, ago=timedelta(hours=3))
    seen_story = _story(producer, seen, ago=timedelta(minutes=30))
    hidden_story = _story(producer, hidden, ago=timedelta(minutes=10), close_friends_only=True)
    _story(producer, blocked, ago=timedelta(minutes=5))
    stale_story = _story(producer, stale, ago=timedelta(hours=25))
    producer.flush()

    wait_until(
        lambda: _get(api, f"/stories/{seen_story}", viewer, token_for).status_code == 200,
        timeout_s=45,
        what="the story to be served",
    )
    producer.send(make_event("story_viewed", user_id=viewer, story_id=seen_story, owner_id=seen))
    producer.flush()

    expected = [
        (cf, True, True),
        (newer, False, True),
        (older, False, True),
        (seen, False, False),  # newest of all, but already watched
    ]
    wait_until(
        lambda: _tray(api, viewer, token_for) == expected,
        timeout_s=45,
        what=f"tray {expected}",
    )

    # The close friend sees the close-friends story; nobody else knows it exists.
    cf_stories = _get(api, f"/users/{cf}/stories", viewer, token_for).json()["data"]
    assert [s["story_id"] for s in cf_stories] == [cf_public, cf_private]
    assert cf_stories[1]["close_friends_only"] is True
    assert cf_stories[0]["media"]["state"] == "pending"
    stranger = unique("stranger")
    assert [
        s["story_id"] for s in _get(api, f"/users/{cf}/stories", stranger, token_for).json()["data"]
    ] == [cf_public]
    assert _get(api, f"/stories/{cf_private}", stranger, token_for).status_code == 404
    r = _get(api, f"/stories/{hidden_story}", viewer, token_for)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert _get(api, f"/users/{hidden}/stories", viewer, token_for).json()["data"] == []
    assert _get(api, f"/stories/{hidden_story}", hidden, token_for).status_code == 200

    # Produced 25 h ago: never served, and swept exactly once.
    assert _get(api, f"/stories/{stale_story}", viewer, token_for).status_code == 404
    assert _get(api, f"/users/{stale}/stories", viewer, token_for).json()["data"] == []
    assert _get(api, f"/stories/{stale_story}", stale, token_for).status_code == 404
    wait_until(
        lambda: list(_expired_events(settings, stale_story)),
        timeout_s=30,
        what="story_expired from the sweeper",
    )

    # Seen state per story: the watched one is marked.
    seen_list = _get(api, f"/users/{seen}/stories", viewer, token_for).json()["data"]
    assert [(s["story_id"], s["seen"]) for s in seen_list] == [(seen_story, True)]

    # Deleting the newest story of `newer` falls back to its older one; deleting
    # `older`'s only story takes `older` out of the tray at once.
    producer.send(make_event("story_deleted", user_id=newer, story_id=newer_story))
    producer.send(make_event("story_deleted", user_id=older, story_id=older_story))
    producer.flush()
    wait_until(
        lambda: [a for a, *_ in _tray(api, viewer, token_for)] == [cf, newer, seen],
        timeout_s=45,
        what="the deletions in the tray",
    )
    assert _get(api, f"/stories/{newer_story}", viewer, token_for).status_code == 404
    assert len(_get(api, f"/users/{newer}/stories", viewer, token_for).json()["data"]) == 1

    # The sweeper announced the stale story once: let a few more sweeps (1 s apart in
    # tests) pass, since proving that nothing more happens needs some elapsed time.
    time.sleep(3 * settings.story_sweep_interval_s)
    assert len(list(_expired_events(settings, stale_story))) == 1


def test_viewer_list_is_for_the_author_only_and_idempotent_per_viewer(
    worker, api, producer, token_for
) -> None:  # type: ignore[no-untyped-def]
    author, first, second = unique("author"), unique("v"), unique("v")
    story = _story(producer, author, ago=timedelta(minutes=1))
    producer.flush()
    wait_until(
        lambda: _get(api, f"/stories/{story}", first, token_for).status_code == 200,
        timeout_s=45,
        what="the story",
    )
    for viewer in (first, first, second, first, author):  # repeats and the author
        producer.send(make_event("story_viewed", user_id=viewer, story_id=story, owner_id=author))
    producer.flush()

    def viewers() -> dict[str, Any] | None:
        r = _get(api, f"/stories/{story}/viewers", author, token_for, limit=1)
        return r.json() if r.status_code == 200 and r.json()["count"] == 2 else None

    page = wait_until(viewers, timeout_s=45, what="two distinct viewers")
    ids = [v["user_id"] for v in page["data"]]
    assert page["next_cursor"] is not None
    r = _get(api, f"/stories/{story}/viewers", author, token_for, cursor=page["next_cursor"])
    ids += [v["user_id"] for v in r.json()["data"]]
    assert sorted(ids) == sorted([first, second])
    assert r.json()["next_cursor"] is None

    r = _get(api, f"/stories/{story}/viewers", first, token_for)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert _get(api, f"/stories/{unique('nope')}/viewers", author, token_for).status_code == 404


def test_story_writes_through_the_api(worker, api, token_for) -> None:  # type: ignore[no-untyped-def]
    author, viewer = unique("apiauthor"), unique("apiviewer")
    r = httpx.post(
        f"{api.url}/v1/stories",
        json={"media_id": unique("m")},
        headers={**token_for(author), "Idempotency-Key": "k1"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    story_id = r.json()["story_id"]
    wait_until(
        lambda: _get(api, f"/stories/{story_id}", viewer, token_for).status_code == 200,
        timeout_s=45,
        what="the story posted through the API",
    )
    r = httpx.post(f"{api.url}/v1/stories/{story_id}/views", headers=token_for(viewer), timeout=10)
    assert r.status_code == 202
    r = httpx.delete(f"{api.url}/v1/stories/{story_id}", headers=token_for(viewer), timeout=10)
    assert r.status_code == 404  # not theirs
    r = httpx.delete(f"{api.url}/v1/stories/{story_id}", headers=token_for(author), timeout=10)
    assert r.status_code == 202
    wait_until(
        lambda: _get(api, f"/stories/{story_id}", author, token_for).status_code == 404,
        timeout_s=45,
        what="the deletion",
    )
    r = httpx.post(f"{api.url}/v1/stories", json={"media_id": ""}, headers=token_for(author))
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_someone_who_follows_after_a_story_sees_it_in_their_tray(
    worker, api, producer, token_for, followers_of
) -> None:  # type: ignore[no-untyped-def]
    author, late = unique("early-author"), unique("late-follower")
    _story(producer, author, ago=timedelta(minutes=5))
    producer.flush()

    def story_stored() -> bool:
        r = _get(api, f"/users/{author}/stories", author, token_for)
        return r.status_code == 200 and len(r.json()["data"]) == 1

    wait_until(story_stored, timeout_s=30, what="the author's story")
    _graph(producer, "follow", late, author)
    producer.flush()
    wait_until(lambda: late in followers_of(author), timeout_s=30, what="the follow")
    tray = wait_until(lambda: _tray(api, late, token_for), timeout_s=30, what="a tray entry")
    assert tray == [(author, False, True)]
