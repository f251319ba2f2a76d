"""The Redis hashes the sinks write and the readers read, field by field, declared once.

Each shape is a frozen dataclass: ``fields()`` gives the HSET field/value pairs (all
strings, as Redis holds them), ``from_fields()`` reads an HGETALL back (None for a hash
that is not there). Every hash written by a version-checked script also holds
``updated_at``, the version it was written at (``VERSION``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

# The field a version-checked write keeps its version in (see sinks/scripts.py).
VERSION = "updated_at"


def _pairs(values: Mapping[str, str]) -> list[str]:
    return [item for pair in values.items() for item in pair]


@dataclass(frozen=True)
class PostHash:
    """``ps:…:post:{post_id}``: a post's state, and its content once created."""

    # What a check of a post's existence reads (HMGET): its author and its state.
    IDENTITY = ("author_id", "state")

    author_id: str
    state: str  # processing | ready | failed | deleted
    created_ms: int
    reason: str | None = None
    caption: str | None = None  # None: not written by this change (a state change only)
    media: tuple[dict[str, Any], ...] | None = None

    def fields(self) -> list[str]:
        values = {
            "author_id": self.author_id,
            "state": self.state,
            "reason": self.reason or "",
            "created_at": str(self.created_ms),
        }
        if self.caption is not None:
            values["caption"] = self.caption
            values["media"] = orjson.dumps(list(self.media or ())).decode()
        return _pairs(values)

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> PostHash | None:
        if not fields or not fields.get("author_id"):
            return None
        return cls(
            author_id=fields["author_id"],
            state=fields.get("state") or "",
            created_ms=int(fields.get("created_at") or 0),
            reason=fields.get("reason") or None,
            caption=fields.get("caption", ""),
            media=tuple(orjson.loads(fields.get("media") or "[]")),
        )


@dataclass(frozen=True)
class MediaHash:
    """``ps:…:media:{media_id}``: an upload's processing state and its variants.

    An event writes only the fields it knows (None: left as they are), so a failure
    keeps the kind the upload set.
    """

    state: str | None = None  # pending | partial | ready | failed
    owner_id: str | None = None
    kind: str | None = None  # photo | video
    variants: tuple[dict[str, Any], ...] | None = None
    placeholder: str | None = None  # "" clears it
    reason: str | None = None
    width: int | None = None
    height: int | None = None

    def fields(self) -> list[str]:
        values: dict[str, str] = {}
        for name in ("state", "kind", "owner_id", "placeholder", "reason"):
            value = getattr(self, name)
            if value is not None:
                values[name] = value
        if self.variants is not None:
            values["variants"] = orjson.dumps(list(self.variants)).decode()
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None:
                values[name] = str(value) if value else ""
        return _pairs(values)

    @classmethod
    def from_row(cls, row: Any) -> MediaHash:
        """A row of the Cassandra ``media`` table as the hash the live sink leaves."""
        return cls(
            state=row.state or "pending",
            kind=row.kind or "photo",
            owner_id=row.owner_id or "",
            variants=tuple(orjson.loads(row.variants or "[]")),
            placeholder=row.placeholder or "",
            reason=row.reason or "",
            width=row.width or 0,
            height=row.height or 0,
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> MediaHash | None:
        if not fields:
            return None
        return cls(
            state=fields.get("state") or "pending",
            owner_id=fields.get("owner_id", ""),
            kind=fields.get("kind") or "photo",
            variants=tuple(orjson.loads(fields.get("variants") or "[]")),
            placeholder=fields.get("placeholder") or None,
            reason=fields.get("reason") or None,
            width=int(fields["width"]) if fields.get("width") else None,
            height=int(fields["height"]) if fields.get("height") else None,
        )


@dataclass(frozen=True)
class StoryHash:
    """``ps:…:story:{story_id}``: a live story's card (it expires with the story)."""

    # What a viewer list reads (HMGET): the author and when it was posted.
    IDENTITY = ("author_id", "created_ms")

    author_id: str
    created_ms: int
    media_id: str
    close_friends_only: bool

    def mapping(self) -> dict[str, str]:
        return {
            "author_id": self.author_id,
            "created_ms": str(self.created_ms),
            "media_id": self.media_id,
            "close_friends_only": "1" if self.close_friends_only else "0",
        }

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> StoryHash | None:
        if not fields or not fields.get("author_id") or not fields.get("created_ms"):
            return None
        return cls(
            author_id=fields["author_id"],
            created_ms=int(fields["created_ms"]),
            media_id=fields.get("media_id", ""),
            close_friends_only=fields.get("close_friends_only") == "1",
        )


@dataclass(frozen=True)
class ProfileHash:
    """``ps:…:user:{user_id}``: a profile as the readers serve it."""

    username: str
    display_name: str
    is_private: bool
    bio: str = ""
    deleted: bool = False  # the account is being deleted: nothing of it is shown

    def fields(self) -> list[str]:
        return _pairs(
            {
                "username": self.username,
                "display_name": self.display_name,
                "is_private": "1" if self.is_private else "0",
                "bio": self.bio,
                "deleted": "1" if self.deleted else "0",
            }
        )

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> ProfileHash | None:
        if not fields:
            return None
        return cls(
            username=fields.get("username", ""),
            display_name=fields.get("display_name", ""),
            is_private=fields.get("is_private") == "1",
            bio=fields.get("bio", ""),
            deleted=fields.get("deleted") == "1",
        )


@dataclass(frozen=True)
class PostCounts:
    """``ps:…:pstats:{post_id}``: a post's absolute counts as one string, "likes comments
    saves shares", so a page reads every post's counts with one MGET."""

    likes: int = 0
    comments: int = 0
    saves: int = 0
    shares: int = 0

    def value(self) -> str:
        return f"{self.likes} {self.comments} {self.saves} {self.shares}"

    @classmethod
    def of(cls, vector: Any) -> PostCounts:
        """From a count vector in ``domain.engagement.COUNTERS`` order."""
        likes, comments, saves, shares = (int(v) for v in vector)
        return cls(likes, comments, saves, shares)

    @classmethod
    def from_value(cls, raw: str | None) -> PostCounts:
        """A GET/MGET reply back; zeros for a post with no counts flushed yet."""
        return cls.of(raw.split()) if raw else cls()
