"""A post's life without I/O: waiting for its media, ready, failed or deleted.

The posts agent keeps one record per post in a Faust table and asks these functions
what a new event changes. Every state write carries a ``version`` (microseconds) that
only grows, so Cassandra's last-write-wins and Redis's newer-only writes converge on
the latest state whatever order the sinks replay in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROCESSING = "processing"
READY = "ready"
FAILED = "failed"
DELETED = "deleted"


def media_verdict(
    media_ids: Sequence[str], outcomes: Mapping[str, Mapping[str, Any]]
) -> tuple[str, str | None]:
    """(state, reason) of a post from its media outcomes; no media is ready at once."""
    for media_id in media_ids:
        outcome = outcomes.get(media_id)
        if outcome is not None and outcome.get("state") == FAILED:
            return FAILED, f"media {media_id} failed: {outcome.get('reason') or 'unknown'}"
    if all((outcomes.get(m) or {}).get("state") == READY for m in media_ids):
        return READY, None
    return PROCESSING, None


@dataclass(frozen=True)
class Transition:
    record: dict[str, Any]  # the table value after the event
    changed: bool  # the state or version moved: write the sinks
    count_delta: int  # change of the author's post count
    # False for a tombstone of a post this author's partition never saw: kept in the
    # table (a late creation stays deleted) but not projected, because the post may be
    # someone else's, and only its author deletes it.
    projected: bool = True


def on_created(
    existing: Mapping[str, Any] | None,
    *,
    author_id: str,
    created_ms: int,
    media_ids: Sequence[str],
    outcomes: Mapping[str, Mapping[str, Any]],
    version: int,
) -> Transition:
    """A post_created; a duplicate changes nothing, and a tombstone is never revived."""
    if existing is not None:
        return Transition(dict(existing), changed=False, count_delta=0)
    state, reason = media_verdict(media_ids, outcomes)
    record = {
        "author_id": author_id,
        "created_ms": created_ms,
        "media": list(media_ids),
        "state": state,
        "reason": reason,
        "version": version,
    }
    return Transition(record, changed=True, count_delta=1)


def on_media_outcome(
    existing: Mapping[str, Any], outcomes: Mapping[str, Mapping[str, Any]], *, version: int
) -> Transition:
    """Re-decide a waiting post once one of its media is ready or failed."""
    if existing["state"] != PROCESSING:
        return Transition(dict(existing), changed=False, count_delta=0)
    state, reason = media_verdict(existing["media"], outcomes)
    if state == PROCESSING:
        return Transition(dict(existing), changed=False, count_delta=0)
    record = {
        **existing,
        "state": state,
        "reason": reason,
        "version": max(version, int(existing["version"]) + 1),
    }
    return Transition(record, changed=True, count_delta=0)


def on_deleted(existing: Mapping[str, Any] | None, *, author_id: str, version: int) -> Transition:
    """A post_deleted leaves a tombstone; deleting twice or before creation is harmless."""
    if existing is not None and existing["state"] == DELETED:
        return Transition(dict(existing), changed=False, count_delta=0)
    if existing is None:
        record = {
            "author_id": author_id,
            "created_ms": 0,
            "media": [],
            "state": DELETED,
            "reason": None,
            "version": version,
        }
        return Transition(record, changed=True, count_delta=0, projected=False)
    record = {
        **existing,
        "state": DELETED,
        "reason": None,
        "version": max(version, int(existing["version"]) + 1),
    }
    return Transition(record, changed=True, count_delta=-1)


# --- what a record implies (derived indexes, rebuilt from the records after recovery) ----


def counts_as_post(record: Mapping[str, Any]) -> bool:
    """A record in its author's post count: anything but a tombstone."""
    return record.get("state") != DELETED


def awaited_media(record: Mapping[str, Any], outcomes: Mapping[str, Any]) -> list[str]:
    """The media a waiting post still needs an outcome of (none for any other state)."""
    if record.get("state") != PROCESSING:
        return []
    return [m for m in record.get("media") or () if not outcomes.get(m)]
