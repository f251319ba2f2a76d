"""Every Redis key, as a method of one prefix-bound object.

Redis is a serving cache (principle 2): everything under these keys can be rebuilt
from Cassandra and the Faust tables with ``photostream rebuild``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- profiles -----------------------------------------------------------------
    def user(self, user_id: str) -> str:
        """Hash: the public profile (username, display_name, is_private, updated_at)."""
        return self._k("user", user_id)

    # --- idempotency of API writes --------------------------------------------------
    def idempotency(self, user_id: str, key: str) -> str:
        """String: the JSON answer of a write already accepted under this Idempotency-Key."""
        return self._k("idem", user_id, key)

    def all_pattern(self) -> str:
        return self._k("*")
