"""Binds each registry spec to a Faust topic; values and keys stay raw bytes.

Raw bytes because validation happens once, in ``streams.codecs``, where a message
that fails can still be dead-lettered with its original bytes and origin.
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


users_topic = bind(registry.USERS)
graph_topic = bind(registry.GRAPH)
posts_topic = bind(registry.POSTS)
engagement_topic = bind(registry.ENGAGEMENT)
stories_topic = bind(registry.STORIES)
story_views_topic = bind(registry.STORY_VIEWS)
media_topic = bind(registry.MEDIA)
dlq_topic = bind(registry.DLQ)
posts_by_id_topic = bind(registry.POSTS_BY_ID)
hashtags_topic = bind(registry.HASHTAGS)
