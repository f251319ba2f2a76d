"""The synthetic workload: valid events, power-law followers, the same events for the same seed."""

from __future__ import annotations

from collections import Counter

import pytest

from schemas.events import parse_event
from simulator.workload import Workload, parse_mix


def test_workload_events_are_all_valid_and_reference_existing_things() -> None:
    workload = Workload(users=50, seed=3)
    events = [*workload.bootstrap(), *workload.events(1500)]
    posts = set()
    for data in events:
        event = parse_event(data, fill_defaults=True)
        if event.type == "post_created":
            posts.add(event.post_id)  # type: ignore[attr-defined]
        elif event.type in ("like", "comment_created", "save", "share"):
            assert event.post_id in posts  # type: ignore[attr-defined]


def test_follower_counts_are_skewed_like_a_power_law() -> None:
    workload = Workload(users=400, seed=1, follows_per_user=15)
    followers = Counter(e["target_id"] for e in workload.bootstrap() if e["type"] == "follow")
    counts = sorted(followers.values(), reverse=True)
    top, median = counts[0], counts[len(counts) // 2]
    assert top >= 20 * median  # a few celebrities, a long tail


def test_same_seed_same_workload() -> None:
    def run() -> list[dict[str, object]]:
        w = Workload(users=30, seed=9, start=Workload().start.replace(microsecond=0))
        return [
            {k: v for k, v in e.items() if k != "occurred_at"}
            for e in [*w.bootstrap(), *w.events(300)]
        ]

    assert run() == run()


def test_mix_parsing_names_unknown_kinds() -> None:
    assert parse_mix("post=5,like=60") == {"post": 5.0, "like": 60.0}
    with pytest.raises(ValueError, match="unknown event kind 'poke'"):
        parse_mix("poke=1")


def test_celebrities_get_at_least_the_requested_followers() -> None:
    workload = Workload(
        users=120, seed=5, follows_per_user=3, celebrities=2, celebrity_followers=90
    )
    followers = Counter(e["target_id"] for e in workload.bootstrap() if e["type"] == "follow")
    assert followers["u0"] >= 90 and followers["u1"] >= 90
    pairs = [
        (e["user_id"], e["target_id"])
        for e in Workload(users=120, seed=5, celebrities=2, celebrity_followers=90).bootstrap()
        if e["type"] == "follow"
    ]
    assert len(pairs) == len(set(pairs))  # never the same follow twice
