"""Every Redis key, as a method of one prefix-bound object.

Redis is a serving cache (principle 2): everything under these keys can be rebuilt
from Cassandra and the Faust tables with ``photostream rebuild``. The layout below
is the contract between the agents that write a key and the API readers of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def all_pattern(self) -> str:
        return self._k("*")

    # --- profiles -----------------------------------------------------------------
    def user(self, user_id: str) -> str:
        """Hash: the public profile (username, display_name, is_private, updated_at)."""
        return self._k("user", user_id)

    # --- social graph ---------------------------------------------------------------
    def following(self, user_id: str) -> str:
        """Set: ids user_id follows."""
        return self._k("following", user_id)

    def close_friends(self, user_id: str) -> str:
        """Set: ids user_id counts among their close friends."""
        return self._k("close", user_id)

    def blocked(self, user_id: str) -> str:
        """Set: ids hidden from user_id because either of the two blocked the other."""
        return self._k("blocked", user_id)

    def user_counts(self, user_id: str) -> str:
        """Hash: followers, following, posts (absolute values)."""
        return self._k("ucounts", user_id)

    # --- posts and feeds ------------------------------------------------------------
    def post(self, post_id: str) -> str:
        """Hash: the post (author_id, caption, media JSON, created_at ms, state)."""
        return self._k("post", post_id)

    def feed(self, user_id: str) -> str:
        """Sorted set: pushed feed candidates, post_id scored by created_at ms, capped."""
        return self._k("feed", user_id)

    def author_posts(self, user_id: str) -> str:
        """Sorted set: an author's recent posts by created_at ms (profile grid, pull tail)."""
        return self._k("aposts", user_id)

    # --- engagement -----------------------------------------------------------------
    def post_stats(self, post_id: str) -> str:
        """Hash: likes, comments, saves, shares (absolute values from the counters)."""
        return self._k("pstats", post_id)

    def post_likers(self, post_id: str) -> str:
        """Set: user ids that like the post now (the exact state, projected)."""
        return self._k("likers", post_id)

    # --- media ----------------------------------------------------------------------
    def media(self, media_id: str) -> str:
        """Hash: state (pending|processing|partial|ready|failed), kind, variants JSON,
        placeholder, reason, owner_id."""
        return self._k("media", media_id)

    # --- idempotency of API writes --------------------------------------------------
    def idempotency(self, user_id: str, key: str) -> str:
        """String: the JSON answer of a write already accepted under this Idempotency-Key."""
        return self._k("idem", user_id, key)
