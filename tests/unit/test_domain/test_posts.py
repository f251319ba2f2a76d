from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.posts import (
    DELETED,
    FAILED,
    PROCESSING,
    READY,
    media_verdict,
    on_created,
    on_deleted,
    on_media_outcome,
)


def created(media: list[str], outcomes: dict | None = None, existing: dict | None = None):  # type: ignore[no-untyped-def]
    return on_created(
        existing,
        author_id="a",
        created_ms=1000,
        media_ids=media,
        outcomes=outcomes or {},
        version=10,
    )


def test_post_without_media_is_ready_at_once() -> None:
    t = created([])
    assert t.record["state"] == READY and t.changed and t.count_delta == 1


def test_post_waits_for_every_medium_and_a_failure_names_the_reason() -> None:
    t = created(["m1", "m2"], {"m1": {"state": "ready"}})
    assert t.record["state"] == PROCESSING
    t2 = on_media_outcome(t.record, {"m1": {"state": "ready"}, "m2": {"state": "ready"}}, version=5)
    assert t2.record["state"] == READY and t2.record["version"] == 11  # versions only grow
    t3 = on_media_outcome(t.record, {"m2": {"state": "failed", "reason": "bomb"}}, version=50)
    assert t3.record["state"] == FAILED and "bomb" in t3.record["reason"]
    assert media_verdict(["m"], {}) == (PROCESSING, None)


def test_duplicates_and_tombstones_change_nothing() -> None:
    t = created([])
    assert not created([], existing=t.record).changed
    d = on_deleted(t.record, author_id="a", version=5)
    assert d.record["state"] == DELETED and d.count_delta == -1 and d.record["version"] > 10
    assert not on_deleted(d.record, author_id="a", version=99).changed
    revived = created([], existing=d.record)
    assert revived.record["state"] == DELETED and revived.count_delta == 0
    early = on_deleted(None, author_id="a", version=5)
    assert early.record["state"] == DELETED and early.count_delta == 0
    assert not on_media_outcome(d.record, {}, version=100).changed


@given(st.permutations(["create", "ready", "delete", "create", "ready"]))
def test_any_order_with_duplicates_ends_deleted_with_zero_posts(order: list[str]) -> None:
    record, count = None, 0
    outcomes: dict = {}
    for step in order:
        if step == "create":
            t = on_created(
                record, author_id="a", created_ms=1, media_ids=["m"], outcomes=outcomes, version=1
            )
        elif step == "delete":
            t = on_deleted(record, author_id="a", version=3)
        else:
            outcomes = {"m": {"state": "ready"}}
            if record is None:
                continue
            t = on_media_outcome(record, outcomes, version=2)
        record, count = t.record, count + t.count_delta
    assert record is not None and record["state"] == DELETED and count == 0
