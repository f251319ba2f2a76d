"""A small synthetic social world: events of every type, and what every view must show.

``World`` makes valid events in rounds and keeps, beside them, its own tally of each
event's meaning, applied in production order without any of the project's code: who
follows, blocks and counts whom as a close friend, which posts and stories are live,
every like, save, share and comment (the newest ``occurred_at`` wins, then log order,
and an event id counts once), story viewers, media outcomes. ``expected()`` turns the
tally into the views the API must serve once the pipeline has caught up; ``observed()``
reads the same views through the API.

A round never makes two graph events on one pair (a block's reverse unfollow lives in
another partition than a follow back), and no close friend leaves while the owner's
close-friends story is live or being fanned out (the tray keeps the author until a
read checks it). Everything else is fair: follows racing posts and stories,
duplicates, ties within a millisecond, likes before their post is known.
"""

from __future__ import annotations

import io
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from PIL import Image

TAGS = ("sunset", "café", "hike", "food", "cats", "Straße")
STORY_HOURS_MS = 24 * 3_600_000
# (post, kind, member) → [present, ms, event ids applied at ms]
Mark = list[Any]


def now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def photo_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (seed % 256, 80, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass
class PostTruth:
    author: str
    tags: tuple[str, ...]
    media: list[str]
    created_ms: int
    deleted: bool = False


@dataclass
class StoryTruth:
    author: str
    close_friends_only: bool
    created_ms: int
    deleted: bool = False
    viewers: set[str] = field(default_factory=set)


@dataclass
class Round:
    """What one round may still touch without racing across partitions."""

    pairs: set[frozenset[str]] = field(default_factory=set)  # graph events this round
    friend_removers: set[str] = field(default_factory=set)  # removed a close friend
    story_authors: set[str] = field(default_factory=set)


class World:
    def __init__(self, seed: int, users: int, *, upload: Callable[[str, bytes, str], str]) -> None:
        self.rng = random.Random(seed)
        self.users = [f"w{i}" for i in range(users)]
        self.upload = upload  # (owner, bytes, content type) -> media id, through the API
        self.profiles: dict[str, tuple[str, str, bool]] = {}
        self.follows: set[tuple[str, str]] = set()
        self.blocks: set[tuple[str, str]] = set()
        self.commenters: dict[str, str] = {}  # comment id -> its author
        self.close: set[tuple[str, str]] = set()  # (owner, friend)
        self.posts: dict[str, PostTruth] = {}
        self.media: dict[str, tuple[str, str]] = {}  # media id -> (owner, ready|failed)
        self.marks: dict[tuple[str, str, str], Mark] = {}
        self.comment_authors: dict[tuple[str, str], str] = {}
        self.stories: dict[str, StoryTruth] = {}
        self.sent: list[dict[str, Any]] = []  # every event as produced, duplicates included
        self._applied: set[str] = set()
        self._last_ms = 0
        self._seq = 0
        # Everyone always follows the next user: no feed falls back to recommendations.
        self.ring = {(u, self.users[(i + 1) % users]) for i, u in enumerate(self.users)}

    # --- making events --------------------------------------------------------------

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq}"

    def _event(
        self, event_type: str, user_id: str, *, ms: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        if ms is None:
            ms = self._last_ms = max(self._last_ms + 1, now_ms())
        if event_type == "follow":
            # The world's follows of its private accounts are approved ones (follow requests
            # are walked in test_follow_requests): the worker lets them through as follows.
            fields.setdefault("cause", "approved")
        event = {
            "type": event_type,
            "event_id": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "occurred_at": _iso(ms),
            "user_id": user_id,
            **fields,
        }
        self._apply(event, ms)
        self.sent.append(event)
        return event

    def duplicate(self) -> dict[str, Any]:
        """An engagement event sent again, same id: it must change nothing."""
        earlier = [e for e in self.sent if e["type"] in ("like", "unlike", "save", "share")]
        event = self.rng.choice(earlier)
        self.sent.append(event)
        return event

    def profile(self, user: str) -> dict[str, Any]:
        private = self.rng.random() < 0.2
        return self._event(
            "profile_updated",
            user,
            username=f"{user}_{self._id('n')}",
            display_name=f"User {user.upper()}",
            is_private=private,
        )

    def setup(self) -> list[dict[str, Any]]:
        """Profiles, the ring, a graph around it, and posts of every kind of media outcome."""
        events = [self.profile(u) for u in self.users]
        events += [self._event("follow", u, target_id=t) for u, t in sorted(self.ring)]
        for _ in range(len(self.users) * 2):
            u, t = self.rng.sample(self.users, 2)
            if (u, t) not in self.follows:
                events.append(self._event("follow", u, target_id=t))
        for follower, owner in self.rng.sample(sorted(self.follows), 6):
            events.append(self._event("close_friend_added", owner, target_id=follower))
        r = Round(pairs={frozenset(pair) for pair in self.follows})
        events += self._graph_event("block", r) + self._graph_event("block", r)
        for user in self.users:
            events += self._posts(user, 2)
        return events

    def round(
        self, size: int, r: Round | None = None, *, blocks: bool = True
    ) -> list[dict[str, Any]]:
        """About ``size`` events of every type, none racing another across partitions."""
        r = r or Round()
        events: list[dict[str, Any]] = []
        makers: list[tuple[float, Callable[[Round], list[dict[str, Any]]]]] = [
            (0.14, self._graph_change),
            (0.12, lambda r: self._posts(self.rng.choice(self.users), 1)),
            (0.03, self._post_deletion),
            (0.34, lambda r: self._engagement()),
            (0.05, lambda r: [self.duplicate()]),
            (0.04, lambda r: self._tied_like_unlike()),
            (0.12, self._story_change),
            (0.12, lambda r: self._story_view()),
            (0.04, lambda r: [self.profile(self.rng.choice(self.users))]),
        ]
        if blocks:
            makers.append((0.02, self._block_change))
        weights = [w for w, _ in makers]
        while len(events) < size:
            _, make = self.rng.choices(makers, weights=weights)[0]
            events += make(r)
        return events

    def every_type(self, r: Round | None = None) -> list[dict[str, Any]]:
        """One event of every type a producer sends (for after a restart)."""
        r = r or Round()
        author = self.rng.choice(self.users)
        events = self._posts(author, 1)
        events += self._post_deletion(r)
        post = self._live_post()
        user = self.rng.choice(self.users)
        for kind in ("like", "save", "share"):
            events.append(self._event(kind, user, post_id=post))
        events += [
            self._event("unlike", user, post_id=post),
            self._event("unsave", user, post_id=post),
        ]
        comment = self._id("c")
        events.append(
            self._event("comment_created", user, post_id=post, comment_id=comment, text="hi")
        )
        self.comment_authors[(post, comment)] = user
        events.append(self._event("comment_deleted", user, post_id=post, comment_id=comment))
        events += self._comment()
        events.append(self.profile(user))
        events += self._story_change(r, created=True)
        events += self._story_change(r, created=False)
        events += self._story_view()
        for kind in ("follow", "unfollow", "close_friend_added", "block"):
            made = self._graph_event(kind, r)
            assert made, f"no pair left for a {kind} this round"
            events += made
        # An older block and close friendship if one is left, else the one just made
        # (each pair's events share a partition: they stay in order).
        for undo, made in (("close_friend_removed", events[-2]), ("unblock", events[-1])):
            undone = self._graph_event(undo, r) or [
                self._event(undo, made["user_id"], target_id=made["target_id"])
            ]
            events += undone
        return events

    # --- the makers -------------------------------------------------------------------

    def _posts(self, author: str, n: int) -> list[dict[str, Any]]:
        events = []
        for _ in range(n):
            roll = self.rng.random()
            media = []
            if roll < 0.25:
                media = [self.upload(author, photo_bytes(self._seq), "image/jpeg")]
                self.media[media[0]] = (author, "ready")
            elif roll < 0.32:
                media = [self.upload(author, b"not a picture\n" * 20, "image/jpeg")]
                self.media[media[0]] = (author, "failed")
            tags = tuple(self.rng.sample(TAGS, self.rng.randint(0, 2)))
            caption = " ".join(f"#{t}" for t in tags) + " a photo"
            events.append(
                self._event(
                    "post_created",
                    author,
                    post_id=self._id("p"),
                    caption=caption,
                    media=[{"media_id": m, "kind": "photo"} for m in media],
                )
            )
        return events

    def _live_post(self) -> str:
        return self.rng.choice([p for p, t in self.posts.items() if not t.deleted])

    def _post_deletion(self, r: Round) -> list[dict[str, Any]]:
        post = self._live_post()
        return [self._event("post_deleted", self.posts[post].author, post_id=post)]

    def _engagement(self) -> list[dict[str, Any]]:
        post = self._live_post()
        user = self.rng.choice(self.users)
        kind = self.rng.choice(("like", "like", "unlike", "save", "unsave", "share", "comment"))
        if kind == "comment":
            return self._comment(post)
        return [self._event(kind, user, post_id=post)]

    def _comment(self, post: str | None = None) -> list[dict[str, Any]]:
        post = post or self._live_post()
        live = [
            (p, c) for (p, c) in self.comment_authors if p == post and self._present((p, "c", c))
        ]
        if live and self.rng.random() < 0.3:
            _, comment = self.rng.choice(live)
            author = self.comment_authors[(post, comment)]
            return [self._event("comment_deleted", author, post_id=post, comment_id=comment)]
        user, comment = self.rng.choice(self.users), self._id("c")
        self.comment_authors[(post, comment)] = user
        return [self._event("comment_created", user, post_id=post, comment_id=comment, text="nice")]

    def _tied_like_unlike(self) -> list[dict[str, Any]]:
        """A like then an unlike in one millisecond: log order says unliked."""
        post, user = self._live_post(), self.rng.choice(self.users)
        ms = self._last_ms = max(self._last_ms + 1, now_ms())
        return [
            self._event("like", user, ms=ms, post_id=post),
            self._event("unlike", user, ms=ms, post_id=post),
        ]

    def _graph_change(self, r: Round) -> list[dict[str, Any]]:
        kind = self.rng.choice(
            ("follow", "follow", "unfollow", "close_friend_added", "close_friend_removed")
        )
        return self._graph_event(kind, r)

    def _block_change(self, r: Round) -> list[dict[str, Any]]:
        return self._graph_event(self.rng.choice(("block", "unblock")), r)

    def _graph_event(self, kind: str, r: Round) -> list[dict[str, Any]]:
        """One graph event on a pair (actor, target) no other event this round touches."""
        for _ in range(200):
            actor, target = self.rng.sample(self.users, 2)
            pair = frozenset((actor, target))
            if pair in r.pairs:
                continue
            if kind == "follow" and (
                (actor, target) in self.follows or self._blocked(actor, target)
            ):
                continue
            if kind == "unfollow" and (
                (actor, target) not in self.follows or (actor, target) in self.ring
            ):
                continue
            if kind == "block" and (
                self._blocked(actor, target) or {(actor, target), (target, actor)} & self.ring
            ):
                continue
            if kind == "unblock" and (actor, target) not in self.blocks:
                continue
            # A close friend removed while (or just before) the owner's close-friends
            # story reaches trays leaves the author in the friend's tray until the tray
            # read checks what it may show.
            if kind == "close_friend_removed" and (
                self._live_cf_story(actor) or actor in r.story_authors
            ):
                continue
            if kind == "close_friend_added" and (actor, target) in self.close:
                continue
            if kind == "close_friend_removed" and (actor, target) not in self.close:
                continue
            r.pairs.add(pair)
            if kind == "close_friend_removed":
                r.friend_removers.add(actor)
            return [self._event(kind, actor, target_id=target)]
        return []

    def _story_change(self, r: Round, *, created: bool | None = None) -> list[dict[str, Any]]:
        """A story created or deleted by an author whose graph this round leaves alone."""
        free = [u for u in self.users if u not in r.friend_removers]
        if created is False:  # an author with a live story, or one who posts one first
            with_live = [u for u in free if self._live_stories(u)]
            author = self.rng.choice(with_live or free)
        else:
            author = self.rng.choice(free)
        r.story_authors.add(author)
        live = self._live_stories(author)
        if created is False or (created is None and live and self.rng.random() < 0.25):
            events = [] if live else self._new_story(author, expired=False)
            story = self.rng.choice(self._live_stories(author))
            return [*events, self._event("story_deleted", author, story_id=story)]
        # One in twenty was posted 25 h ago: expired at once, never shown, swept.
        return self._new_story(author, expired=self.rng.random() < 0.05)

    def _new_story(self, author: str, *, expired: bool) -> list[dict[str, Any]]:
        ms = now_ms() - STORY_HOURS_MS - 3_600_000 if expired else None
        return [
            self._event(
                "story_created",
                author,
                ms=ms,
                story_id=self._id("s"),
                media_id=self._id("sm"),
                close_friends_only=not expired and self.rng.random() < 0.3,
            )
        ]

    def _live_stories(self, author: str) -> list[str]:
        return [s for s, t in self.stories.items() if t.author == author and self._story_live(t)]

    def _story_view(self) -> list[dict[str, Any]]:
        live = [s for s, t in self.stories.items() if self._story_live(t)]
        if not live:
            return []
        story = self.rng.choice(live)
        author = self.stories[story].author
        viewers = [u for (u, a) in self.follows if a == author] or self.users
        return [
            self._event("story_viewed", self.rng.choice(viewers), story_id=story, owner_id=author)
        ]

    # --- the tally ----------------------------------------------------------------------

    def _apply(self, e: dict[str, Any], ms: int) -> None:
        if e["event_id"] in self._applied:
            return
        self._applied.add(e["event_id"])
        kind, user = e["type"], e["user_id"]
        target = e.get("target_id")
        if kind == "profile_updated":
            self.profiles[user] = (e["username"], e["display_name"], e["is_private"])
        elif kind == "follow":
            if user != target and not self._blocked(user, target):
                self.follows.add((user, target))
        elif kind == "unfollow":
            self.follows.discard((user, target))
        elif kind == "block":
            self.blocks.add((user, target))
            self.follows -= {(user, target), (target, user)}
            self.close -= {(user, target), (target, user)}
        elif kind == "unblock":
            self.blocks.discard((user, target))
        elif kind == "close_friend_added":
            self.close.add((user, target))
        elif kind == "close_friend_removed":
            self.close.discard((user, target))
        elif kind == "post_created":
            media = [m["media_id"] for m in e["media"]]
            tags = tuple(dict.fromkeys(t.casefold() for t in _caption_tags(e["caption"])))
            self.posts[e["post_id"]] = PostTruth(user, tags, media, ms)
        elif kind == "post_deleted":
            post = self.posts.get(e["post_id"])
            if post is not None and post.author == user:
                post.deleted = True
        elif kind in ("like", "unlike", "save", "unsave"):
            tag = "l" if kind in ("like", "unlike") else "s"
            self._mark((e["post_id"], tag, user), kind in ("like", "save"), ms, e["event_id"])
        elif kind == "share":
            self._mark((e["post_id"], "h", e["event_id"]), True, ms, e["event_id"])
        elif kind in ("comment_created", "comment_deleted"):
            key = (e["post_id"], "c", e["comment_id"])
            if kind == "comment_created":
                self.commenters[e["comment_id"]] = e["user_id"]
            self._mark(key, kind == "comment_created", ms, e["event_id"])
        elif kind == "story_created":
            self.stories[e["story_id"]] = StoryTruth(user, e["close_friends_only"], ms)
        elif kind == "story_deleted":
            self.stories[e["story_id"]].deleted = True
        elif kind == "story_viewed" and user != e["owner_id"]:
            self.stories[e["story_id"]].viewers.add(user)

    def _mark(self, key: tuple[str, str, str], present: bool, ms: int, event_id: str) -> None:
        current = self.marks.get(key)
        if current is None or ms > current[1]:
            self.marks[key] = [present, ms, [event_id]]
        elif ms == current[1]:
            current[0] = present  # later in the log wins the tie
            current[2].append(event_id)

    def _present(self, key: tuple[str, str, str]) -> bool:
        mark = self.marks.get(key)
        return bool(mark and mark[0])

    def _sees(self, viewer: str, post: Any) -> bool:
        """The visibility policy for one live post (domain.visibility.may_see_post)."""
        if post.author == viewer:
            return True
        private = post.author in self.profiles and self.profiles[post.author][2]
        return (
            self.post_state(post) == "ready"
            and not self._blocked(viewer, post.author)
            and (not private or (viewer, post.author) in self.follows)
        )

    def _blocked(self, a: str, b: str) -> bool:
        return (a, b) in self.blocks or (b, a) in self.blocks

    def _story_live(self, story: StoryTruth) -> bool:
        return not story.deleted and now_ms() < story.created_ms + STORY_HOURS_MS

    def _live_cf_story(self, author: str) -> bool:
        return any(
            t.author == author and t.close_friends_only and self._story_live(t)
            for t in self.stories.values()
        )

    def used_tags(self) -> list[str]:
        return sorted({tag for t in self.posts.values() for tag in t.tags})

    def post_state(self, post: PostTruth) -> str:
        outcomes = [self.media[m][1] for m in post.media]
        return "failed" if "failed" in outcomes else "ready"

    # --- the views -------------------------------------------------------------------------

    def expected(self) -> dict[str, Any]:
        live_posts = {p: t for p, t in self.posts.items() if not t.deleted}
        views: dict[str, Any] = {}
        for u in self.users:
            username, display, private = self.profiles[u]
            views[f"profile {u}"] = {
                "username": username,
                "display_name": display,
                "is_private": private,
                "followers": sum(1 for _, t in self.follows if t == u),
                "following": sum(1 for f, _ in self.follows if f == u),
                "posts": sum(1 for t in live_posts.values() if t.author == u),
            }
            views[f"followers {u}"] = sorted(f for f, t in self.follows if t == u)
            feed = {}
            for p, t in live_posts.items():
                state = self.post_state(t)
                if t.author == u or (
                    (u, t.author) in self.follows
                    and state == "ready"
                    and not self._blocked(u, t.author)
                ):
                    feed[p] = state
            views[f"feed {u}"] = feed
            views[f"saved {u}"] = sorted(
                p for p, t in live_posts.items() if self._present((p, "s", u)) and self._sees(u, t)
            )
            views[f"tray {u}"] = sorted(
                {
                    t.author
                    for t in self.stories.values()
                    if self._story_live(t)
                    and (u, t.author) in self.follows
                    and not self._blocked(u, t.author)
                    and (not t.close_friends_only or (t.author, u) in self.close)
                }
            )
        counts: dict[str, dict[str, int]] = defaultdict(
            lambda: {"likes": 0, "comments": 0, "saves": 0, "shares": 0}
        )
        comments: dict[str, list[str]] = defaultdict(list)
        names = {"l": "likes", "c": "comments", "s": "saves", "h": "shares"}
        for (p, tag, member), mark in self.marks.items():
            if mark[0] and p in live_posts:
                counts[p][names[tag]] += 1
                if tag == "c":
                    comments[p].append(member)
        for p, t in live_posts.items():
            views[f"stats {p}"] = dict(counts[p])
            # Read as the post's author, who sees their post in any state but not the
            # comments of users they are blocked with.
            views[f"comments {p}"] = sorted(
                c for c in comments[p] if not self._blocked(t.author, self.commenters[c])
            )
        for p, t in self.posts.items():
            if t.deleted:
                views[f"stats {p}"] = 404
        for s, t in self.stories.items():
            if self._story_live(t):
                views[f"viewers {s}"] = len(t.viewers)
        trending: dict[str, set[str]] = defaultdict(set)
        for t in live_posts.values():
            for tag in t.tags:
                trending[tag].add(t.author)
        views["trending 1h"] = {tag: len(a) for tag, a in trending.items()}
        # Search: each user by their current username, each tag with its live posts.
        for u in self.users:
            views[f"search {u}"] = self.profiles[u][0]
        for tag in self.used_tags():
            views[f"search #{tag}"] = sum(tag in t.tags for t in live_posts.values()) or None
        gone = {m for t in self.posts.values() if t.deleted for m in t.media}
        for m, (_, outcome) in self.media.items():
            # A deleted post takes its media (state and files) with it.
            views[f"media {m}"] = 404 if m in gone else outcome
        return views

    def observed(
        self, api_url: str, headers_for: Callable[[str], dict[str, str]]
    ) -> dict[str, Any]:
        """The same views, read through the API as each user would."""
        views: dict[str, Any] = {}
        with httpx.Client(base_url=api_url, timeout=30) as client:

            def get(user: str, path: str, **params: Any) -> httpx.Response:
                return client.get(path, headers=headers_for(user), params=params)

            def pages(user: str, path: str, **params: Any) -> list[dict[str, Any]] | int:
                """Every item of a paginated list, or the status code that answered instead."""
                items: list[dict[str, Any]] = []
                cursor = None
                while True:
                    r = get(user, path, **params, **({"cursor": cursor} if cursor else {}))
                    if r.status_code != 200:
                        return r.status_code
                    body = r.json()
                    items += body["data"]
                    cursor = body.get("next_cursor")
                    if not cursor:
                        return items

            def ids(user: str, path: str, field: str) -> list[str] | int:
                found = pages(user, path, limit=100)
                return found if isinstance(found, int) else sorted(x[field] for x in found)

            for u in self.users:
                r = get(u, f"/v1/users/{u}")
                body = r.json() if r.status_code == 200 else {}
                views[f"profile {u}"] = {
                    k: body.get(k)
                    for k in (
                        "username",
                        "display_name",
                        "is_private",
                        "followers",
                        "following",
                        "posts",
                    )
                }
                views[f"followers {u}"] = ids(u, f"/v1/users/{u}/followers", "user_id")
                feed = pages(u, "/v1/feed", limit=100)
                views[f"feed {u}"] = (
                    feed if isinstance(feed, int) else {p["post_id"]: p["state"] for p in feed}
                )
                saved = ids(u, "/v1/users/me/saved", "post_id")
                views[f"saved {u}"] = (
                    saved
                    if isinstance(saved, int)
                    else [p for p in saved if p in self.posts and not self.posts[p].deleted]
                )
                views[f"tray {u}"] = ids(u, "/v1/stories/tray", "author_id")
            for p, t in self.posts.items():
                # The author may see their post whatever its state or their privacy.
                r = get(t.author, f"/v1/posts/{p}/stats")
                if t.deleted:
                    views[f"stats {p}"] = r.status_code if r.status_code == 404 else r.json()
                    continue
                views[f"stats {p}"] = r.json() if r.status_code == 200 else r.status_code
                views[f"comments {p}"] = ids(t.author, f"/v1/posts/{p}/comments", "comment_id")
            for s, t in self.stories.items():
                if self._story_live(t):
                    r = get(t.author, f"/v1/stories/{s}/viewers", limit=100)
                    views[f"viewers {s}"] = (
                        r.json()["count"] if r.status_code == 200 else r.status_code
                    )
            r = get(self.users[0], "/v1/trending/hashtags", window="1h", limit=100)
            views["trending 1h"] = {x["tag"]: x["count"] for x in r.json()["data"]}
            for u in self.users:
                r = get(u, "/v1/search", q=self.profiles[u][0], type="users", limit=50)
                found = [x["user"] for x in r.json()["data"] if x["user"]["user_id"] == u]
                views[f"search {u}"] = found[0]["username"] if found else r.status_code
            for tag in self.used_tags():
                r = get(self.users[0], "/v1/search", q=tag, type="hashtags", limit=50)
                counts = {x["hashtag"]["tag"]: x["hashtag"]["posts"] for x in r.json()["data"]}
                views[f"search #{tag}"] = counts.get(tag)
            for m, (owner, _) in self.media.items():
                r = get(owner, f"/v1/media/{m}")
                views[f"media {m}"] = r.json()["state"] if r.status_code == 200 else r.status_code
        return views


def _caption_tags(caption: str) -> list[str]:
    return [word[1:] for word in caption.split() if word.startswith("#")]


def differences(expected: dict[str, Any], observed: dict[str, Any]) -> list[str]:
    """Readable mismatches between two view maps (empty when they agree)."""
    out = []
    for key in sorted(set(expected) | set(observed)):
        if expected.get(key) != observed.get(key):
            out.append(f"{key}: expected {expected.get(key)!r}, observed {observed.get(key)!r}")
    return out
