"""maintain_graph without a broker: edges, exact counts, follow requests, mutes, and what
each graph event causes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

import agents.graph
import agents.users
from agents.graph import maintain_graph
from domain.clock import now_ms, to_ms
from domain.graph import FollowFacts
from domain.stories import LiveStory
from schemas.events import EventBase
from settings import get_settings
from tables.graph import follow_edges, follower_counts
from tests.factories import event_factory
from tests.unit.test_agents.conftest import NO_CONNECTIONS, Call, FakeSinks, Harness

THRESHOLD = get_settings().celebrity_threshold


def graph_event(kind: str, user_id: str, target_id: str, **fields: Any) -> EventBase:
    return event_factory(kind, user_id=user_id, target_id=target_id, **fields)


@dataclass
class GraphFacts:
    """The graph sink's requests and mutes, faked beside ``FakeSinks`` (which keeps the
    blocks): private accounts, pending requests (owner -> requester -> ms), mutes."""

    sinks: FakeSinks
    private: set[str] = field(default_factory=set)
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    mutes: set[tuple[str, str]] = field(default_factory=set)  # (muter, muted)

    READS = frozenset({"read_follow_facts", "read_follow_requests"})

    def _record(self, name: str, conn: Any, *args: Any, **kwargs: Any) -> None:
        assert conn is NO_CONNECTIONS, "agents pass sinks.connections to every sink"
        self.sinks.calls.append(Call(name, args, kwargs))

    async def read_follow_facts(self, conn: Any, follower_id: str, followee_id: str) -> FollowFacts:
        self._record("read_follow_facts", conn, follower_id, followee_id)
        return FollowFacts(
            hidden=frozenset((follower_id, followee_id)) in self.sinks.blocks,
            private=followee_id in self.private,
            requested=follower_id in self.requests.get(followee_id, {}),
        )

    async def write_follow_request(
        self, conn: Any, *, owner_id: str, requester_id: str, present: bool, requested_at: datetime
    ) -> None:
        self._record(
            "write_follow_request",
            conn,
            owner_id=owner_id,
            requester_id=requester_id,
            present=present,
            requested_at=requested_at,
        )
        pending = self.requests.setdefault(owner_id, {})
        if present:
            pending.setdefault(requester_id, to_ms(requested_at))
        else:
            pending.pop(requester_id, None)

    async def read_follow_requests(self, conn: Any, owner_id: str) -> list[str]:
        self._record("read_follow_requests", conn, owner_id)
        pending = self.requests.get(owner_id, {})
        return sorted(pending, key=lambda r: (pending[r], r))

    async def write_mute(
        self, conn: Any, *, user_id: str, muted_id: str, present: bool, occurred_at: datetime
    ) -> None:
        self._record(
            "write_mute",
            conn,
            user_id=user_id,
            muted_id=muted_id,
            present=present,
            occurred_at=occurred_at,
        )
        if present:
            self.mutes.add((user_id, muted_id))
        else:
            self.mutes.discard((user_id, muted_id))


def install_graph_facts(monkeypatch: pytest.MonkeyPatch, harness: Harness) -> GraphFacts:
    """The graph sink functions ``FakeSinks`` lacks, into the agents' fake ``sinks.graph``."""
    facts = GraphFacts(harness.sinks)
    monkeypatch.setattr(harness.sinks, "READS", FakeSinks.READS | GraphFacts.READS, raising=False)
    for module in (agents.graph, agents.users):
        for name in ("read_follow_facts", "write_follow_request", "read_follow_requests"):
            monkeypatch.setattr(module.graph_sink, name, getattr(facts, name), raising=False)
        monkeypatch.setattr(module.graph_sink, "write_mute", facts.write_mute, raising=False)
    return facts


@pytest.fixture
def facts(monkeypatch: pytest.MonkeyPatch, harness: Harness) -> GraphFacts:
    return install_graph_facts(monkeypatch, harness)


@pytest.fixture
async def graph(harness: Any, facts: GraphFacts) -> AsyncIterator[Any]:
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


# --- follow requests --------------------------------------------------------------------


async def test_follow_private_account_becomes_pending_request(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    facts.private.add("owner")
    follow = await graph("follow", "fan", "owner")
    assert sinks.writes() == ["write_follow_request"]
    (request,) = sinks.named("write_follow_request")
    assert request == {
        "owner_id": "owner",
        "requester_id": "fan",
        "present": True,
        "requested_at": follow.occurred_at,
    }
    assert "owner|fan" not in follow_edges
    assert follower_counts["owner"] == 0


async def test_follow_requested_public_account_follows_at_once(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    await graph("follow_requested", "fan", "pub")
    assert follow_edges["pub|fan"] is True
    assert follower_counts["pub"] == 1
    assert sinks.named("write_follow_request") == []
    assert sinks.named("push_tail") == [{"author_id": "pub", "recipients": ["fan"]}]


async def test_follow_requested_private_account_replayed_keeps_one_request(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    facts.private.add("owner")
    first = await graph("follow_requested", "fan", "owner")
    await graph("follow_requested", "fan", "owner")
    assert facts.requests == {"owner": {"fan": first.occurred_ms}}
    assert sinks.named("write_follow") == []
    assert follower_counts["owner"] == 0


async def test_follow_requested_blocked_or_self_records_nothing(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    facts.private.update({"owner", "fan"})
    sinks.blocks.add(frozenset(("fan", "owner")))
    await graph("follow_requested", "fan", "owner")
    await graph("follow_requested", "fan", "fan")
    assert sinks.writes() == []
    assert facts.requests == {}


async def test_follow_private_account_by_follower_stays_a_follow(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    await graph("follow", "fan", "owner")
    facts.private.add("owner")  # going private keeps the followers it has
    await graph("follow", "fan", "owner")
    await graph("follow_requested", "fan", "owner")
    assert follow_edges["owner|fan"] is True
    assert follower_counts["owner"] == 1
    assert sinks.named("write_follow_request") == []


async def test_approved_follow_of_private_account_follows_and_clears_request(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    facts.private.add("owner")
    await graph("follow_requested", "fan", "owner")
    await graph("follow", "fan", "owner", cause="approved")
    assert follow_edges["owner|fan"] is True
    assert follower_counts["owner"] == 1
    assert [w["present"] for w in sinks.named("write_follow_request")] == [True, False]
    assert facts.requests == {"owner": {}}
    assert sinks.writes()[-1] == "write_follow_request"  # cleared once the edge stood


async def test_approval_of_pending_request_reissues_follow_keyed_by_owner(
    graph: Any, sinks: Any, sent: Any, facts: GraphFacts
) -> None:
    facts.private.add("owner")
    facts.requests["owner"] = {"fan": 1}
    approval = await graph("follow_request_approved", "owner", "fan")  # keyed by the requester
    (message,) = sent.to("graph")
    assert message.key == b"owner"  # the edge fan -> owner lives in the owner's partition
    follow = message.event
    assert follow.type == "follow"
    assert (follow.user_id, follow.target_id) == ("fan", "owner")  # type: ignore[attr-defined]
    assert follow.event_id == f"{approval.event_id}-follow"
    assert follow.occurred_at == approval.occurred_at
    assert follow.model_extra == {"cause": "approved"}
    assert sinks.writes() == []  # the follow itself removes the request, once it stands


async def test_approved_follow_fans_out_owner_posts_and_stories_to_new_follower(
    graph: Any, sinks: Any, sent: Any, harness: Any, facts: GraphFacts
) -> None:
    created = now_ms() - 60_000
    sinks.stories["owner"] = [LiveStory("s1", created, False)]
    facts.private.add("owner")
    await graph("follow_requested", "fan", "owner")
    await graph("follow_request_approved", "owner", "fan")
    (message,) = sent.to("graph")
    async with maintain_graph.test_context() as agent:
        await harness.feed(agent, message.value, key="owner")
    assert follow_edges["owner|fan"] is True
    assert sinks.named("push_tail") == [{"author_id": "owner", "recipients": ["fan"]}]
    assert sinks.named("raise_in_tray") == [
        {"viewer_id": "fan", "author_id": "owner", "score": created}
    ]
    assert facts.requests == {"owner": {}}


async def test_approval_not_pending_or_replayed_sends_nothing(
    graph: Any, sinks: Any, sent: Any, facts: GraphFacts
) -> None:
    await graph("follow_request_approved", "owner", "fan")  # never asked (or answered)
    facts.requests["owner"] = {"fan": 1}
    approval = await graph("follow_request_approved", "owner", "fan")
    assert len(sent.to("graph")) == 1
    facts.requests["owner"] = {}  # the follow it re-issued has landed
    await graph("follow_request_approved", "owner", "fan", event_id=approval.event_id)
    assert len(sent.to("graph")) == 1
    assert sinks.writes() == []


async def test_denial_and_cancellation_remove_the_request(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    facts.requests["owner"] = {"fan": 1, "other": 2}
    await graph("follow_request_denied", "owner", "fan")  # by the owner, keyed by the requester
    await graph("follow_request_cancelled", "other", "owner")  # by the requester
    assert [
        (w["owner_id"], w["requester_id"], w["present"])
        for w in sinks.named("write_follow_request")
    ] == [
        ("owner", "fan", False),
        ("owner", "other", False),
    ]
    assert facts.requests == {"owner": {}}
    assert sinks.named("write_follow") == []


async def test_block_writes_block_which_ends_requests_and_reverse_follow(
    graph: Any, sinks: Any, sent: Any, facts: GraphFacts
) -> None:
    facts.requests["owner"] = {"fan": 1}
    await graph("block", "owner", "fan")
    # sinks.graph.write_block removes pending requests both ways (tested on real Redis).
    assert sinks.writes()[0] == "write_block"
    assert sinks.named("write_block")[0]["present"] is True
    assert [m.event.type for m in sent.to("graph")] == ["unfollow"]


# --- mutes -------------------------------------------------------------------------------


async def test_mute_writes_mute_and_keeps_follow(graph: Any, sinks: Any, facts: GraphFacts) -> None:
    await graph("follow", "fan", "author")
    mute = await graph("mute", "fan", "author")
    assert sinks.named("write_mute") == [
        {"user_id": "fan", "muted_id": "author", "present": True, "occurred_at": mute.occurred_at}
    ]
    assert follow_edges["author|fan"] is True
    assert follower_counts["author"] == 1
    assert sinks.named("retract_author") == []


async def test_unmute_of_followed_author_brings_back_posts_and_stories(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    created = now_ms() - 60_000
    sinks.stories["author"] = [LiveStory("s1", created, False)]
    await graph("follow", "fan", "author")
    await graph("mute", "fan", "author")
    await graph("unmute", "fan", "author")
    assert [w["present"] for w in sinks.named("write_mute")] == [True, False]
    assert facts.mutes == set()
    assert len(sinks.named("push_tail")) == 2  # the follow's backfill, then the unmute's
    assert len(sinks.named("raise_in_tray")) == 2


async def test_unmute_of_unfollowed_author_pushes_nothing(
    graph: Any, sinks: Any, facts: GraphFacts
) -> None:
    await graph("unmute", "fan", "author")
    assert sinks.writes() == ["write_mute"]


async def test_mute_of_oneself_writes_nothing(graph: Any, sinks: Any, facts: GraphFacts) -> None:
    await graph("mute", "u1", "u1")
    assert sinks.writes() == []
