"""Likes, comments, saves and shares through the API, the worker and back."""

from __future__ import annotations

import httpx

from tests.factories import unique
from tests.support import wait_until


def _stats(api, headers, post_id):  # type: ignore[no-untyped-def]
    r = httpx.get(f"{api.url}/v1/posts/{post_id}/stats", headers=headers, timeout=5)
    return r.json() if r.status_code == 200 else None


def test_engagement_walk(worker, api, token_for) -> None:  # type: ignore[no-untyped-def]
    author, fan, stranger = unique("author"), unique("fan"), unique("stranger")
    a, f, s = token_for(author), token_for(fan), token_for(stranger)
    created = httpx.post(
        f"{api.url}/v1/posts", json={"caption": "hi", "media": []}, headers=a, timeout=5
    )
    assert created.status_code == 202, created.text
    post_id = created.json()["post_id"]
    wait_until(lambda: _stats(api, s, post_id), timeout_s=30, what="the post to exist")

    missing = httpx.post(f"{api.url}/v1/posts/{unique('nope')}/like", headers=f, timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"

    # Like: the liker reads their own write at once; everyone sees it after a flush.
    liked = httpx.post(
        f"{api.url}/v1/posts/{post_id}/like",
        headers={**f, "Idempotency-Key": "k1"},
        timeout=5,
    )
    assert liked.status_code == 202
    retried = httpx.post(
        f"{api.url}/v1/posts/{post_id}/like",
        headers={**f, "Idempotency-Key": "k1"},
        timeout=5,
    )
    assert retried.json()["event_id"] == liked.json()["event_id"]
    assert _stats(api, f, post_id)["likes"] == 1
    post = httpx.get(f"{api.url}/v1/posts/{post_id}", headers=f, timeout=5).json()
    assert post["viewer_has_liked"] is True
    httpx.post(f"{api.url}/v1/posts/{post_id}/like", headers=f, timeout=5)  # again: no change
    wait_until(lambda: _stats(api, s, post_id)["likes"] == 1, timeout_s=30, what="the flushed like")

    # Comments: listed in order; only the comment's or the post's author may delete one.
    ids = []
    for text in ("first", "second"):
        r = httpx.post(
            f"{api.url}/v1/posts/{post_id}/comments", json={"text": text}, headers=f, timeout=5
        )
        assert r.status_code == 202, r.text
        ids.append(r.json()["comment_id"])

    def comments():  # type: ignore[no-untyped-def]
        r = httpx.get(f"{api.url}/v1/posts/{post_id}/comments?limit=1", headers=s, timeout=5)
        body = r.json()
        if not body["data"] or body["next_cursor"] is None:
            return None  # the second comment is not stored yet
        more = httpx.get(
            f"{api.url}/v1/posts/{post_id}/comments",
            params={"limit": 1, "cursor": body["next_cursor"]},
            headers=s,
            timeout=5,
        ).json()
        return [c["text"] for c in body["data"] + more["data"]] if more["data"] else None

    assert wait_until(comments, timeout_s=30, what="both comments") == ["first", "second"]
    # Someone else's comment is not theirs to delete: as if it did not exist.
    refused = httpx.delete(f"{api.url}/v1/posts/{post_id}/comments/{ids[0]}", headers=s, timeout=5)
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    removed = httpx.delete(f"{api.url}/v1/posts/{post_id}/comments/{ids[0]}", headers=a, timeout=5)
    assert removed.status_code == 202

    # Saves and shares.
    assert httpx.post(f"{api.url}/v1/posts/{post_id}/save", headers=f, timeout=5).status_code == 202
    assert (
        httpx.post(f"{api.url}/v1/posts/{post_id}/share", headers=s, timeout=5).status_code == 202
    )

    def settled():  # type: ignore[no-untyped-def]
        stats = _stats(api, s, post_id)
        return stats if stats == {"likes": 1, "comments": 1, "saves": 1, "shares": 1} else None

    wait_until(settled, timeout_s=30, what="all four counts")

    def saved_ids() -> list[str] | None:
        # The saved list and the counts are separate views: each settles on its own.
        saved = httpx.get(f"{api.url}/v1/users/me/saved", headers=f, timeout=5).json()
        return [item["post_id"] for item in saved["data"]] or None

    assert wait_until(saved_ids, timeout_s=30, what="the saved list") == [post_id]

    # Unlike and unsave bring the counts back; the liker sees it at once.
    assert (
        httpx.delete(f"{api.url}/v1/posts/{post_id}/like", headers=f, timeout=5).status_code == 202
    )
    assert _stats(api, f, post_id)["likes"] == 0
    httpx.delete(f"{api.url}/v1/posts/{post_id}/save", headers=f, timeout=5)
    wait_until(
        lambda: _stats(api, s, post_id) == {"likes": 0, "comments": 1, "saves": 0, "shares": 1},
        timeout_s=30,
        what="unlike and unsave",
    )
    wait_until(
        lambda: (
            httpx.get(f"{api.url}/v1/users/me/saved", headers=f, timeout=5).json()["data"] == []
        ),
        timeout_s=30,
        what="the unsave in the saved list",
    )

    # A deleted post takes no more likes.
    assert httpx.delete(f"{api.url}/v1/posts/{post_id}", headers=a, timeout=5).status_code == 202
    wait_until(
        lambda: (
            httpx.post(f"{api.url}/v1/posts/{post_id}/like", headers=f, timeout=5).status_code
            == 404
        ),
        timeout_s=30,
        what="likes on the deleted post to be refused",
    )


def test_likes_on_an_unknown_post_are_never_counted(worker, api, producer, token_for) -> None:  # type: ignore[no-untyped-def]
    """Straight to the topic, bypassing the API: a like on a post that never existed."""
    from schemas.events import make_event

    ghost, real = unique("ghost"), unique("real")
    producer.send(make_event("like", user_id="u1", post_id=ghost))
    producer.send(make_event("post_created", user_id="au", post_id=real, caption="", media=[]))
    producer.flush()
    producer.send(make_event("like", user_id="u1", post_id=real))
    producer.flush()
    headers = token_for("viewer")
    wait_until(
        lambda: (_stats(api, headers, real) or {}).get("likes") == 1,
        timeout_s=30,
        what="the real post's like",
    )
    assert _stats(api, headers, ghost) is None  # 404: unknown to the API as well

    import asyncio

    from clients.redis import connect
    from schemas.redis_keys import RedisKeys
    from settings import get_settings

    async def ghost_stats() -> str | None:
        redis = connect(get_settings())
        try:
            return await redis.get(RedisKeys(get_settings().namespace).post_stats(ghost))
        finally:
            await redis.aclose()

    assert asyncio.run(ghost_stats()) is None
