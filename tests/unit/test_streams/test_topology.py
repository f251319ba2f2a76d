"""The worker's topology, built as the worker builds it and checked without a broker.

``DATAFLOW`` is the topology as it reads: each agent, the topics it consumes, the topics
it produces to and the tables it writes. Importing ``agents`` registers everything on
the app; the inputs are read from each agent's channel, and the outputs and tables are
observed: one representative scenario per agent runs through its test context (the
sinks, topics and pools faked as in ``tests/unit/test_agents``), and what it sent and
changed must be what its row says. An agent without a row fails.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest

import agents
from domain.erasure import Facts
from schemas import topics as registry
from streams import topics as stream_topics
from streams.app import app, settings
from tests.factories import event_factory
from tests.unit.test_agents.conftest import (
    JPEG_HEAD,
    WEBM_HEAD,
    Harness,
    MediaFakes,
    clear_state,
    install_media,
    make_harness,
    photo_result,
    rung_step,
    table_snapshot,
    until,
    variant,
)
from tests.unit.test_agents.test_erasure import erasure_fakes, world  # noqa: F401 (autouse)

# What the deleted account of the erasure's scenario still holds: one fact per topic.
ERASED_FACTS = Facts(
    "d1",
    following=frozenset({"u2"}),
    posts=frozenset({"p1"}),
    stories=frozenset({"s1"}),
    likes=frozenset({"p2"}),
    views=frozenset({"s2"}),
)

DLQ, SKIP = "dead-letters", "skips"  # what an agent does with a message it cannot decode
# Where an account deletion's compensating events go: each to the agent owning the fact.
ERASED = "graph posts engagement stories story-views"


@dataclass(frozen=True)
class Flow:
    """One row: space-separated registry entities and table names."""

    read: str  # input topics, in the channel's order
    send: str  # topics it produces to
    write: str  # tables it changes
    bad_input: str  # DLQ: sent to the dead-letter topic (streams.codecs); SKIP: left to another

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(self.read.split())

    @property
    def sends(self) -> set[str]:
        return set(self.send.split())

    @property
    def writes(self) -> set[str]:
        return set(self.write.split())


# fmt: off
DATAFLOW: dict[str, Flow] = {
    # agent                                     reads                     sends             writes                                                   bad input
    "agents.users.track_users":            Flow("users",                  "",               "",                                                      DLQ),
    "agents.erasure.erase_accounts":       Flow("users",                  ERASED,           "",                                                      SKIP),
    "agents.graph.maintain_graph":         Flow("graph",                  "graph",          "follow_edges follower_counts",                          DLQ),
    "agents.posts.forward_media_results":  Flow("media",                  "media-by-owner", "",                                                      SKIP),
    "agents.posts.track_posts":            Flow("posts media-by-owner",   "",               "post_records media_outcomes",                           DLQ),
    "agents.engagement.index_posts_by_id": Flow("posts",                  "posts-by-id",    "",                                                      SKIP),
    "agents.engagement.count_engagement":  Flow("engagement posts-by-id", "",               "engagement_marks post_lifecycle",                       DLQ),
    "agents.stories.fan_out_stories":      Flow("stories",                "",               "author_stories",                                        DLQ),
    "agents.stories.record_story_views":   Flow("story-views",            "",               "story_first_views story_view_counts",                   DLQ),
    "agents.trending.route_hashtags":      Flow("posts",                  "hashtags",       "post_hashtags",                                         SKIP),
    "agents.trending.count_hashtags":      Flow("hashtags",               "",               "tag_user_uses",                                         DLQ),
    "agents.search.index_users":           Flow("users graph",            "",               "search_names",                                          SKIP),
    "agents.search.index_hashtags":        Flow("hashtags",               "",               "search_tag_marks",                                      SKIP),
    "agents.media.project_media":          Flow("media",                  "",               "",                                                      DLQ),
    "agents.media.process_photos":         Flow("media",                  "media",          "",                                                      SKIP),
    "agents.media.process_reels":          Flow("media",                  "media",          "",                                                      SKIP),
}
# fmt: on
# The graph agent's send is a block's reverse unfollow, keyed by the blocker; the media
# agents' sends are their results (media_progress, media_ready, media_failed); the
# erasure's are the undos of a deleted account's facts. The DLQ is written by
# streams.codecs on behalf of the agents marked DLQ.


# --- one representative scenario per agent -------------------------------------------


@dataclass(frozen=True)
class Step:
    value: bytes
    key: str
    handled: bool = True  # reaches a handler (process_or_dead_letter)
    committed: bool = False  # batched: wait until its batch is committed and acked


def step(kind: str, key: str, **fields: Any) -> Step:
    return Step(event_factory(kind, **fields).to_json(), key)


def raw_step(kind: str, key: str, **fields: Any) -> Step:
    return Step(event_factory(kind, **fields).to_json(), key, handled=False)


def batched_step(kind: str, key: str, **fields: Any) -> Step:
    return Step(event_factory(kind, **fields).to_json(), key, handled=False, committed=True)


def hashtag_copy() -> Step:
    post = event_factory("post_created", user_id="a1", post_id="p1", caption="#sun", media=[])
    body = {**post.model_dump(mode="json"), "tag": "sun", "author_id": "a1"}
    value = orjson.dumps({**body, "created_ms": post.occurred_ms})
    return Step(value, "sun", handled=False, committed=True)


def scenario(agent: str, media: MediaFakes, tmp_path: Path) -> list[Step]:
    post = {"user_id": "a1", "post_id": "p1", "caption": "", "media": []}
    if agent == "agents.media.process_photos":
        media.store.objects["originals/m1"] = JPEG_HEAD
    if agent == "agents.media.process_reels":
        media.store.objects["originals/m1"] = WEBM_HEAD
        media.reel_pool.steps = [rung_step(tmp_path, "360p", 640, 360)]
    upload = {"user_id": "a1", "media_id": "m1", "object_key": "originals/m1"}
    scenarios: dict[str, list[Step]] = {
        "agents.users.track_users": [batched_step("profile_updated", "u1", user_id="u1")],
        "agents.erasure.erase_accounts": [step("account_deleted", "d1", user_id="d1")],
        "agents.graph.maintain_graph": [
            step("follow", "u2", user_id="u1", target_id="u2"),
            step("block", "u2", user_id="u1", target_id="u2"),
        ],
        "agents.posts.forward_media_results": [raw_step("media_ready", "m1", user_id="a1")],
        "agents.posts.track_posts": [
            batched_step(
                "post_created", "a1", **{**post, "media": [{"media_id": "m1", "kind": "photo"}]}
            ),
            batched_step("media_ready", "a1", user_id="a1", media_id="m1"),
        ],
        "agents.engagement.index_posts_by_id": [raw_step("post_created", "a1", **post)],
        "agents.engagement.count_engagement": [
            batched_step("post_created", "p1", **post),
            batched_step("like", "p1", user_id="u1", post_id="p1"),
        ],
        "agents.stories.fan_out_stories": [batched_step("story_created", "a1", user_id="a1")],
        "agents.stories.record_story_views": [batched_step("story_viewed", "s1", user_id="v1")],
        "agents.trending.route_hashtags": [
            batched_step("post_created", "a1", **{**post, "caption": "#sun"})
        ],
        "agents.trending.count_hashtags": [hashtag_copy()],
        "agents.search.index_users": [batched_step("profile_updated", "u1", user_id="u1")],
        "agents.search.index_hashtags": [hashtag_copy()],
        "agents.media.project_media": [batched_step("media_uploaded", "m1", **upload)],
        "agents.media.process_photos": [step("media_uploaded", "m1", **upload)],
        "agents.media.process_reels": [
            step("media_uploaded", "m1", **upload, content_type="video/webm")
        ],
    }
    return scenarios[agent]


@dataclass
class Observed:
    sends: set[str]
    writes: set[str]


class Runner:
    """Runs messages through one agent's test context and observes what changes."""

    def __init__(self, harness: Harness, media: MediaFakes, tmp_path: Path) -> None:
        self.harness, self.media, self.tmp_path = harness, media, tmp_path

    async def scenario(self, name: str) -> Observed:
        writes: set[str] = set()
        async with app.agents[name].test_context() as agent:
            for s in scenario(name, self.media, self.tmp_path):
                before = table_snapshot()
                put = await self.harness.feed(agent, s.value, key=s.key, handled=s.handled)
                if s.committed:
                    await until(lambda put=put: put.message.acked, what="the batch's commit")
                after = table_snapshot()
                writes |= {t for t in after if after[t] != before[t]}
        return Observed(self.harness.sent.topics(), writes)

    async def undecodable(self, name: str) -> list[str]:
        """The DLQ letters (their stages) one undecodable message to this agent causes."""
        async with app.agents[name].test_context() as agent:
            put = await self.harness.feed(agent, b"{not json", key="k1", handled=False)
            if not agent.stream().enable_acks:  # batched: dead-lettered at the commit
                await until(lambda: put.message.acked, what="the batch's commit")
        return [m.letter.stage for m in self.harness.sent.to("dlq")]


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runner]:
    clear_state()
    harness = make_harness(monkeypatch)
    media = install_media(monkeypatch, tmp_path / "media-work")
    media.photo_pool.answer = photo_result(variant("w320", 320, 213))
    world(harness.sinks).facts["d1"] = ERASED_FACTS
    yield Runner(harness, media, tmp_path)
    clear_state()


def entity(topic_name: str) -> str:
    return topic_name.removeprefix(f"{settings.namespace}.")


def inputs_of(agent: Any) -> tuple[str, ...]:
    return tuple(entity(t) for t in agent.channel.topics)


def bindings() -> dict[str, faust.TopicT]:
    return {n: t for n, t in vars(stream_topics).items() if isinstance(t, faust.types.TopicT)}


# --- the checks ------------------------------------------------------------------------


def test_topology_every_agent_has_a_dataflow_row() -> None:
    assert agents.__all__  # importing the package registered every agent
    assert set(app.agents) == set(DATAFLOW)


@pytest.mark.parametrize("name", sorted(DATAFLOW))
def test_topology_agent_reads_its_rows_input_topics(name: str) -> None:
    assert inputs_of(app.agents[name]) == DATAFLOW[name].reads


@pytest.mark.parametrize("name", sorted(DATAFLOW))
async def test_topology_agent_sends_and_writes_what_its_row_says(name: str, runner: Runner) -> None:
    observed = await runner.scenario(name)
    assert observed.sends == DATAFLOW[name].sends
    assert observed.writes == DATAFLOW[name].writes


@pytest.mark.parametrize("name", sorted(DATAFLOW))
async def test_topology_agent_dead_letters_undecodable_input_as_its_row_says(
    name: str, runner: Runner
) -> None:
    letters = await runner.undecodable(name)
    assert letters == (["validate"] if DATAFLOW[name].bad_input == DLQ else [])


def test_topology_every_event_topic_has_an_agent_dead_lettering_bad_input() -> None:
    for spec in registry.EVENT_TOPICS:
        readers = [n for n, flow in DATAFLOW.items() if spec.entity in flow.reads]
        assert any(DATAFLOW[n].bad_input == DLQ for n in readers), spec.entity


def test_topology_every_registry_topic_bound_once_with_its_partitions() -> None:
    single = [t for t in bindings().values() if len(t.topics) == 1]
    for spec in registry.all_topics():
        bound = [t for t in single if t.topics == (spec.name(settings.namespace),)]
        assert len(bound) == 1, f"{spec.entity} is bound {len(bound)} times"
        assert bound[0].partitions == spec.partitions, spec.entity


def test_topology_every_registry_topic_read_or_written() -> None:
    read = {t for flow in DATAFLOW.values() for t in flow.reads}
    written = {t for flow in DATAFLOW.values() for t in flow.sends}
    if any(flow.bad_input == DLQ for flow in DATAFLOW.values()):
        written.add(registry.DLQ.entity)  # by streams.codecs
    for spec in (*registry.EVENT_TOPICS, *registry.DERIVED_TOPICS, registry.DLQ):
        assert spec.entity in read | written, f"{spec.entity} is neither read nor written"
    # A derived topic is the worker's own: some agent writes it and some agent reads it.
    for spec in registry.DERIVED_TOPICS:
        assert spec.entity in read and spec.entity in written, spec.entity


def test_topology_every_table_written_by_exactly_one_agent() -> None:
    writers = Counter(t for flow in DATAFLOW.values() for t in flow.writes)
    assert writers == Counter(set(app.tables))


@pytest.mark.parametrize("name", sorted(n for n, f in DATAFLOW.items() if f.writes))
def test_topology_tables_co_partitioned_with_their_writers_inputs(name: str) -> None:
    flow = DATAFLOW[name]
    counts = {registry.by_entity(t).partitions for t in flow.reads}
    for table in flow.writes:
        assert {app.tables[table].partitions} == counts, (name, table)


def test_topology_joined_topics_co_partitioned() -> None:
    joined = [t for t in bindings().values() if len(t.topics) > 1]
    assert joined  # posts+media results, engagement+post lifecycle
    for topic in joined:
        specs = [registry.by_entity(entity(name)) for name in topic.topics]
        assert len({spec.partitions for spec in specs}) == 1, topic.topics
        assert len({spec.key_field for spec in specs}) == 1, topic.topics  # same key
