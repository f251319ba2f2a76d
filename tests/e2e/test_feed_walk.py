"""The home feed end to end: events -> worker -> Redis/Cassandra -> API, on real services.

The session's worker runs with a celebrity threshold of 6 followers (tests/conftest.py),
so one test can follow both ordinary authors (pushed) and a celebrity (pulled).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.events import make_event
from tests.factories import unique
from tests.support import wait_until

THRESHOLD = 6


class Client:
    def __init__(self, api: Any, token_for: Any, user: str) -> None:
        self.url = api.url
        self.user = user
        self.headers = token_for(user)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}/v1{path}", headers=self.headers, params=params, timeout=10)

    def feed_ids(self, limit: int = 100) -> list[str]:
        r = self.get("/feed", limit=limit)
        assert r.status_code == 200, r.text
        return [p["post_id"] for p in r.json()["data"]]

    def feed(self, limit: int = 100) -> list[dict[str, Any]]:
        r = self.get("/feed", limit=limit)
        assert r.status_code == 200, r.text
        return r.json()["data"]  # type: ignore[no-any-return]


def _ts(seconds_ago: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def send(producer: Any, event_type: str, **fields: Any) -> Any:
    event = make_event(event_type, **fields)
    producer.send(event)
    producer.flush()
    return event


def profile(producer: Any, user: str, *, private: bool = False) -> None:
    send(
        producer,
        "profile_updated",
        user_id=user,
        username=user,
        display_name=user.title(),
        is_private=private,
    )


def follow(producer: Any, follower: str, followee: str) -> None:
    send(producer, "follow", user_id=follower, target_id=followee)


def post(
    producer: Any, author: str, *, seconds_ago: float = 0.0, media: list[Any] | None = None
) -> str:
    post_id = unique(f"{author}-p")
    send(
        producer,
        "post_created",
        user_id=author,
        post_id=post_id,
        caption=f"by {author}",
        media=media or [],
        occurred_at=_ts(seconds_ago),
    )
    return post_id


def wait_feed(
    client: Client, expected: set[str], *, absent: set[str] = frozenset(), what: str
) -> list[str]:  # type: ignore[assignment]
    def probe() -> tuple[list[str]] | None:
        ids = client.feed_ids()
        return (ids,) if expected <= set(ids) and not (absent & set(ids)) else None

    return wait_until(probe, timeout_s=30, what=what)[0]


def wait_count(client: Client, user: str, field: str, value: int) -> None:
    wait_until(
        lambda: client.get(f"/users/{user}").json().get(field) == value,
        timeout_s=30,
        what=f"{user}'s {field} == {value}",
    )


@pytest.fixture
def viewer(api: Any, worker: Any, producer: Any, token_for: Any) -> Client:
    user = unique("viewer")
    profile(producer, user)
    client = Client(api, token_for, user)
    wait_until(lambda: client.get(f"/users/{user}").status_code == 200, what="viewer profile")
    client.feed_ids()  # the first read marks the viewer active (fan-out pushes to them)
    return client


def test_push_and_pull_posts_appear_in_recency_order(viewer: Client, producer: Any) -> None:
    alice, bob, star = unique("alice"), unique("bob"), unique("star")
    for user in (alice, bob, star):
        profile(producer, user)
    follow(producer, viewer.user, alice)
    follow(producer, viewer.user, bob)
    follow(producer, viewer.user, star)
    for _ in range(THRESHOLD):  # the star becomes a celebrity: pulled, not pushed
        fan = unique("fan")
        follow(producer, fan, star)
    wait_count(viewer, star, "followers", THRESHOLD + 1)
    wait_count(viewer, viewer.user, "following", 3)
    p1 = post(producer, alice, seconds_ago=50)
    p2 = post(producer, star, seconds_ago=40)
    p3 = post(producer, bob, seconds_ago=30)
    p4 = post(producer, star, seconds_ago=20)
    p5 = post(producer, alice, seconds_ago=10)
    wait_feed(viewer, {p1, p2, p3, p4, p5}, what="push and pull posts")
    posts = viewer.feed()
    assert [p["post_id"] for p in posts] == [p5, p4, p3, p2, p1]  # no engagement yet: recency
    sources = {p["post_id"]: p["source"] for p in posts}
    assert sources == {p1: "push", p2: "pull", p3: "push", p4: "pull", p5: "push"}
    first = posts[0]
    assert first["author"]["user_id"] == alice and first["author"]["username"] == alice
    assert first["caption"] == f"by {alice}" and first["state"] == "ready"
    assert first["stats"]["likes"] == 0 and first["viewer_has_liked"] is False
    assert first["created_at"] > 0 and first["media"] == []
    # Pushed into the candidate list, not the celebrity's.
    r = viewer.get(f"/users/{alice}/posts")
    assert [p["post_id"] for p in r.json()["data"]] == [p5, p1]


def test_a_celebrity_who_loses_followers_keeps_their_posts_in_feeds(
    viewer: Client, producer: Any
) -> None:
    star = unique("star")
    profile(producer, star)
    follow(producer, viewer.user, star)
    fans = [unique("fan") for _ in range(THRESHOLD - 1)]
    for fan in fans:
        follow(producer, fan, star)
    wait_count(viewer, star, "followers", THRESHOLD)
    pulled = post(producer, star, seconds_ago=5)  # a celebrity's post: only pulled at read
    wait_feed(viewer, {pulled}, what="the celebrity's post, pulled")
    send(producer, "unfollow", user_id=fans[0], target_id=star)  # back below the threshold
    wait_count(viewer, star, "followers", THRESHOLD - 1)
    pushed = post(producer, star)
    # The post made while a celebrity was pushed on demotion; the new one as usual.
    ids = wait_feed(viewer, {pulled, pushed}, what="both posts after the demotion")
    assert ids[:2] == [pushed, pulled]
    assert {p["post_id"]: p["source"] for p in viewer.feed()}[pulled] == "push"


def test_unfollow_block_delete_and_going_private_remove_posts(
    viewer: Client, producer: Any
) -> None:
    gone, blocker, deleter, private = (unique(n) for n in ("gone", "blocker", "deleter", "priv"))
    for user in (gone, blocker, deleter, private):
        profile(producer, user)
    for user in (gone, blocker, deleter, private):
        follow(producer, viewer.user, user)
    wait_count(viewer, viewer.user, "following", 4)
    posts = {user: post(producer, user) for user in (gone, blocker, deleter, private)}
    kept = post(producer, deleter)
    wait_feed(viewer, {*posts.values(), kept}, what="all four authors' posts")

    send(producer, "unfollow", user_id=viewer.user, target_id=gone)
    send(producer, "block", user_id=blocker, target_id=viewer.user)
    send(producer, "post_deleted", user_id=deleter, post_id=posts[deleter])
    wait_feed(
        viewer,
        {posts[private], kept},
        absent={posts[gone], posts[blocker], posts[deleter]},
        what="unfollowed, blocked and deleted posts to leave the feed",
    )
    # The block removed the follow both ways and hides each side from the other.
    wait_count(viewer, viewer.user, "following", 2)
    assert viewer.get(f"/users/{blocker}/posts").status_code == 404

    # Going private keeps followers; a lost follower of a private account loses its posts.
    profile(producer, private, private=True)
    send(producer, "unfollow", user_id=viewer.user, target_id=private)
    wait_feed(viewer, {kept}, absent={posts[private]}, what="the private account's posts to go")
    # Hidden like anything else the viewer may not see: not found, not forbidden.
    r = viewer.get(f"/users/{private}/posts")
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_private_account_posts_leave_recommendations(
    api: Any, worker: Any, producer: Any, token_for: Any
) -> None:
    loner = Client(api, token_for, unique("loner"))
    author = unique("public")
    profile(producer, author)
    p = post(producer, author)
    ids = wait_until(
        lambda: (lambda ids: ids if p in ids else None)(loner.feed_ids()),
        timeout_s=30,
        what="a recommended post for a user who follows nobody",
    )
    assert ids
    sources = {x["source"] for x in loner.feed()}
    assert sources == {"recommended"}
    profile(producer, author, private=True)
    wait_until(lambda: p not in loner.feed_ids(), timeout_s=30, what="private posts to leave")


def test_pagination_has_no_duplicates_or_gaps_under_concurrent_inserts(
    viewer: Client, producer: Any
) -> None:
    authors = [unique("pag") for _ in range(3)]
    for author in authors:
        profile(producer, author)
        follow(producer, viewer.user, author)
    wait_count(viewer, viewer.user, "following", 3)
    initial = {post(producer, authors[i % 3], seconds_ago=300 - i) for i in range(45)}
    wait_feed(viewer, initial, what="45 posts")

    stop = threading.Event()
    inserted: list[str] = []

    def keep_posting() -> None:
        while not stop.is_set() and len(inserted) < 30:
            inserted.append(post(producer, authors[len(inserted) % 3]))

    writer = threading.Thread(target=keep_posting)
    writer.start()
    try:
        seen: list[str] = []
        r = viewer.get("/feed", limit=7)
        while True:
            assert r.status_code == 200, r.text
            body = r.json()
            seen += [p["post_id"] for p in body["data"]]
            if not body["next_cursor"]:
                break
            r = viewer.get("/feed", limit=7, cursor=body["next_cursor"])
    finally:
        stop.set()
        writer.join()
    assert len(seen) == len(set(seen)), "a post appeared twice"
    assert initial <= set(seen), f"gaps: {initial - set(seen)}"
    assert inserted, "posts were inserted while paging"
    # The inserted posts show up on the next first page.
    wait_feed(viewer, set(inserted), what="the posts inserted meanwhile")


def test_returning_inactive_user_gets_a_full_feed(
    api: Any, worker: Any, producer: Any, token_for: Any, settings: Any
) -> None:
    returning = Client(api, token_for, unique("back"))
    profile(producer, returning.user)
    authors = [unique("busy") for _ in range(4)]
    for author in authors:
        profile(producer, author)
        follow(producer, returning.user, author)
    wait_count(returning, returning.user, "following", 4)
    assert returning.feed_ids() == []  # active now
    first = {post(producer, a) for a in authors}
    wait_feed(returning, first, what="pushed posts while active")

    # Thirty-one days away: fan-out skips the user from now on.
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    keys = RedisKeys(settings.namespace)
    away_ms = int((datetime.now(UTC) - timedelta(days=31)).timestamp() * 1000)

    async def go_away() -> None:
        redis = connect(settings)
        await redis.zadd(keys.active_users(), {returning.user: away_ms})
        await redis.aclose()

    async def pushed(post_id: str) -> bool:
        redis = connect(settings)
        try:
            return await redis.zscore(keys.feed(returning.user), post_id) is not None
        finally:
            await redis.aclose()

    asyncio.run(go_away())
    later = [post(producer, a) for a in authors for _ in range(3)]
    wait_until(
        lambda: all(
            asyncio.run(_author_has(settings, keys, a, p))
            for a, p in zip([a for a in authors for _ in range(3)], later, strict=True)
        ),
        timeout_s=30,
        what="the later posts to be processed",
    )
    assert not any(asyncio.run(pushed(p)) for p in later), "fan-out should skip the inactive user"
    ids = returning.feed_ids()
    assert set(later) | first <= set(ids)
    assert len(ids) == 16


async def _author_has(settings: Any, keys: Any, author: str, post_id: str) -> bool:
    from clients.redis import connect

    redis = connect(settings)
    try:
        return await redis.zscore(keys.author_posts(author), post_id) is not None
    finally:
        await redis.aclose()


def test_reading_another_users_feed_is_impossible(viewer: Client, api: Any) -> None:
    r = viewer.get(f"/users/{unique('other')}/feed")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert viewer.get(f"/users/{viewer.user}/feed").status_code == 200
    assert viewer.get("/users/me/feed").status_code == 200
    r = httpx.get(f"{api.url}/v1/feed")
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = httpx.get(f"{api.url}/v1/feed", headers={"Authorization": "Bearer forged.token.value"})
    assert r.status_code == 401
    assert viewer.get("/feed", cursor="not-a-cursor!").status_code == 400


def test_post_waits_for_its_media_and_failure_tells_the_author(
    viewer: Client, producer: Any, api: Any, token_for: Any
) -> None:
    author = Client(api, token_for, unique("maker"))
    profile(producer, author.user)
    follow(producer, viewer.user, author.user)
    wait_count(viewer, viewer.user, "following", 1)
    m1, m2, bad = unique("m"), unique("m"), unique("m")
    waiting = post(
        producer,
        author.user,
        media=[{"media_id": m1, "kind": "photo"}, {"media_id": m2, "kind": "photo"}],
    )
    failing = post(producer, author.user, media=[{"media_id": bad, "kind": "photo"}])
    # The author sees it processing; followers do not see it at all.
    grid = wait_until(
        lambda: (lambda d: d if len(d) == 2 else None)(
            author.get(f"/users/{author.user}/posts").json()["data"]
        ),
        what="the author's processing posts",
    )
    assert {p["state"] for p in grid} == {"processing"}
    assert viewer.get(f"/posts/{waiting}").status_code == 404
    variant = {
        "name": "w320",
        "object_key": "v/w320.jpg",
        "content_type": "image/jpeg",
        "width": 320,
        "height": 240,
    }
    send(
        producer, "media_ready", user_id=author.user, media_id=m1, kind="photo", variants=[variant]
    )
    send(producer, "media_failed", user_id=author.user, media_id=bad, reason="truncated JPEG")
    r = wait_until(
        lambda: (lambda r: r if r.json()["state"] == "failed" else None)(
            author.get(f"/posts/{failing}")
        ),
        what="the failed post",
    )
    assert "truncated JPEG" in r.json()["reason"]
    assert waiting not in viewer.feed_ids()  # one of two media is still processing
    send(
        producer, "media_ready", user_id=author.user, media_id=m2, kind="photo", variants=[variant]
    )
    ids = wait_feed(viewer, {waiting}, what="the post once all its media is ready")
    assert failing not in ids
    shown = next(p for p in viewer.feed() if p["post_id"] == waiting)
    assert shown["state"] == "ready" and len(shown["media"]) == 2


def test_write_endpoints_answer_202_and_are_idempotent(
    viewer: Client, producer: Any, api: Any, token_for: Any
) -> None:
    author = Client(api, token_for, unique("writer"))
    profile(producer, author.user)
    wait_until(lambda: viewer.get(f"/users/{author.user}").status_code == 200, what="profile")
    r = httpx.post(f"{api.url}/v1/users/{author.user}/follow", headers=viewer.headers)
    assert r.status_code == 202 and r.json()["event_id"]
    assert (
        httpx.post(f"{api.url}/v1/users/{viewer.user}/follow", headers=viewer.headers).status_code
        == 422
    )
    assert (
        httpx.post(
            f"{api.url}/v1/users/{unique('nobody')}/follow", headers=viewer.headers
        ).status_code
        == 404
    )
    wait_count(viewer, author.user, "followers", 1)
    headers = {**author.headers, "Idempotency-Key": unique("k")}
    body = {"caption": "via http", "media": []}
    a = httpx.post(f"{api.url}/v1/posts", headers=headers, json=body)
    b = httpx.post(f"{api.url}/v1/posts", headers=headers, json=body)
    assert a.status_code == b.status_code == 202
    assert a.json() == b.json()
    post_id = a.json()["post_id"]
    wait_feed(viewer, {post_id}, what="the post created over HTTP")
    wait_count(viewer, author.user, "posts", 1)  # the retry did not post twice
    assert (
        httpx.post(f"{api.url}/v1/posts", headers=author.headers, json={"caption": 5}).status_code
        == 422
    )
    # Someone else's post is not theirs to delete: as if it did not exist.
    assert httpx.delete(f"{api.url}/v1/posts/{post_id}", headers=viewer.headers).status_code == 404
    r = httpx.delete(f"{api.url}/v1/posts/{post_id}", headers=author.headers)
    assert r.status_code == 202
    wait_feed(viewer, set(), absent={post_id}, what="the deleted post to go")
    r = httpx.delete(f"{api.url}/v1/users/{author.user}/follow", headers=viewer.headers)
    assert r.status_code == 202
    wait_count(viewer, author.user, "followers", 0)
    page = viewer.get(f"/users/{author.user}/followers").json()
    assert page == {"data": [], "next_cursor": None}
