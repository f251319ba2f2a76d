from __future__ import annotations

from schemas.events import EVENT_TYPES, MODEL_BY_TYPE
from schemas.topics import DLQ, EVENT_TOPICS, TOPIC_FOR_TYPE, all_topics, topic_for
from tests.factories import event_factory


def test_every_event_type_has_exactly_one_topic() -> None:
    homes = [t for spec in EVENT_TOPICS for t in spec.event_types]
    assert sorted(homes) == sorted(EVENT_TYPES)


def test_every_topic_key_is_a_field_of_each_of_its_events() -> None:
    for spec in EVENT_TOPICS:
        for event_type in spec.event_types:
            assert spec.key_field in MODEL_BY_TYPE[event_type].model_fields, (
                spec.entity,
                event_type,
            )


def test_event_topics_are_co_partitioned() -> None:
    assert len({spec.partitions for spec in EVENT_TOPICS}) == 1


def test_topic_names_are_unique_and_namespaced() -> None:
    names = [spec.name("ns") for spec in all_topics()]
    assert len(names) == len(set(names))
    assert all(name.startswith("ns.") for name in names)
    assert DLQ.name("photostream") == "photostream.dlq"


def test_keys_follow_the_entity_the_event_changes() -> None:
    like = event_factory("like", post_id="p9")
    assert topic_for(like).key_for(like) == "p9"
    follow = event_factory("follow", user_id="a", target_id="b")
    assert topic_for(follow).key_for(follow) == "b"  # follows by followee
    post = event_factory("post_created", user_id="author")
    assert topic_for(post).key_for(post) == "author"  # posts by author
    view = event_factory("story_viewed", story_id="s7")
    assert topic_for(view).key_for(view) == "s7"  # story views by story
    assert TOPIC_FOR_TYPE["media_uploaded"].key_field == "media_id"
