"""Trending hashtags from posts to the API over the real Kafka, worker, Redis and Cassandra."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from schemas.events import make_event
from tests.factories import unique
from tests.support import wait_until

WINDOWS = ("1h", "24h", "7d")


def _post(producer, user: str, caption: str, *, ago: timedelta = timedelta(0)) -> str:  # type: ignore[no-untyped-def]
    post_id = unique("tp")
    producer.send(
        make_event(
            "post_created",
            user_id=user,
            post_id=post_id,
            caption=caption,
            media=[],  # no media: ready at once, so the tag page shows it
            occurred_at=datetime.now(UTC) - ago,
        )
    )
    return post_id


def _delete(producer, user: str, post_id: str) -> None:  # type: ignore[no-untyped-def]
    producer.send(make_event("post_deleted", user_id=user, post_id=post_id))


def _counts(api, headers: dict[str, str], tag: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    counts = {}
    for window in WINDOWS:
        r = httpx.get(
            f"{api.url}/v1/trending/hashtags",
            params={"window": window, "limit": 100},
            headers=headers,
            timeout=5,
        )
        assert r.status_code == 200, r.text
        assert r.json()["window"] == window
        counts[window] = {e["tag"]: e["count"] for e in r.json()["data"]}.get(tag, 0)
    return counts


def test_counts_are_exact_per_window_and_a_spammer_counts_once(
    worker, api, producer, token_for
) -> None:  # type: ignore[no-untyped-def]
    tag = unique("sunsettrend")
    headers = token_for("reader")
    spammer, a, b, c, d = (unique(n) for n in ("spam", "a", "b", "c", "d"))
    spam_posts = [_post(producer, spammer, f"#{tag} buy now #{tag.upper()}") for _ in range(5)]
    post_a = _post(producer, a, f"evening #{tag.upper()}", ago=timedelta(minutes=30))
    _post(producer, b, f"#{tag}", ago=timedelta(hours=5))
    _post(producer, c, f"#{tag}", ago=timedelta(days=3))
    _post(producer, d, f"#{tag}", ago=timedelta(days=8))  # outside every window
    _post(producer, a, "no tags here")
    producer.flush()

    expected = {"1h": 2, "24h": 3, "7d": 4}
    wait_until(
        lambda: _counts(api, headers, tag) == expected,
        timeout_s=45,
        interval_s=0.3,
        what=f"counts {expected}",
    )

    # One of the spammer's posts deleted: their other posts still count them once.
    _delete(producer, spammer, spam_posts[0])
    # a's only post in the last hour deleted: a drops out of 1h, 24h and 7d.
    _delete(producer, a, post_a)
    producer.flush()
    expected = {"1h": 1, "24h": 2, "7d": 3}
    wait_until(
        lambda: _counts(api, headers, tag) == expected,
        timeout_s=45,
        interval_s=0.3,
        what=f"counts after deletions {expected}",
    )


def test_a_deleted_post_drops_its_tag_out_of_trending_and_the_tag_page(
    worker, api, producer, token_for
) -> None:  # type: ignore[no-untyped-def]
    tag = unique("flashtag")
    headers = token_for("reader")
    author = unique("author")
    first = _post(producer, author, f"#{tag} one", ago=timedelta(minutes=2))
    second = _post(producer, author, f"#{tag} two", ago=timedelta(minutes=1))
    third_author = unique("other")
    third = _post(producer, third_author, f"#{tag} three")
    producer.flush()

    wait_until(
        lambda: _counts(api, headers, tag) == {"1h": 2, "24h": 2, "7d": 2},
        timeout_s=45,
        what="both authors counted",
    )

    def pages() -> list[list[str]]:
        out: list[list[str]] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            r = httpx.get(
                f"{api.url}/v1/hashtags/{tag.upper()}/posts",
                params=params,
                headers=headers,
                timeout=5,
            )
            assert r.status_code == 200, r.text
            assert r.json()["tag"] == tag
            out.append([p["post_id"] for p in r.json()["data"]])
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return out

    expected_pages = [[third, second], [first]]
    wait_until(lambda: pages() == expected_pages, timeout_s=45, what="the hydrated tag page")

    for post_id in (first, second):
        _delete(producer, author, post_id)
    _delete(producer, third_author, third)
    producer.flush()
    wait_until(
        lambda: _counts(api, headers, tag) == {"1h": 0, "24h": 0, "7d": 0},
        timeout_s=45,
        what="the tag to leave every window",
    )
    r = httpx.get(f"{api.url}/v1/hashtags/{tag}/posts", headers=headers, timeout=5)
    assert r.json()["data"] == []


def test_bad_window_cursor_and_tag_are_4xx_json(api, token_for) -> None:  # type: ignore[no-untyped-def]
    headers = token_for("reader")
    r = httpx.get(f"{api.url}/v1/trending/hashtags", params={"window": "2h"}, headers=headers)
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"
    r = httpx.get(f"{api.url}/v1/hashtags/ok/posts", params={"cursor": "%%%"}, headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "bad_cursor"
    r = httpx.get(f"{api.url}/v1/hashtags/not a tag/posts", headers=headers)
    assert r.status_code == 422
    r = httpx.get(f"{api.url}/v1/trending/hashtags")
    assert r.status_code == 401
