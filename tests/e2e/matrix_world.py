"""The permission matrix's world: owners, their objects in every state, one viewer per
relation, built through the API, Kafka and the session's worker.

Three owners, public, private and deleted (their account deleted last), registered
through the API (so they have usernames),
each with an upload that is ready and one that failed; posts ready (with the photo),
processing, failed and deleted; stories live, close-friends-only, expired (25 h old)
and deleted; comments on the ready post by the owner, by the viewer the owner blocked,
by the viewer who blocked the owner, one deleted, and one on the deleted post. Every
reader saved each owner's ready and deleted post. The owners are strangers to each
other; to every owner account there is one viewer per relation: a close friend, a
follower, a requester (a pending request to a private account; to a public one just a
stranger), a stranger, one the owner blocked, one who blocked the owner, and a follower
who muted the owner.

So that writes change nothing other cells rely on, some routes get copies (``Needs``):
objects of their own on the owners (deletions), owner accounts of their own with the
same relations (graph writes), a requester of their own (answering a request), fresh
registered users as viewers (ending one's account).

The graph applies a follow of a private account as a request, so the world is built in
phases, each waiting until the worker has applied it (Redis, or the API as the
owner; a timeout names what is missing): objects, follows, close friends, mutes and
saves while every owner is public; then the private owners turn private; then
requests, blocks and deletions; then the deleted owners delete their accounts.
"""

from __future__ import annotations

import io
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis
from PIL import Image

from domain.visibility import Ties
from schemas.events import make_event
from schemas.redis_hashes import PostCounts, ProfileHash
from schemas.redis_keys import RedisKeys
from settings import Settings

VARIANTS = ("public", "private", "deleted")
# How a viewer stands to an owner ("owner": the owner themself).
LABELS = ("owner", "close_friend", "follower", "requester", "stranger", "blocked", "blocking")
LABELS += ("muted", "anonymous")
VIEWER_LABELS = tuple(label for label in LABELS if label not in ("owner", "anonymous"))
# Who reads their own things (feed, saved, tray): each owner and each viewer.
SELF_LABELS = ("owner:public", "owner:private", *VIEWER_LABELS)
FOLLOWING = ("close_friend", "follower", "muted")

POST_STATES = ("ready", "processing", "failed", "deleted")
STORY_STATES = ("live", "close_friends", "expired", "deleted")
COMMENT_STATES = ("by_owner", "by_blocked", "by_blocking", "deleted", "post_deleted")
MEDIA_STATES = ("ready", "failed")

PASSWORD = "matrix correct horse"
SETTLE_TIMEOUT_S = 90.0


def new_id(kind: str) -> str:
    """An id no other id contains ("mx" never occurs in hex)."""
    return f"mx{kind}{uuid.uuid4().hex[:12]}"


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Comment:
    post_id: str
    comment_id: str
    author: str  # the commenter's label: owner, blocked or blocking


@dataclass
class Objects:
    """One owner's posts, stories and comments, by state."""

    posts: dict[str, str] = field(default_factory=dict)
    stories: dict[str, str] = field(default_factory=dict)
    comments: dict[str, Comment] = field(default_factory=dict)
    # Ids that travel only inside one object (a story's media, a processing post's
    # missing upload): hidden whenever that object is. inner id -> object id.
    inner: dict[str, str] = field(default_factory=dict)


@dataclass
class Account:
    variant: str  # public | private
    user_id: str
    username: str | None = None
    tag: str | None = None  # the hashtag of its posts
    objects: Objects | None = None
    media: dict[str, str] = field(default_factory=dict)  # state -> media id
    file_key: str | None = None  # an object key of the ready upload's variants

    @property
    def private(self) -> bool:
        return self.variant == "private"

    @property
    def deleted(self) -> bool:
        return self.variant == "deleted"


@dataclass(frozen=True)
class Needs:
    """Routes that get copies of their own (see the module's docstring)."""

    own_objects: tuple[str, ...] = ()
    own_accounts: tuple[str, ...] = ()
    own_requests: tuple[str, ...] = ()
    fresh_viewers: tuple[str, ...] = ()


@dataclass
class World:
    viewers: dict[str, str]  # label -> user id
    main: dict[str, Account]  # variant -> the owner
    login: tuple[str, str]  # a registered account's username and password
    own_objects: dict[str, dict[str, Objects]] = field(default_factory=dict)  # route, variant
    own_accounts: dict[str, dict[str, Account]] = field(default_factory=dict)  # route, variant
    own_requests: dict[str, dict[str, str]] = field(default_factory=dict)  # route, variant
    fresh_viewers: dict[str, dict[str, str]] = field(default_factory=dict)  # route, label

    def accounts(self) -> list[Account]:
        return [*self.main.values(), *(a for v in self.own_accounts.values() for a in v.values())]

    def object_sets(self) -> list[tuple[Account, Objects]]:
        """Every set of objects with the account it belongs to."""
        sets = [(a, a.objects) for a in self.main.values() if a.objects is not None]
        return sets + [(self.main[v], o) for s in self.own_objects.values() for v, o in s.items()]

    def object_ids(self) -> set[str]:
        ids: set[str] = set()
        for _, objs in self.object_sets():
            ids |= {*objs.posts.values(), *objs.stories.values()}
            ids |= {c.comment_id for c in objs.comments.values()}
        return ids

    def viewer(self, label: str, account: Account) -> str | None:
        """The user acting as ``label`` towards ``account`` (None: anonymous)."""
        if label == "anonymous":
            return None
        return account.user_id if label == "owner" else self.viewers[label]

    def users(self) -> list[tuple[str, str | None]]:
        """Every reader of their own things: both owners, each viewer, anonymous."""
        owners = {f"owner:{v}": a.user_id for v, a in self.main.items()}
        return [(label, owners.get(label) or self.viewers[label]) for label in SELF_LABELS] + [
            ("anonymous", None)
        ]

    def label_of(self, user_id: str | None, account: Account) -> str:
        """How ``user_id`` stands to ``account``, as one of LABELS."""
        if user_id is None or user_id == account.user_id:
            return "anonymous" if user_id is None else "owner"
        return next((k for k, v in self.viewers.items() if v == user_id), "stranger")

    def ties(self, user_id: str | None, account: Account) -> Ties:
        """The facts the policy needs about ``user_id`` and ``account``, as built."""
        label = self.label_of(user_id, account)
        if account.deleted and label != "owner":
            label = "stranger"  # its follows, blocks and requests are being undone
        return Ties(
            viewer_id=user_id,
            owner_id=account.user_id,
            follows=label in FOLLOWING,
            close_friend=label == "close_friend",
            requested=label == "requester" and account.private,
            blocked=label in ("blocked", "blocking"),
            muted=label == "muted",
        )

    def ties_between(self, reader: str | None, other: str) -> Ties:
        """The facts about ``reader`` and a user who may own no account here (a
        commenter): an owner's relations, else strangers but for a block either way."""
        for account in self.accounts():
            if account.user_id == other:
                return self.ties(reader, account)
            if account.user_id == reader:
                return Ties(reader, other, blocked=self.ties(other, account).blocked)
        return Ties(viewer_id=reader, owner_id=other)

    def commenter(self, comment: Comment, account: Account) -> str:
        return account.user_id if comment.author == "owner" else self.viewers[comment.author]


class Builder:
    """Builds a ``World`` through the API (accounts, uploads, privacy) and Kafka."""

    def __init__(
        self,
        http: httpx.Client,
        token_for: Callable[[str], dict[str, str]],
        producer: Any,
        settings: Settings,
        logs: Callable[[], str],
    ) -> None:
        self.http, self.token_for, self.producer, self.logs = http, token_for, producer, logs
        self.keys = RedisKeys(settings.namespace)
        self.redis = redis.Redis(
            host=settings.redis_host, port=settings.redis_port, decode_responses=True
        )
        self.pending: dict[str, Callable[[], bool]] = {}

    def close(self) -> None:
        self.redis.close()

    # --- steps -----------------------------------------------------------------------

    def send(self, event_type: str, user_id: str, **fields: Any) -> None:
        self.producer.send(make_event(event_type, user_id=user_id, **fields))

    def profile(self, user_id: str, *, private: bool = False) -> None:
        names = {"username": user_id, "display_name": user_id}
        self.send("profile_updated", user_id, **names, is_private=private)

    def register(self, username: str) -> str:
        body = {"username": username, "password": PASSWORD, "display_name": username}
        r = self.http.post("/v1/accounts", json=body)
        assert r.status_code == 201, f"registering {username}: {r.status_code} {r.text}"
        return str(r.json()["user_id"])

    def upload(self, owner: str, data: bytes) -> str:
        files = {"file": ("matrix.jpg", data, "image/jpeg")}
        r = self.http.post("/v1/media", headers=self.token_for(owner), files=files)
        assert r.status_code == 202, f"uploading for {owner}: {r.status_code} {r.text}"
        return str(r.json()["media_id"])

    def as_owner(self, owner: str, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.token_for(owner))

    def expect(self, what: str, check: Callable[[], bool]) -> None:
        self.pending[what] = check

    def members(self, what: str, key: str, ids: list[str]) -> None:
        self.expect(what, lambda: all(self.redis.smismember(key, ids)))

    def settle(self, phase: str) -> None:
        """Wait until every expected effect of this phase is visible."""
        self.producer.flush()
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.pending and time.monotonic() < deadline:
            self.pending = {what: ok for what, ok in self.pending.items() if not ok()}
            time.sleep(0.2 if self.pending else 0)
        missing = "\n  ".join(sorted(self.pending)[:20])
        assert not self.pending, (
            f"the matrix world's {phase} did not settle in {SETTLE_TIMEOUT_S:.0f} s; still "
            f"missing ({len(self.pending)}):\n  {missing}\n{self.logs()}"
        )

    def _post(self, post_id: str, *states: str | None) -> None:
        key = self.keys.post(post_id)
        self.expect(f"post {post_id} {states}", lambda: self.redis.hget(key, "state") in states)

    def _comments(self, post_id: str, count: int) -> None:
        key, what = self.keys.post_stats(post_id), f"{count} comments on {post_id}"
        comments = lambda: PostCounts.from_value(self.redis.get(key)).comments  # noqa: E731
        self.expect(what, lambda: comments() == count)

    def _saved(self, user: str, post_id: str) -> None:
        key = self.keys.saved(user)
        self.expect(f"{user} saved {post_id}", lambda: self.redis.zscore(key, post_id) is not None)

    def _private(self, user: str) -> None:
        key = self.keys.user(user)
        profile = lambda: ProfileHash.from_fields(self.redis.hgetall(key))  # noqa: E731
        self.expect(f"{user} private", lambda: bool((p := profile()) and p.is_private))

    def _story(self, story_id: str, present: bool) -> None:
        key = self.keys.story(story_id)
        self.expect(f"story {story_id} {present}", lambda: bool(self.redis.exists(key)) is present)

    # --- objects ---------------------------------------------------------------------

    def objects(self, account: Account, viewers: dict[str, str], *, media: bool) -> Objects:
        """Posts, stories and comments in every state (the deletions come in phase 3)."""
        owner, objs, missing = account.user_id, Objects(), new_id("m")
        photo = [{"media_id": account.media["ready"], "kind": "photo"}] if media else []
        media_of = {"ready": photo, "processing": [{"media_id": missing, "kind": "photo"}]}
        media_of["failed"] = [{"media_id": account.media["failed"], "kind": "photo"}]
        for state in POST_STATES:
            post_id = objs.posts[state] = new_id("p")
            caption, media_refs = f"matrix #{account.tag}", media_of.get(state, [])
            self.send("post_created", owner, post_id=post_id, caption=caption, media=media_refs)
            self._post(post_id, "ready" if state == "deleted" else state)
        objs.inner[missing] = objs.posts["processing"]
        now = datetime.now(UTC)
        for state in STORY_STATES:
            story_id = objs.stories[state] = new_id("s")
            story_media = new_id("m")
            objs.inner[story_media] = story_id
            at = now - timedelta(hours=25 if state == "expired" else 0)
            close = state == "close_friends"
            story = {"story_id": story_id, "media_id": story_media, "close_friends_only": close}
            self.send("story_created", owner, **story, occurred_at=at)
            if state != "expired":  # its card expires at once
                self._story(story_id, True)
        ready, doomed = objs.posts["ready"], objs.posts["deleted"]
        # The one deleted in phase 3 first: a post's engagement is applied in order.
        for state in ("deleted", "by_owner", "by_blocked", "by_blocking", "post_deleted"):
            author = {"by_blocked": "blocked", "by_blocking": "blocking"}.get(state, "owner")
            post_id = doomed if state == "post_deleted" else ready
            comment = objs.comments[state] = Comment(post_id, new_id("c"), author)
            ids = {"post_id": post_id, "comment_id": comment.comment_id}
            self.send("comment_created", viewers.get(author, owner), **ids, text=f"matrix {state}")
        self._comments(ready, 4)
        self._comments(doomed, 1)
        return objs

    def delete_objects(self, owner: str, objs: Objects) -> None:
        self.send("post_deleted", owner, post_id=objs.posts["deleted"])
        self._post(objs.posts["deleted"], "deleted", None)
        self.send("story_deleted", owner, story_id=objs.stories["deleted"])
        self._story(objs.stories["deleted"], False)
        comment = objs.comments["deleted"]
        self.send("comment_deleted", owner, post_id=comment.post_id, comment_id=comment.comment_id)
        self._comments(comment.post_id, 3)

    # --- the world, in phases ----------------------------------------------------------

    def build(self, needs: Needs) -> World:
        viewers = {label: new_id("u") for label in VIEWER_LABELS}
        main = {}
        for variant in VARIANTS:
            name = new_id("")
            main[variant] = Account(variant, self.register(name), username=name, tag=new_id("t"))
        login = new_id("")
        self.register(login)
        w = World(viewers=viewers, main=main, login=(login, PASSWORD))
        for route in needs.own_accounts:
            w.own_accounts[route] = {v: Account(v, new_id("u")) for v in VARIANTS}
        for route in needs.own_requests:
            w.own_requests[route] = {v: new_id("u") for v in VARIANTS}
        for route in needs.fresh_viewers:
            w.fresh_viewers[route] = {k: self.register(new_id("")) for k in SELF_LABELS}
        self._first_phase(w, needs)
        self._second_phase(w)
        self._third_phase(w)
        self._fourth_phase(w)
        return w

    def _first_phase(self, w: World, needs: Needs) -> None:
        """Uploads, profiles, objects, follows, close friends, mutes and saves."""
        for account in w.main.values():
            account.media["ready"] = self.upload(account.user_id, photo_bytes())
            account.media["failed"] = self.upload(account.user_id, b"matrix: not an image")
            for state, media_id in account.media.items():
                self._media(account.user_id, media_id, state)
        requesters = [r for v in w.own_requests.values() for r in v.values()]
        for user in [*w.viewers.values(), *requesters]:
            self.profile(user)
        for account in w.accounts():
            if account.username is None:
                self.profile(account.user_id)
        self.settle("uploads")
        for account in w.main.values():
            account.objects = self.objects(account, w.viewers, media=True)
        for route in needs.own_objects:
            w.own_objects[route] = {
                v: self.objects(a, w.viewers, media=False) for v, a in w.main.items()
            }
        owners = [a.user_id for a in w.accounts()]
        for owner in owners:
            for label in FOLLOWING:
                self.send("follow", w.viewers[label], target_id=owner)
            self.send("close_friend_added", owner, target_id=w.viewers["close_friend"])
            self.send("mute", w.viewers["muted"], target_id=owner)
        for label in FOLLOWING:
            self.members(f"{label} follows", self.keys.following(w.viewers[label]), owners)
        close_of = self.keys.close_friend_of(w.viewers["close_friend"])
        self.members("close friends", close_of, owners)
        self.members("mutes", self.keys.muted(w.viewers["muted"]), owners)
        readers = [*w.viewers.values(), *(a.user_id for a in w.main.values())]
        for objs in (a.objects for a in w.main.values() if a.objects):
            for post_id, user in itertools.product(
                (objs.posts["ready"], objs.posts["deleted"]), readers
            ):
                self.send("save", user, post_id=post_id)
                self._saved(user, post_id)
        self.settle("first phase (objects, follows, saves)")
        for account in w.main.values():
            ready = self.as_owner(account.user_id, f"/v1/media/{account.media['ready']}").json()
            account.file_key = ready["variants"][0]["url"].removeprefix("/files/")

    def _media(self, owner: str, media_id: str, state: str) -> None:
        def check() -> bool:
            r = self.as_owner(owner, f"/v1/media/{media_id}")
            return r.status_code == 200 and r.json()["state"] == state

        self.expect(f"media {media_id} {state}", check)

    def _tagged(self, owner: str, tag: str, post_id: str) -> None:
        path = f"/v1/hashtags/{tag}/posts"
        self.expect(f"#{tag} lists {post_id}", lambda: post_id in self.as_owner(owner, path).text)

    def _second_phase(self, w: World) -> None:
        """The private owners turn private: the registered through the API."""
        for account in (a for a in w.accounts() if a.private):
            if account.username is not None:
                headers = self.token_for(account.user_id)
                r = self.http.patch("/v1/users/me", headers=headers, json={"is_private": True})
                assert r.status_code == 200, f"making {account.user_id} private: {r.text}"
            else:
                self.profile(account.user_id, private=True)
            self._private(account.user_id)
        self.settle("second phase (private accounts)")

    def _third_phase(self, w: World) -> None:
        """Requests, blocks and deletions."""
        private = [a.user_id for a in w.accounts() if a.private]
        requester = w.viewers["requester"]
        for owner in private:
            self.send("follow_requested", requester, target_id=owner)
        self.members("requests", self.keys.requests_sent(requester), private)
        target = w.main["private"].user_id
        for user in (own["private"] for own in w.own_requests.values()):
            self.send("follow_requested", user, target_id=target)
            self.members(f"request of {user}", self.keys.requests_sent(user), [target])
        owners = [a.user_id for a in w.accounts()]
        for owner in owners:
            self.send("block", owner, target_id=w.viewers["blocked"])
            self.send("block", w.viewers["blocking"], target_id=owner)
        for label in ("blocked", "blocking"):
            self.members(f"{label} blocks", self.keys.blocked(w.viewers[label]), owners)
        for account, objs in w.object_sets():
            self.delete_objects(account.user_id, objs)
        for account in (a for a in w.main.values() if a.objects):
            self._tagged(account.user_id, account.tag or "", account.objects.posts["ready"])  # type: ignore[union-attr]
        self.settle("third phase (requests, blocks, deletions)")

    def _fourth_phase(self, w: World) -> None:
        """The deleted owners delete their accounts (the registered through the API)."""
        for account in (a for a in w.accounts() if a.deleted):
            if account.username is not None:
                headers = {**self.token_for(account.user_id), "Idempotency-Key": new_id("k")}
                r = self.http.delete("/v1/users/me", headers=headers)
                assert r.status_code == 202, f"deleting {account.user_id}: {r.text}"
            else:
                self.send("account_deleted", account.user_id)
            key = self.keys.user(account.user_id)
            profile = lambda k=key: ProfileHash.from_fields(self.redis.hgetall(k))  # noqa: E731
            self.expect(
                f"{account.user_id} deleted", lambda p=profile: bool((c := p()) and c.deleted)
            )  # type: ignore[misc]
        self.settle("fourth phase (deleted accounts)")
