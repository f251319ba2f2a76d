from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, MODEL_BY_TYPE, InvalidEvent, decode_event, parse_event
from tests.factories import SAMPLE_FIELDS, event_dict, event_factory


def test_every_event_type_has_a_sample_and_validates() -> None:
    assert set(SAMPLE_FIELDS) == set(EVENT_TYPES)
    for event_type in EVENT_TYPES:
        event = event_factory(event_type)
        assert isinstance(event, MODEL_BY_TYPE[event_type])
        assert event.v == 1


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_event_json_round_trip_is_lossless(event_type: str) -> None:
    event = event_factory(event_type)
    assert decode_event(event.to_json()) == event


def test_missing_required_field_is_rejected_naming_it() -> None:
    data = event_dict("like", event_id="e1", occurred_at="2026-01-01T00:00:00Z")
    del data["post_id"]
    with pytest.raises(InvalidEvent, match="field 'post_id'"):
        parse_event(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_id", 42), ("post_id", None), ("post_id", ["p"]), ("occurred_at", "yesterday")],
)
def test_wrong_type_is_rejected_naming_the_field(field: str, value: object) -> None:
    data = event_dict("like", event_id="e1", occurred_at="2026-01-01T00:00:00Z")
    data[field] = value
    with pytest.raises(InvalidEvent, match=f"field '{field}'"):
        parse_event(data)


def test_nested_field_errors_name_the_path() -> None:
    data = event_dict("post_created", event_id="e1", occurred_at="2026-01-01T00:00:00Z")
    data["media"] = [{"media_id": "m1", "kind": "gif"}]
    with pytest.raises(InvalidEvent, match=r"field 'media\.0\.kind'"):
        parse_event(data)


def test_bool_fields_do_not_accept_strings() -> None:
    data = event_dict(
        "profile_updated", event_id="e1", occurred_at="2026-01-01T00:00:00Z", is_private="yes"
    )
    with pytest.raises(InvalidEvent, match="field 'is_private'"):
        parse_event(data)


def test_unknown_fields_are_kept() -> None:
    data = event_dict(
        "like", event_id="e1", occurred_at="2026-01-01T00:00:00Z", client="ios", trace={"a": 1}
    )
    event = parse_event(data)
    dumped = orjson.loads(event.to_json())
    assert dumped["client"] == "ios"
    assert dumped["trace"] == {"a": 1}


def test_unknown_type_and_missing_type_are_rejected() -> None:
    with pytest.raises(InvalidEvent, match="unknown event type 'poke'"):
        parse_event({"type": "poke", "user_id": "u1"})
    with pytest.raises(InvalidEvent, match="field 'type'"):
        parse_event({"user_id": "u1"})


def test_unsupported_schema_version_is_rejected() -> None:
    data = event_dict("like", event_id="e1", occurred_at="2026-01-01T00:00:00Z", v=2)
    with pytest.raises(InvalidEvent, match="field 'v'"):
        parse_event(data)


def test_consumers_require_event_id_and_occurred_at_but_producers_get_them_filled() -> None:
    data = event_dict("like")
    with pytest.raises(InvalidEvent, match="field 'event_id'"):
        parse_event(data)
    event = parse_event(data, fill_defaults=True)
    assert len(event.event_id) == 32
    assert event.occurred_at.tzinfo is not None


def test_occurred_at_is_normalised_to_utc() -> None:
    data = event_dict("like", event_id="e1", occurred_at="2026-03-01T10:00:00+02:00")
    event = parse_event(data)
    assert event.occurred_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert orjson.loads(event.to_json())["occurred_at"] == "2026-03-01T08:00:00Z"


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"not json", b"[1,2]", b"null", b"42"])
def test_garbage_bytes_raise_invalid_event(raw: bytes) -> None:
    with pytest.raises(InvalidEvent):
        decode_event(raw)


@given(
    user_id=st.text(min_size=1, max_size=40),
    post_id=st.text(min_size=1, max_size=40),
    extra=st.dictionaries(
        st.from_regex(r"x_[a-z]{1,8}", fullmatch=True),
        st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.text(max_size=10),
        max_size=3,
    ),
)
def test_any_string_ids_and_extra_fields_round_trip(
    user_id: str, post_id: str, extra: dict[str, object]
) -> None:
    event = event_factory("like", user_id=user_id, post_id=post_id, **extra)
    again = decode_event(event.to_json())
    assert again == event
    assert again.model_extra == extra
