"""Event factories: valid events with overridable fields (``like_factory(post_id="p1")``)."""

from __future__ import annotations

import itertools
from typing import Any

from schemas.events import EventBase, make_event

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


def event_dict(event_type: str, **fields: Any) -> dict[str, Any]:
    """A valid event as a plain dict (the shape producers send)."""
    defaults: dict[str, Any] = {"user_id": unique("u")}
    defaults.update(SAMPLE_FIELDS.get(event_type, {}))
    defaults.update(fields)
    return {"type": event_type, **defaults}


def event_factory(event_type: str, **fields: Any) -> EventBase:
    return make_event(
        event_type, **{k: v for k, v in event_dict(event_type, **fields).items() if k != "type"}
    )


SAMPLE_FIELDS: dict[str, dict[str, Any]] = {
    "profile_updated": {"username": "ada", "display_name": "Ada L.", "is_private": False},
    "feed_opened": {},
    "account_deleted": {},
    "follow": {"target_id": "u-target"},
    "unfollow": {"target_id": "u-target"},
    "block": {"target_id": "u-target"},
    "unblock": {"target_id": "u-target"},
    "close_friend_added": {"target_id": "u-target"},
    "close_friend_removed": {"target_id": "u-target"},
    "mute": {"target_id": "u-target"},
    "unmute": {"target_id": "u-target"},
    "follow_requested": {"target_id": "u-target"},
    "follow_request_cancelled": {"target_id": "u-target"},
    "follow_request_approved": {"target_id": "u-target"},
    "follow_request_denied": {"target_id": "u-target"},
    "post_created": {
        "post_id": "p1",
        "caption": "hello #world",
        "media": [{"media_id": "m1", "kind": "photo"}],
    },
    "post_deleted": {"post_id": "p1"},
    "like": {"post_id": "p1"},
    "unlike": {"post_id": "p1"},
    "save": {"post_id": "p1"},
    "unsave": {"post_id": "p1"},
    "share": {"post_id": "p1"},
    "share_removed": {"post_id": "p1", "share_id": "e-share-1"},
    "comment_created": {"post_id": "p1", "comment_id": "c1", "text": "nice"},
    "comment_deleted": {"post_id": "p1", "comment_id": "c1"},
    "story_created": {"story_id": "s1", "media_id": "m1", "close_friends_only": False},
    "story_deleted": {"story_id": "s1"},
    "story_expired": {"story_id": "s1"},
    "story_viewed": {"story_id": "s1", "owner_id": "u-owner"},
    "story_view_removed": {"story_id": "s1"},
    "media_uploaded": {
        "media_id": "m1",
        "object_key": "originals/ab/cd/abcd",
        "content_type": "image/jpeg",
        "size_bytes": 1234,
    },
    "media_progress": {"media_id": "m1", "kind": "video", "variants": []},
    "media_ready": {
        "media_id": "m1",
        "kind": "photo",
        "variants": [
            {
                "name": "w320",
                "object_key": "variants/m1/w320.jpg",
                "content_type": "image/jpeg",
                "width": 320,
                "height": 240,
            }
        ],
        "placeholder": "LKO2?U%2Tw=w]~RBVZRi};RPxuwH",
    },
    "media_failed": {"media_id": "m1", "reason": "bomb: 400 MP exceeds the 50 MP limit"},
}
