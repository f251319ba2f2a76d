"""Every Redis key, as a method of one prefix-bound object.

Redis is a serving cache (principle 2): everything under these keys can be rebuilt
from Cassandra and the Faust tables with ``photostream rebuild``. The layout below
is the contract between the agents that write a key and the API readers of it.
"""

from __future__ import annotations

from dataclasses import dataclass

# The search index's members: "term\x00user_id" in the users' lex set and "tag\x00count"
# in the tags' (NUL sorts before every character, so a term's own members come first in
# its range), and a user's count and terms joined by the unit separator in the terms hash.
SEARCH_TERM_SEPARATOR = "\x00"
SEARCH_TERMS_JOIN = "\x1f"


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

    def muted(self, user_id: str) -> str:
        """Set: ids user_id muted (their posts and stories leave user_id's feed and tray)."""
        return self._k("muted", user_id)

    def follow_requests(self, user_id: str) -> str:
        """Sorted set: pending requests to follow user_id, requester -> requested at (ms)."""
        return self._k("requests", user_id)

    def requests_sent(self, user_id: str) -> str:
        """Set: ids user_id asked to follow and who have not answered yet."""
        return self._k("requested", user_id)

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
        """String: "likes comments saves shares", absolute values from the counters
        (``schemas.redis_hashes.PostCounts``)."""
        return self._k("pstats", post_id)

    def post_likers(self, post_id: str) -> str:
        """Set: user ids that like the post now (the exact state, projected)."""
        return self._k("likers", post_id)

    def like_pending(self, user_id: str, post_id: str) -> str:
        """String: "1" liked / "0" unliked by user_id through the API moments ago (short TTL);
        read-your-own-writes until the stream catches up."""
        return self._k("likepend", user_id, post_id)

    def liked(self, user_id: str) -> str:
        """Set: post ids user_id likes now (projected with the likers sets; erasure)."""
        return self._k("liked", user_id)

    def shares(self, user_id: str) -> str:
        """Hash: share event id -> post id, for each share of user_id that counts."""
        return self._k("shares", user_id)

    def saved(self, user_id: str) -> str:
        """Sorted set: post ids user_id saved, scored by saved_at ms."""
        return self._k("saved", user_id)

    # --- media ----------------------------------------------------------------------
    def media(self, media_id: str) -> str:
        """Hash: state (pending|processing|partial|ready|failed), kind, variants JSON,
        placeholder, reason, owner_id."""
        return self._k("media", media_id)

    # --- stories --------------------------------------------------------------------
    def story(self, story_id: str) -> str:
        """Hash: author_id, created_ms, media_id, close_friends_only (0|1); expires with it."""
        return self._k("story", story_id)

    def author_stories(self, user_id: str) -> str:
        """Sorted set: an author's live story ids scored by created_at ms."""
        return self._k("astories", user_id)

    def author_open_stories(self, user_id: str) -> str:
        """Sorted set: the same, without the close-friends-only ones (a tray read takes
        the newest a viewer may see from one or the other, no story card read)."""
        return self._k("aostories", user_id)

    def story_tray(self, user_id: str) -> str:
        """Sorted set: authors with a story user_id may see, scored by its newest one (ms)."""
        return self._k("tray", user_id)

    def close_friend_of(self, user_id: str) -> str:
        """Set: authors who count user_id among their close friends (the inverse of close)."""
        return self._k("closeof", user_id)

    def stories_seen(self, user_id: str) -> str:
        """Hash: author_id -> created_at ms of the newest of their stories user_id watched."""
        return self._k("sseen", user_id)

    def story_viewers(self, story_id: str) -> str:
        """Sorted set: viewer ids scored by first view ms (projected from the worker's table)."""
        return self._k("sviewers", story_id)

    def story_views(self, story_id: str) -> str:
        """String: the exact number of distinct viewers (an absolute value)."""
        return self._k("sviews", story_id)

    # --- trending hashtags ----------------------------------------------------------
    def hashtag_users(self, tag: str) -> str:
        """Sorted set: user ids scored by their newest live post with the tag (ms, 7 d)."""
        return self._k("tagusers", tag)

    def hashtags_active(self) -> str:
        """Sorted set: tags scored by their newest use (ms); the trending candidates."""
        return self._k("tags", "active")

    def trending(self, window: str) -> str:
        """Sorted set: tags scored by distinct users in the window (1h|24h|7d)."""
        return self._k("trending", window)

    # --- search -------------------------------------------------------------------
    def search_users(self) -> str:
        """Sorted set, every score 0: "term\\x00user_id" per indexed term (prefix = lex range)."""
        return self._k("search", "users")

    def search_user_terms(self) -> str:
        """Hash: user_id -> "followers\\x1fterm\\x1fterm…": the follower count as last indexed,
        then the user's indexed terms (ranking facts and graph-first scans in one read)."""
        return self._k("search", "uterms")

    def search_users_top(self, prefix: str) -> str:
        """Sorted set: the most followed users with a term of this 1-2 character prefix,
        user_id scored by follower count, capped."""
        return self._k("search", "utop", prefix)

    def search_tags(self) -> str:
        """Sorted set, every score 0: "tag\\x00live posts" for each tag with a live post
        (prefix = lex range; the count travels with the match)."""
        return self._k("search", "tags")

    def search_tags_top(self, prefix: str) -> str:
        """Sorted set: the tags with most live posts of this 1-2 character prefix, capped."""
        return self._k("search", "ttop", prefix)

    # --- graph and feeds (fan-out internals) ---------------------------------------
    def followers(self, user_id: str) -> str:
        """Set: ids that follow user_id (the fan-out list; Cassandra ``followers`` is durable)."""
        return self._k("followers", user_id)

    def author_pending(self, user_id: str) -> str:
        """Sorted set: an author's processing or failed posts by created_at ms (author only)."""
        return self._k("apending", user_id)

    def celebrities(self) -> str:
        """Set: user ids with at least ``celebrity_threshold`` followers (pulled, not pushed)."""
        return self._k("celebrities")

    def active_users(self) -> str:
        """Sorted set: user id scored by their last feed read (ms); fan-out skips the rest."""
        return self._k("active")

    def recent_posts(self) -> str:
        """Sorted set: the newest ready posts of everyone by created_at ms (recommendations)."""
        return self._k("recent")

    def feed_session(self, user_id: str, session_id: str) -> str:
        """String: a JSON list of one scroll's ranked "source:created_ms:post_id" entries after
        its first page, fixed by that page (TTL)."""
        return self._k("fsession", user_id, session_id)

    def feed_dirty(self) -> str:
        """Set: user ids whose feed changed since its last durable copy in Cassandra."""
        return self._k("feeddirty")

    # --- idempotency of API writes --------------------------------------------------
    def rate(self, route_class: str, subject: str) -> str:
        """Sorted set: the request times (ms) of one user or address in one route class,
        over the last window (rate limits, shared by every API process)."""
        return self._k("rate", route_class, subject)

    def login_failures(self, subject: str) -> str:
        """Hash: failed logins of one username or address (count, last at) for back-off."""
        return self._k("loginfail", subject)

    def idempotency(self, user_id: str, key: str) -> str:
        """String: the JSON answer of a write already accepted under this Idempotency-Key."""
        return self._k("idem", user_id, key)
