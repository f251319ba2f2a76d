"""THE topic registry: every topic's name, key, partition count and event types.

Each topic is keyed by the entity whose state its events change (likes by post,
follows by followee, posts by author, story views by story), so all events for one
entity land in one partition, in order. Topics that are joined through a table share
a partition count. ``streams/topics.py`` and ``clients/kafka.py`` only read these
specs; no topic name is spelled anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.events import EVENT_TYPES, EventBase

# One count for every co-partitioned topic: tables keyed by user or post join across them.
PARTITIONS = 8


@dataclass(frozen=True)
class TopicSpec:
    entity: str
    key_field: str
    event_types: tuple[str, ...]
    partitions: int = PARTITIONS
    description: str = ""
    internal: bool = False  # written only by the system (derived topics)
    # Kafka topic configs, e.g. retention; compaction is never used for event logs.
    configs: dict[str, str] = field(default_factory=dict)

    def name(self, namespace: str) -> str:
        return f"{namespace}.{self.entity}"

    def key_for(self, event: EventBase) -> str:
        return str(getattr(event, self.key_field))


USERS = TopicSpec(
    "users",
    "user_id",
    ("profile_updated", "account_deleted", "feed_opened"),
    description="profile changes, account deletions and feed openings, by user",
)
GRAPH = TopicSpec(
    "graph",
    "target_id",
    (
        "follow",
        "unfollow",
        "block",
        "unblock",
        "close_friend_added",
        "close_friend_removed",
        "mute",
        "unmute",
        "follow_requested",
        "follow_request_cancelled",
        "follow_request_approved",
        "follow_request_denied",
    ),
    # Requests are keyed by the account asked; an approval or denial (by that account)
    # by the requester, and an approval re-issues the follow keyed by the account.
    description="follows, requests, blocks, mutes and close friends, by target user",
)
POSTS = TopicSpec(
    "posts", "user_id", ("post_created", "post_deleted"), description="posts, by author"
)
ENGAGEMENT = TopicSpec(
    "engagement",
    "post_id",
    (
        "like",
        "unlike",
        "save",
        "unsave",
        "share",
        "share_removed",
        "comment_created",
        "comment_deleted",
    ),
    description="likes, saves, shares and comments, by post",
)
STORIES = TopicSpec(
    "stories",
    "user_id",
    ("story_created", "story_deleted", "story_expired"),
    description="stories, by author",
)
STORY_VIEWS = TopicSpec(
    "story-views",
    "story_id",
    ("story_viewed", "story_view_removed"),
    description="story views and withdrawn receipts, by story",
)
MEDIA = TopicSpec(
    "media",
    "media_id",
    ("media_uploaded", "media_progress", "media_ready", "media_failed"),
    description="uploads and their processing results, by media",
)

# Topics producers write to (and the worker consumes), in dataflow order.
EVENT_TOPICS: tuple[TopicSpec, ...] = (USERS, GRAPH, POSTS, ENGAGEMENT, STORIES, STORY_VIEWS, MEDIA)

# Where undecodable or invalid messages go, with the reason and their origin.
DLQ = TopicSpec(
    "dlq",
    "source key",
    (),
    partitions=1,
    description="messages that failed to decode, validate or process",
    internal=True,
)

TOPIC_FOR_TYPE: dict[str, TopicSpec] = {t: spec for spec in EVENT_TOPICS for t in spec.event_types}

# Every event type has exactly one home.
assert set(TOPIC_FOR_TYPE) == set(EVENT_TYPES), set(EVENT_TYPES) ^ set(TOPIC_FOR_TYPE)

# Posts re-keyed by hashtag: one copy of post_created/post_deleted per tag of the post,
# with the tag added as a field, so each tag's distinct-user state lives in one partition.
HASHTAGS = TopicSpec(
    "hashtags",
    "tag",
    ("post_created", "post_deleted"),
    description="posts re-keyed by hashtag (one message per tag), for trending",
    internal=True,
)

# Derived topics: agents re-key through these (explicit, never auto-named repartitions).
# media_ready/media_failed re-keyed by their owner, co-partitioned with posts (by author),
# so a post and the media it waits for meet in one partition of the posts agent.
MEDIA_BY_OWNER = TopicSpec(
    "media-by-owner",
    "user_id",
    ("media_ready", "media_failed"),
    description="media results re-keyed by owner, for posts waiting on their media",
    internal=True,
)

# post_created/post_deleted re-keyed by post, co-partitioned with engagement, so the
# counters know which posts are live and never count likes on unknown or deleted ones.
POSTS_BY_ID = TopicSpec(
    "posts-by-id",
    "post_id",
    ("post_created", "post_deleted"),
    description="post lifecycle re-keyed by post, for the engagement counters",
    internal=True,
)

DERIVED_TOPICS: tuple[TopicSpec, ...] = (
    HASHTAGS,
    MEDIA_BY_OWNER,
    POSTS_BY_ID,
)


def all_topics() -> tuple[TopicSpec, ...]:
    return (*EVENT_TOPICS, *DERIVED_TOPICS, DLQ)


def topic_for(event: EventBase) -> TopicSpec:
    return TOPIC_FOR_TYPE[event.type]


def by_entity(entity: str) -> TopicSpec:
    for spec in all_topics():
        if spec.entity == entity:
            return spec
    raise KeyError(entity)
