"""Every table's values survive a restart: written and read back exactly as recovery does.

A worker that restarts rebuilds each table from its changelog topic through Faust's own
serializer registry. A value type that registry cannot load (``bool`` once did) makes
recovery fail on the first record and the worker wait forever, so every declared table
must appear here with a real value, and a new table without one fails the suite.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from faust.types import Message

import agents  # noqa: F401  (registers every agent and table with the app)
from domain.engagement import LIVE, apply
from domain.posts import on_created
from domain.search import GONE_POST, LIVE_POST, NameEntry
from domain.stories import LiveStory
from domain.trending import add_use
from streams.app import app

NOW_MS = 1_780_000_000_000

_mark = apply(None, present=True, ms=NOW_MS, event_id="e1")
assert _mark is not None
_tied = apply(_mark.mark, present=False, ms=NOW_MS, event_id="e2")
assert _tied is not None
_post = on_created(
    None, author_id="u1", created_ms=NOW_MS, media_ids=["m1"], outcomes={}, version=NOW_MS * 1000
).record

# table name -> (key, value) as the agents write them.
EXAMPLES: dict[str, list[tuple[Any, Any]]] = {
    "follow_edges": [("u1|u2", True), ("u1|u3", False)],
    "follower_counts": [("u1", 3)],
    "post_records": [("p1", _post)],
    "media_outcomes": [("m1", {"state": "ready", "reason": None})],
    "engagement_marks": [
        (("p1", "l", "u1"), _mark.mark.to_json()),
        (("p1", "l", "u2"), _tied.mark.to_json()),
    ],
    "post_lifecycle": [("p1", [LIVE, NOW_MS])],
    "author_stories": [
        ("u1", [LiveStory("s1", NOW_MS, True).to_row()]),
        ("u2", [[*LiveStory("s2", NOW_MS, False).to_row(), "m2"]]),  # with its media id
    ],
    "story_first_views": [(("s1", "u2"), NOW_MS)],
    "story_view_counts": [("s1", 4)],
    "post_hashtags": [
        ("p1", {"tags": ["café"], "author_id": "u1", "created_ms": NOW_MS}),
        ("p2", {"deleted": True}),
    ],
    "tag_user_uses": [(("café", "u1"), add_use({}, "p1", NOW_MS, NOW_MS))],
    "search_names": [
        ("u1", NameEntry(NOW_MS, "ada", "Ada Lovelace").to_json()),
        ("u2", NameEntry(NOW_MS, deleted=True).to_json()),
    ],
    "search_tag_marks": [("café\x1fp1", LIVE_POST), ("café\x1fp2", GONE_POST)],
}

# Tables whose records the batched changelog writer encodes itself (orjson), not Faust.
BATCH_WRITTEN = {"engagement_marks", "post_lifecycle", "search_names", "search_tag_marks"}


def _message(table: Any, key: bytes | None, value: bytes | None) -> Message:
    return Message(
        table.changelog_topic.get_topic_name(),
        3,
        17,
        0.0,
        0,
        {},
        key,
        value,
        None,
    )


def _json(value: Any) -> Any:
    """What a JSON round trip makes of a value (tuples become lists)."""
    return orjson.loads(orjson.dumps(value))


def test_every_declared_table_has_an_example() -> None:
    assert set(app.tables) == set(EXAMPLES), "add the new table's values to EXAMPLES"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_table_values_round_trip_through_the_changelog(name: str) -> None:
    table = app.tables[name]
    topic = table.changelog_topic
    for key, value in EXAMPLES[name]:
        if name in BATCH_WRITTEN:
            raw_key, raw_value = orjson.dumps(key), orjson.dumps(value)
        else:
            raw_key, _ = topic.prepare_key(key, table.key_serializer)
            raw_value, _ = topic.prepare_value(value, table.value_serializer)
        # Recovery: the changelog topic decodes, then the store converts (tables.base).
        event = await topic.decode(_message(table, raw_key, raw_value), propagate=True)
        assert table._to_key(event.key) == key
        assert _json(table._to_value(event.value)) == _json(value)
