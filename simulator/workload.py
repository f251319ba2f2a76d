"""A synthetic, power-law workload: the realistic skew `photostream simulate` produces.

Pure: yields event dicts (producers validate and send them). Follower counts follow a
Zipf-like law, so a few celebrities have thousands of followers and the long tail has
a handful; likes and views concentrate on popular authors' recent posts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_MIX: dict[str, float] = {
    "post": 6,
    "like": 45,
    "unlike": 3,
    "comment": 8,
    "save": 4,
    "share": 2,
    "story": 5,
    "story_view": 20,
    "follow": 5,
    "unfollow": 1,
    "profile": 1,
}

HASHTAGS = (
    "sunset",
    "food",
    "travel",
    "catsofinstagram",
    "nofilter",
    "fitness",
    "art",
    "café",
    "東京",
    "summer_vibes",
)
WORDS = (
    "lovely",
    "day",
    "at",
    "the",
    "beach",
    "with",
    "friends",
    "new",
    "look",
    "coffee",
    "time",
    "city",
    "lights",
)


def parse_mix(text: str) -> dict[str, float]:
    """``"post=5,like=60"`` -> weights; unknown kinds are an error naming them."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        if name not in DEFAULT_MIX:
            raise ValueError(f"unknown event kind {name!r}; one of {', '.join(DEFAULT_MIX)}")
        mix[name] = float(weight or 1)
    return mix


@dataclass
class Workload:
    users: int = 200
    seed: int = 7
    follows_per_user: int = 20
    zipf_s: float = 1.1
    # The top ``celebrities`` users get at least ``celebrity_followers`` followers, so a
    # run can put a few authors above the celebrity threshold (pulled at read time).
    celebrities: int = 0
    celebrity_followers: int = 0
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    start: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.user_ids = [f"u{i}" for i in range(self.users)]
        # Popularity weight by rank: user 0 is the biggest celebrity.
        self.weights = [1.0 / (rank + 1) ** self.zipf_s for rank in range(self.users)]
        self.following: dict[str, set[str]] = {u: set() for u in self.user_ids}
        self.posts: list[tuple[str, str]] = []  # (post_id, author)
        self.stories: list[tuple[str, str]] = []  # (story_id, author)
        self.liked: set[tuple[str, str]] = set()
        self._seq = 0
        self._clock = self.start

    # -- helpers --------------------------------------------------------------------
    def _now(self) -> str:
        self._clock += timedelta(milliseconds=1)
        return self._clock.isoformat().replace("+00:00", "Z")

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self.seed}-{self._seq}"

    def _popular_user(self) -> str:
        return self.rng.choices(self.user_ids, weights=self.weights, k=1)[0]

    def _any_user(self) -> str:
        return self.rng.choice(self.user_ids)

    def _recent(self, items: list[tuple[str, str]]) -> tuple[str, str] | None:
        if not items:
            return None
        # Skewed to recent items: engagement decays with age.
        index = len(items) - 1 - min(int(self.rng.expovariate(1 / 20)), len(items) - 1)
        return items[index]

    def _caption(self) -> str:
        words = self.rng.choices(WORDS, k=self.rng.randint(2, 6))
        tags = self.rng.sample(HASHTAGS, k=self.rng.randint(0, 3))
        return " ".join(words + [f"#{t}" for t in tags])

    # -- the workload ---------------------------------------------------------------
    def bootstrap(self) -> Iterator[dict[str, Any]]:
        """Profiles for every user, then a power-law follow graph."""
        for i, user in enumerate(self.user_ids):
            yield {
                "type": "profile_updated",
                "user_id": user,
                "occurred_at": self._now(),
                "username": f"user{i}",
                "display_name": f"User {i}",
                "is_private": i % 25 == 24,
            }
        for user in self.user_ids:
            count = max(
                1, min(self.users - 1, int(self.rng.expovariate(1 / self.follows_per_user)))
            )
            for _ in range(count):
                target = self._popular_user()
                if target != user and target not in self.following[user]:
                    self.following[user].add(target)
                    yield {
                        "type": "follow",
                        "user_id": user,
                        "target_id": target,
                        "occurred_at": self._now(),
                    }
        yield from self._celebrity_follows()

    def _celebrity_follows(self) -> Iterator[dict[str, Any]]:
        for celebrity in self.user_ids[: self.celebrities]:
            fans = [u for u in self.user_ids if u != celebrity]
            have = sum(celebrity in self.following[u] for u in fans)
            for fan in self.rng.sample(fans, k=min(len(fans), self.celebrity_followers)):
                if have >= self.celebrity_followers:
                    break
                if celebrity not in self.following[fan]:
                    self.following[fan].add(celebrity)
                    have += 1
                    yield {
                        "type": "follow",
                        "user_id": fan,
                        "target_id": celebrity,
                        "occurred_at": self._now(),
                    }

    def events(self, count: int) -> Iterator[dict[str, Any]]:
        kinds = list(self.mix)
        weights = [self.mix[k] for k in kinds]
        produced = 0
        while produced < count:
            event = getattr(self, f"_make_{self.rng.choices(kinds, weights=weights, k=1)[0]}")()
            if event is not None:
                produced += 1
                yield event

    def _make_post(self) -> dict[str, Any]:
        author = self._popular_user() if self.rng.random() < 0.3 else self._any_user()
        post_id = self._id("p")
        self.posts.append((post_id, author))
        return {
            "type": "post_created",
            "user_id": author,
            "post_id": post_id,
            "caption": self._caption(),
            "media": [],
            "occurred_at": self._now(),
        }

    def _make_like(self) -> dict[str, Any] | None:
        post = self._recent(self.posts)
        if post is None:
            return None
        user = self._any_user()
        self.liked.add((post[0], user))
        return {"type": "like", "user_id": user, "post_id": post[0], "occurred_at": self._now()}

    def _make_unlike(self) -> dict[str, Any] | None:
        if not self.liked:
            return None
        post_id, user = self.rng.choice(sorted(self.liked)[-200:])
        self.liked.discard((post_id, user))
        return {"type": "unlike", "user_id": user, "post_id": post_id, "occurred_at": self._now()}

    def _make_comment(self) -> dict[str, Any] | None:
        post = self._recent(self.posts)
        if post is None:
            return None
        return {
            "type": "comment_created",
            "user_id": self._any_user(),
            "post_id": post[0],
            "comment_id": self._id("c"),
            "text": self._caption(),
            "occurred_at": self._now(),
        }

    def _make_save(self) -> dict[str, Any] | None:
        post = self._recent(self.posts)
        return (
            None
            if post is None
            else {
                "type": "save",
                "user_id": self._any_user(),
                "post_id": post[0],
                "occurred_at": self._now(),
            }
        )

    def _make_share(self) -> dict[str, Any] | None:
        post = self._recent(self.posts)
        return (
            None
            if post is None
            else {
                "type": "share",
                "user_id": self._any_user(),
                "post_id": post[0],
                "occurred_at": self._now(),
            }
        )

    def _make_story(self) -> dict[str, Any]:
        author = self._any_user()
        story_id = self._id("s")
        self.stories.append((story_id, author))
        return {
            "type": "story_created",
            "user_id": author,
            "story_id": story_id,
            "media_id": self._id("m"),
            "close_friends_only": self.rng.random() < 0.15,
            "occurred_at": self._now(),
        }

    def _make_story_view(self) -> dict[str, Any] | None:
        story = self._recent(self.stories)
        if story is None:
            return None
        return {
            "type": "story_viewed",
            "user_id": self._any_user(),
            "story_id": story[0],
            "owner_id": story[1],
            "occurred_at": self._now(),
        }

    def _make_follow(self) -> dict[str, Any] | None:
        user, target = self._any_user(), self._popular_user()
        if user == target or target in self.following[user]:
            return None
        self.following[user].add(target)
        return {"type": "follow", "user_id": user, "target_id": target, "occurred_at": self._now()}

    def _make_unfollow(self) -> dict[str, Any] | None:
        user = self._any_user()
        if not self.following[user]:
            return None
        target = self.rng.choice(sorted(self.following[user]))
        self.following[user].discard(target)
        return {
            "type": "unfollow",
            "user_id": user,
            "target_id": target,
            "occurred_at": self._now(),
        }

    def _make_profile(self) -> dict[str, Any]:
        user = self._any_user()
        i = self.user_ids.index(user)
        return {
            "type": "profile_updated",
            "user_id": user,
            "username": f"user{i}",
            "display_name": f"User {i} ✨",
            "is_private": self.rng.random() < 0.04,
            "occurred_at": self._now(),
        }
