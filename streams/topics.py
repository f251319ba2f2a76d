"""Every topic the worker reads or writes, bound once from the registry.

Values and keys stay raw bytes: validation happens once, in ``streams.codecs``, where a
message that fails can still be dead-lettered with its original bytes and origin. The
joined sources at the end read two co-partitioned topics as one stream, so a partition
of each meets in one agent (and one table partition).
"""

from __future__ import annotations

import faust

from schemas import topics as registry
from streams.app import app, settings


def bind(spec: registry.TopicSpec) -> faust.TopicT:
    return app.topic(
        spec.name(settings.namespace),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=spec.partitions,
        internal=False,
    )


def join(*specs: registry.TopicSpec) -> faust.TopicT:
    """One stream over co-partitioned topics (same key, same partition count)."""
    assert len({spec.partitions for spec in specs}) == 1, "joined topics must be co-partitioned"
    return app.topic(
        *(spec.name(settings.namespace) for spec in specs),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )


# Producers' topics, in dataflow order.
users_topic = bind(registry.USERS)
graph_topic = bind(registry.GRAPH)
posts_topic = bind(registry.POSTS)
engagement_topic = bind(registry.ENGAGEMENT)
stories_topic = bind(registry.STORIES)
story_views_topic = bind(registry.STORY_VIEWS)
media_topic = bind(registry.MEDIA)

# Derived topics: the worker re-keys through these.
posts_by_id_topic = bind(registry.POSTS_BY_ID)
hashtags_topic = bind(registry.HASHTAGS)
media_by_owner_topic = bind(registry.MEDIA_BY_OWNER)
dlq_topic = bind(registry.DLQ)

# Joined sources: a post and its media meet by author; a post's likes and its
# lifecycle meet by post.
posts_and_media_topic = join(registry.POSTS, registry.MEDIA_BY_OWNER)
engagement_sources_topic = join(registry.ENGAGEMENT, registry.POSTS_BY_ID)
