"""Exact graph state, changelog-backed, in the graph topic's partitions (by followee)."""

from __future__ import annotations

from schemas.topics import GRAPH
from streams.app import app

# "followee|follower" -> the follow edge exists; the dedupe that keeps counts exact.
# No value_type: JSON true/false round-trip, while Faust's registry cannot load ``bool``
# (it knows int, float, Decimal, str, bytes and models), which once made every restart
# hang in recovery. tests/unit/test_tables guards every table against that.
follow_edges = app.Table(
    "follow_edges",
    default=bool,
    key_type=str,
    partitions=GRAPH.partitions,
    help="followee|follower -> follows now",
)

follower_counts = app.Table(
    "follower_counts",
    default=int,
    key_type=str,
    value_type=int,
    partitions=GRAPH.partitions,
    help="user_id -> exact follower count",
)
