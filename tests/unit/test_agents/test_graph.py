"""maintain_graph without a broker: edges, exact counts, and what each graph event causes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from agents.graph import maintain_graph
from domain.clock import now_ms
from domain.stories import LiveStory
from schemas.events import EventBase
from settings import get_settings
from tables.graph import follow_edges, follower_counts
from tests.factories import event_factory

THRESHOLD = get_settings().celebrity_threshold


def graph_event(kind: str, user_id: str, target_id: str, **fields: Any) -> EventBase:
    return event_factory(kind, user_id=user_id, target_id=target_id, **fields)


@pytest.fixture
async def graph(harness: Any) -> AsyncIterator[Any]:
    async with maintain_graph.test_context() as agent:

        async def put(kind: str, user_id: str, target_id: str, **fields: Any) -> EventBase:
            event = graph_event(kind, user_id, target_id, **fields)
            await harness.feed(agent, event, key=target_id)  # keyed by the followed user
            return event

        yield put


async def test_follow_new_edge_writes_edge_and_exact_count(graph: Any, sinks: Any) -> None:
    await graph("follow", "u1", "u2")
    assert follow_edges["u2|u1"] is True
    assert follower_counts["u2"] == 1
    (write,) = sinks.named("write_follow")
    assert write["follower_id"] == "u1" and write["followee_id"] == "u2"
    assert write["present"] is True and write["follower_count"] == 1
    assert write["celebrity"] is False


async def test_follow_duplicate_changes_no_count(graph: Any, sinks: Any) -> None:
    await graph("follow", "u1", "u2")
    await graph("follow", "u1", "u2")
    assert follower_counts["u2"] == 1
    assert [w["follower_count"] for w in sinks.named("write_follow")] == [1, 1]
    assert len(sinks.named("push_tail")) == 1  # the backfill ran for the new edge only


async def test_follow_blocked_pair_writes_nothing(graph: Any, sinks: Any) -> None:
    sinks.blocks.add(frozenset(("u1", "u2")))
    await graph("follow", "u1", "u2")
    assert sinks.writes() == []
    assert "u2|u1" not in follow_edges
    assert follower_counts["u2"] == 0


async def test_follow_self_writes_nothing(graph: Any, sinks: Any) -> None:
    await graph("follow", "u1", "u1")
    assert sinks.writes() == []
    assert follower_counts["u1"] == 0


async def test_follow_active_follower_backfills_followee_tail(graph: Any, sinks: Any) -> None:
    await graph("follow", "u1", "u2")
    assert sinks.named("push_tail") == [{"author_id": "u2", "recipients": ["u1"]}]


async def test_follow_idle_follower_gets_no_backfill(graph: Any, sinks: Any) -> None:
    sinks.idle.add("u1")
    await graph("follow", "u1", "u2")
    assert sinks.named("push_tail") == []
    assert follower_counts["u2"] == 1


async def test_follow_live_story_raises_followee_in_tray(graph: Any, sinks: Any) -> None:
    created = now_ms() - 60_000
    sinks.stories["u2"] = [LiveStory("s1", created, False), LiveStory("s2", created + 1, True)]
    await graph("follow", "u1", "u2")
    # The close-friends story is not the follower's to see.
    assert sinks.named("raise_in_tray") == [
        {"viewer_id": "u1", "author_id": "u2", "score": created}
    ]


async def test_follow_close_friend_tray_scored_by_close_friends_story(
    graph: Any, sinks: Any
) -> None:
    created = now_ms() - 60_000
    sinks.stories["u2"] = [LiveStory("s1", created, False), LiveStory("s2", created + 1, True)]
    sinks.close_friends.add(("u2", "u1"))
    await graph("follow", "u1", "u2")
    assert sinks.named("raise_in_tray")[0]["score"] == created + 1


async def test_follow_reaching_threshold_marks_celebrity_without_backfill(
    graph: Any, sinks: Any
) -> None:
    for n in range(THRESHOLD):
        await graph("follow", f"f{n}", "star")
    assert follower_counts["star"] == THRESHOLD
    assert sinks.named("write_follow")[-1]["celebrity"] is True
    assert len(sinks.named("push_tail")) == THRESHOLD - 1  # not for the follow that promoted


async def test_unfollow_existing_edge_retracts_author_and_decrements(
    graph: Any, sinks: Any
) -> None:
    await graph("follow", "u1", "u2")
    await graph("unfollow", "u1", "u2")
    assert follow_edges["u2|u1"] is False
    assert follower_counts["u2"] == 0
    assert sinks.named("retract_author") == [{"follower_id": "u1", "author_id": "u2"}]


async def test_unfollow_without_edge_changes_no_count(graph: Any, sinks: Any) -> None:
    await graph("unfollow", "u1", "u2")
    assert follower_counts["u2"] == 0
    assert "u2|u1" not in follow_edges
    assert sinks.named("retract_author") == []


async def test_unfollow_below_threshold_pushes_demoted_tail_to_active_followers(
    graph: Any, sinks: Any
) -> None:
    fans = [f"f{n}" for n in range(THRESHOLD)]
    for fan in fans:
        await graph("follow", fan, "star")
    sinks.followers["star"] = fans[1:]
    sinks.idle.add(fans[1])
    await graph("unfollow", fans[0], "star")
    assert sinks.named("write_follow")[-1]["celebrity"] is False
    demotion = sinks.named("push_tail")[-1]
    assert demotion == {"author_id": "star", "recipients": tuple(fans[2:])}


async def test_block_reissues_reverse_unfollow_keyed_by_blocker(
    graph: Any, sinks: Any, sent: Any
) -> None:
    block = await graph("block", "u1", "u2")
    assert sinks.named("write_block")[0]["blocker_id"] == "u1"
    assert sinks.named("write_block")[0]["present"] is True
    (message,) = sent.to("graph")
    assert message.key == b"u1"  # the edge u2 -> u1 lives in u1's partition
    reverse = message.event
    assert reverse.type == "unfollow"
    assert (reverse.user_id, reverse.target_id) == ("u2", "u1")  # type: ignore[attr-defined]
    assert reverse.event_id == f"{block.event_id}-reverse"
    assert reverse.occurred_at == block.occurred_at
    assert reverse.model_extra == {"cause": "block"}


async def test_block_ends_blockers_own_follow(graph: Any) -> None:
    await graph("follow", "u1", "u2")
    await graph("block", "u1", "u2")
    assert follow_edges["u2|u1"] is False
    assert follower_counts["u2"] == 0


async def test_unblock_writes_block_absent_and_sends_nothing(
    graph: Any, sinks: Any, sent: Any
) -> None:
    await graph("unblock", "u1", "u2")
    assert sinks.writes() == ["write_block"]
    assert sinks.named("write_block")[0]["present"] is False
    assert sent.messages == []


async def test_close_friend_added_raises_owners_close_friends_story_in_friend_tray(
    graph: Any, sinks: Any
) -> None:
    created = now_ms() - int(timedelta(hours=1).total_seconds() * 1000)
    sinks.stories["u1"] = [LiveStory("s1", created, True)]
    await graph("close_friend_added", "u1", "u2")
    write = sinks.named("write_close_friend")[0]
    assert (write["user_id"], write["friend_id"], write["present"]) == ("u1", "u2", True)
    assert sinks.named("raise_in_tray") == [
        {"viewer_id": "u2", "author_id": "u1", "score": created}
    ]


async def test_close_friend_removed_writes_absent_and_touches_no_tray(
    graph: Any, sinks: Any
) -> None:
    await graph("close_friend_removed", "u1", "u2")
    assert sinks.writes() == ["write_close_friend"]
    assert sinks.named("write_close_friend")[0]["present"] is False
