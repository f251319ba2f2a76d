"""Follow requests, mutes, blocks and close friends over HTTP, on the real worker and API.

A private account's follow is a request its owner approves or denies (or that going
public approves); the approval's follow then brings the owner's posts and stories to
the new follower. Every route decides through ``domain.visibility``: what a viewer may
not see is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from schemas.events import make_event
from tests.factories import unique
from tests.support import wait_until


class User:
    def __init__(self, api: Any, token_for: Any, name: str) -> None:
        self.url = f"{api.url}/v1"
        self.id = unique(name)
        self.headers = token_for(self.id)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=self.headers, params=params, timeout=10)

    def post(self, path: str, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", headers={**self.headers, **headers}, timeout=10)

    def delete(self, path: str) -> httpx.Response:
        return httpx.delete(f"{self.url}{path}", headers=self.headers, timeout=10)

    def ids(self, path: str, field: str = "user_id", **params: Any) -> list[str] | int:
        r = self.get(path, **params)
        return [x[field] for x in r.json()["data"]] if r.status_code == 200 else r.status_code

    def following(self) -> int:
        return int(self.get(f"/users/{self.id}").json().get("following", -1))


def send(producer: Any, event_type: str, **fields: Any) -> Any:
    event = make_event(event_type, **fields)
    producer.send(event)
    producer.flush()
    return event


def profile(producer: Any, user: User, *, private: bool) -> None:
    send(
        producer,
        "profile_updated",
        user_id=user.id,
        username=user.id,
        display_name=user.id.title(),
        is_private=private,
    )


@pytest.fixture
def make_user(api: Any, worker: Any, producer: Any, token_for: Any) -> Any:
    def make(name: str, *, private: bool = False) -> User:
        user = User(api, token_for, name)
        profile(producer, user, private=private)
        wait_until(
            lambda: user.get(f"/users/{user.id}").json().get("is_private") is private,
            what=f"{user.id}'s profile",
        )
        return user

    return make


def wait_ids(user: User, path: str, expected: list[str] | int, *, what: str) -> None:
    wait_until(lambda: user.ids(path) == expected, timeout_s=30, what=what)


def request(requester: User, owner: User) -> None:
    r = requester.post(f"/users/{owner.id}/follow")
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "requested" and r.json()["event_id"]
    wait_until(
        lambda: requester.id in owner.ids("/users/me/follow-requests"),  # type: ignore[operator]
        timeout_s=30,
        what="the pending request",
    )


def test_private_account_request_approved_brings_posts_and_stories(
    make_user: Any, producer: Any
) -> None:
    owner, fan = make_user("owner", private=True), make_user("fan")
    post_id = unique("p")
    send(producer, "post_created", user_id=owner.id, post_id=post_id, caption="hi", media=[])
    send(
        producer,
        "story_created",
        user_id=owner.id,
        story_id=unique("st"),
        media_id=unique("sm"),
        close_friends_only=False,
        occurred_at=datetime.now(UTC) - timedelta(minutes=5),
    )
    assert fan.get("/feed").status_code == 200  # a first read marks the fan active
    # A stranger sees the profile card of a private account, not its lists.
    assert fan.get(f"/users/{owner.id}/followers").status_code == 404

    request(fan, owner)
    again = fan.post(f"/users/{owner.id}/follow")  # already requested: nothing new published
    assert again.status_code == 202 and again.json() == {
        "event_id": None,
        "status": "accepted",
        "state": "requested",
    }
    assert owner.post(f"/users/me/follow-requests/{unique('nobody')}/approve").status_code == 404
    assert owner.post(f"/users/me/follow-requests/{fan.id}/approve").status_code == 202

    wait_ids(owner, f"/users/{owner.id}/followers", [fan.id], what="the approved follower")
    assert owner.ids("/users/me/follow-requests") == []
    wait_until(
        lambda: post_id in fan.ids("/feed", "post_id"),  # type: ignore[operator]
        timeout_s=30,
        what="the owner's post in the new follower's feed",
    )
    wait_until(
        lambda: owner.id in fan.ids("/stories/tray", "author_id"),  # type: ignore[operator]
        timeout_s=30,
        what="the owner's story in the new follower's tray",
    )
    assert fan.ids(f"/users/{owner.id}/followers") == [fan.id]  # a follower sees the list
    following = fan.post(f"/users/{owner.id}/follow").json()
    assert following["state"] == "following" and following["event_id"] is None


def test_denied_request_leaves_no_follow_and_may_be_asked_again(make_user: Any) -> None:
    owner, fan = make_user("owner", private=True), make_user("fan")
    request(fan, owner)
    assert owner.post(f"/users/me/follow-requests/{fan.id}/deny").status_code == 202
    wait_ids(owner, "/users/me/follow-requests", [], what="the denied request to go")
    assert owner.ids(f"/users/{owner.id}/followers") == []
    assert owner.post(f"/users/me/follow-requests/{fan.id}/deny").status_code == 404
    request(fan, owner)  # asking again is allowed


def test_cancelled_request_leaves_the_pending_list(make_user: Any) -> None:
    owner, fan = make_user("owner", private=True), make_user("fan")
    request(fan, owner)
    assert fan.delete(f"/users/{owner.id}/follow").status_code == 202
    wait_ids(owner, "/users/me/follow-requests", [], what="the cancelled request to go")
    assert owner.ids(f"/users/{owner.id}/followers") == []


def test_going_public_approves_every_pending_request(make_user: Any, producer: Any) -> None:
    owner = make_user("owner", private=True)
    fans = [make_user("fan"), make_user("fan")]
    for fan in fans:
        request(fan, owner)
    profile(producer, owner, private=False)
    wait_ids(
        owner,
        f"/users/{owner.id}/followers",
        sorted(f.id for f in fans),
        what="every pending requester to follow",
    )
    assert owner.ids("/users/me/follow-requests") == []
    # Going private again keeps them.
    profile(producer, owner, private=True)
    wait_until(lambda: owner.get(f"/users/{owner.id}").json()["is_private"], what="private")
    assert owner.ids(f"/users/{owner.id}/followers") == sorted(f.id for f in fans)


def test_follow_requests_page_newest_first_across_one_millisecond(
    make_user: Any, producer: Any
) -> None:
    owner = make_user("owner", private=True)
    at = datetime.now(UTC) - timedelta(minutes=1)
    tied = sorted(unique("tie") for _ in range(3))
    newest = unique("newest")
    for requester in tied:  # raw events from a producer: the same policy applies
        send(producer, "follow", user_id=requester, target_id=owner.id, occurred_at=at)
    send(producer, "follow_requested", user_id=newest, target_id=owner.id)
    expected = [newest, *reversed(tied)]
    wait_ids(owner, "/users/me/follow-requests", expected, what="four pending requests")
    seen, cursor = [], None
    while True:
        r = owner.get(
            "/users/me/follow-requests", limit=2, **({"cursor": cursor} if cursor else {})
        )
        seen += [u["user_id"] for u in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert seen == expected
    assert owner.get("/users/me/follow-requests", cursor="%%%").status_code == 400


def test_mute_keeps_the_follow_and_is_listed(make_user: Any) -> None:
    author, fan = make_user("author"), make_user("fan")
    assert fan.post(f"/users/{author.id}/follow").json()["state"] == "following"
    wait_until(lambda: fan.following() == 1, what="the follow")
    assert fan.post(f"/users/{fan.id}/mute").status_code == 422
    assert fan.post(f"/users/{unique('nobody')}/mute").status_code == 404
    assert fan.post(f"/users/{author.id}/mute").status_code == 202
    wait_ids(fan, "/users/me/muted", [author.id], what="the mute")
    assert fan.following() == 1
    assert fan.ids(f"/users/{author.id}/followers") == [fan.id]
    assert fan.delete(f"/users/{author.id}/mute").status_code == 202
    wait_ids(fan, "/users/me/muted", [], what="the unmute")
    assert fan.following() == 1


def test_block_ends_follows_and_requests_both_ways_and_hides_each(make_user: Any) -> None:
    a, b = make_user("a", private=True), make_user("b", private=True)
    request(a, b)
    assert b.post(f"/users/me/follow-requests/{a.id}/approve").status_code == 202
    wait_until(lambda: a.following() == 1, what="a following b")
    request(b, a)  # and b's request to a waits
    assert a.post(f"/users/{b.id}/block").status_code == 202
    wait_ids(a, "/users/me/follow-requests", [], what="b's request to end")
    wait_until(lambda: a.following() == 0, what="a's follow of b to end")
    assert b.ids(f"/users/{b.id}/followers") == []
    assert a.ids("/users/me/blocked") == [b.id]
    # Each is hidden from the other: not found, never forbidden.
    for viewer, other in ((a, b), (b, a)):
        assert viewer.post(f"/users/{other.id}/follow").status_code == 404
        assert viewer.get(f"/users/{other.id}/followers").status_code == 404
    assert b.post(f"/users/{a.id}/block").status_code == 404
    assert b.delete(f"/users/{a.id}/block").status_code == 404  # not b's block to lift
    # a's own block hides b, yet a may lift it; follows are not restored.
    assert a.delete(f"/users/{b.id}/block").status_code == 202
    wait_ids(a, "/users/me/blocked", [], what="the unblock")
    wait_until(
        lambda: a.post(f"/users/{b.id}/follow").json().get("state") == "requested",
        what="b visible to a again",
    )
    assert a.following() == 0


def test_close_friends_listed_added_and_removed(make_user: Any) -> None:
    owner, friend = make_user("owner"), make_user("friend")
    assert owner.post(f"/users/me/close-friends/{owner.id}").status_code == 422
    assert owner.post(f"/users/me/close-friends/{unique('nobody')}").status_code == 404
    assert owner.post(f"/users/me/close-friends/{friend.id}").status_code == 202
    wait_ids(owner, "/users/me/close-friends", [friend.id], what="the close friend")
    assert owner.delete(f"/users/me/close-friends/{friend.id}").status_code == 202
    wait_ids(owner, "/users/me/close-friends", [], what="the close friend to go")


def test_follow_retry_with_idempotency_key_gets_the_first_answer(make_user: Any) -> None:
    owner, fan = make_user("owner", private=True), make_user("fan")
    key = unique("key")
    first = fan.post(f"/users/{owner.id}/follow", **{"Idempotency-Key": key})
    wait_ids(owner, "/users/me/follow-requests", [fan.id], what="the request")
    retry = fan.post(f"/users/{owner.id}/follow", **{"Idempotency-Key": key})
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json() and first.json()["state"] == "requested"
    assert fan.post(f"/users/{fan.id}/follow").status_code == 422
    assert fan.post(f"/users/{unique('nobody')}/follow").status_code == 404
