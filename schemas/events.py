"""Event contracts, version 1: one JSON object per Kafka message.

Every event shares the envelope (``event_id``, ``type``, ``v``, ``occurred_at``,
``user_id``) and adds the fields of its type. Ids are strings; unknown fields are
kept (forward compatibility), while a missing required field or a wrong type is
rejected with a message that names the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)

SCHEMA_VERSION = 1

Id = Annotated[StrictStr, Field(min_length=1, max_length=128)]


class InvalidEvent(ValueError):
    """Raised when bytes or a mapping do not form a valid event; ``reason`` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_event_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventBase(BaseModel):
    # extra="allow": unknown fields survive a round trip through every consumer.
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    event_id: Id
    type: str
    v: Literal[1] = SCHEMA_VERSION
    occurred_at: datetime
    user_id: Id

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _parse_occurred_at(cls, value: Any) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from exc
        else:
            raise ValueError("must be an ISO-8601 string")
        # Naive timestamps are taken as UTC; everything is stored in UTC.
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)

    @field_serializer("occurred_at")
    def _dump_occurred_at(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @property
    def occurred_ms(self) -> int:
        return int(self.occurred_at.timestamp() * 1000)


# --- profiles -------------------------------------------------------------------


class ProfileUpdated(EventBase):
    type: Literal["profile_updated"]
    username: Annotated[StrictStr, Field(min_length=1, max_length=64)]
    display_name: Annotated[StrictStr, Field(max_length=128)]
    is_private: StrictBool
    bio: Annotated[StrictStr, Field(max_length=512)] = ""


class AccountDeleted(EventBase):
    """The user deleted their account: the worker removes everything of theirs, with
    compensating events whose ids derive from this one (replays change nothing).
    ``username`` is the name the account held (sent by the API; "" for a user made by
    events alone): it stays reserved for the grace period, then its row goes too."""

    type: Literal["account_deleted"]
    username: Annotated[StrictStr, Field(max_length=64)] = ""


class FeedOpened(EventBase):
    """The user opened their home feed (sent by the API, at most once a minute): the
    worker marks them active, and rebuilds the feed of one returning after a while."""

    type: Literal["feed_opened"]


# --- social graph ---------------------------------------------------------------


class _GraphEvent(EventBase):
    target_id: Id


class Follow(_GraphEvent):
    type: Literal["follow"]


class Unfollow(_GraphEvent):
    type: Literal["unfollow"]


class Block(_GraphEvent):
    type: Literal["block"]


class Unblock(_GraphEvent):
    type: Literal["unblock"]


class CloseFriendAdded(_GraphEvent):
    type: Literal["close_friend_added"]


class CloseFriendRemoved(_GraphEvent):
    type: Literal["close_friend_removed"]


class Mute(_GraphEvent):
    """``user_id`` mutes ``target_id``: their posts and stories leave user_id's feed and
    tray; the follow stays."""

    type: Literal["mute"]


class Unmute(_GraphEvent):
    type: Literal["unmute"]


class FollowRequested(_GraphEvent):
    """``user_id`` asks to follow the private account ``target_id``."""

    type: Literal["follow_requested"]


class FollowRequestCancelled(_GraphEvent):
    """``user_id`` withdraws their pending request to follow ``target_id``."""

    type: Literal["follow_request_cancelled"]


class FollowRequestApproved(_GraphEvent):
    """The account owner ``user_id`` lets ``target_id`` follow them: a follow follows."""

    type: Literal["follow_request_approved"]


class FollowRequestDenied(_GraphEvent):
    """The account owner ``user_id`` turns down ``target_id``'s request."""

    type: Literal["follow_request_denied"]


# --- posts ----------------------------------------------------------------------


class MediaRef(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    media_id: Id
    kind: Literal["photo", "video"]


class PostCreated(EventBase):
    type: Literal["post_created"]
    post_id: Id
    caption: Annotated[StrictStr, Field(max_length=2200)]
    media: list[MediaRef]


class PostDeleted(EventBase):
    type: Literal["post_deleted"]
    post_id: Id


# --- engagement -----------------------------------------------------------------


class _PostAction(EventBase):
    post_id: Id


class Like(_PostAction):
    type: Literal["like"]


class Unlike(_PostAction):
    type: Literal["unlike"]


class Save(_PostAction):
    type: Literal["save"]


class Unsave(_PostAction):
    type: Literal["unsave"]


class Share(_PostAction):
    type: Literal["share"]


class ShareRemoved(_PostAction):
    """A share no longer counts: ``share_id`` is the event id of the ``share`` it undoes
    (sent by the system when the sharer's account is deleted)."""

    type: Literal["share_removed"]
    share_id: Id


class CommentCreated(EventBase):
    type: Literal["comment_created"]
    post_id: Id
    comment_id: Id
    text: Annotated[StrictStr, Field(min_length=1, max_length=2200)]


class CommentDeleted(EventBase):
    type: Literal["comment_deleted"]
    post_id: Id
    comment_id: Id


# --- stories --------------------------------------------------------------------


class StoryCreated(EventBase):
    type: Literal["story_created"]
    story_id: Id
    media_id: Id
    close_friends_only: StrictBool


class StoryDeleted(EventBase):
    type: Literal["story_deleted"]
    story_id: Id


class StoryExpired(EventBase):
    """Emitted by the system once per story, 24 h after it was created."""

    type: Literal["story_expired"]
    story_id: Id


class StoryViewed(EventBase):
    type: Literal["story_viewed"]
    story_id: Id
    owner_id: Id


class StoryViewRemoved(EventBase):
    """``user_id``'s receipt of ``story_id`` is withdrawn: out of the viewer list and the
    count (sent by the system when the viewer's account is deleted)."""

    type: Literal["story_view_removed"]
    story_id: Id


# --- media ----------------------------------------------------------------------


class MediaUploaded(EventBase):
    type: Literal["media_uploaded"]
    media_id: Id
    object_key: Annotated[StrictStr, Field(min_length=1, max_length=512)]
    content_type: Annotated[StrictStr, Field(min_length=1, max_length=128)]
    size_bytes: Annotated[StrictInt, Field(ge=0)]


class VariantRef(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    name: StrictStr
    object_key: StrictStr
    content_type: StrictStr
    width: StrictInt | None = None
    height: StrictInt | None = None


class MediaProgress(EventBase):
    """Emitted by the system: some renditions exist (a poster, the low video rungs)."""

    type: Literal["media_progress"]
    media_id: Id
    kind: Literal["photo", "video"]
    variants: list[VariantRef]
    placeholder: StrictStr | None = None


class MediaReady(EventBase):
    """Emitted by the system when every rendition of an upload exists."""

    type: Literal["media_ready"]
    media_id: Id
    kind: Literal["photo", "video"]
    variants: list[VariantRef]
    placeholder: StrictStr | None = None
    width: StrictInt | None = None
    height: StrictInt | None = None


class MediaFailed(EventBase):
    """Emitted by the system when an upload cannot be processed; ``reason`` says why."""

    type: Literal["media_failed"]
    media_id: Id
    reason: StrictStr


EVENT_MODELS: tuple[type[EventBase], ...] = (
    ProfileUpdated,
    AccountDeleted,
    FeedOpened,
    Follow,
    Unfollow,
    Block,
    Unblock,
    CloseFriendAdded,
    CloseFriendRemoved,
    Mute,
    Unmute,
    FollowRequested,
    FollowRequestCancelled,
    FollowRequestApproved,
    FollowRequestDenied,
    PostCreated,
    PostDeleted,
    Like,
    Unlike,
    Save,
    Unsave,
    Share,
    ShareRemoved,
    CommentCreated,
    CommentDeleted,
    StoryCreated,
    StoryDeleted,
    StoryExpired,
    StoryViewed,
    StoryViewRemoved,
    MediaUploaded,
    MediaProgress,
    MediaReady,
    MediaFailed,
)

MODEL_BY_TYPE: dict[str, type[EventBase]] = {
    model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in EVENT_MODELS
}
EVENT_TYPES: tuple[str, ...] = tuple(MODEL_BY_TYPE)

# A tagged union so validation picks the model from ``type`` in one step.
Event = Annotated[Union[EVENT_MODELS], Field(discriminator="type")]  # noqa: UP007
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors(include_url=False):
        # Drop the union tag from the location: "post_created.post_id" -> "post_id".
        loc = [str(p) for p in err["loc"]]
        if loc and loc[0] in MODEL_BY_TYPE:
            loc = loc[1:]
        field = ".".join(loc) or "event"
        parts.append(f"field '{field}': {err['msg']}")
    return "; ".join(parts)


def parse_event(data: Mapping[str, Any], *, fill_defaults: bool = False) -> EventBase:
    """Validate a mapping into its event model.

    With ``fill_defaults`` (producers), a missing ``event_id`` or ``occurred_at`` is
    filled in; consumers require both.
    """
    if not isinstance(data, Mapping):
        raise InvalidEvent("an event must be a JSON object")
    event_type = data.get("type")
    if event_type is None:
        raise InvalidEvent("field 'type': Field required")
    if not isinstance(event_type, str) or event_type not in MODEL_BY_TYPE:
        raise InvalidEvent(f"field 'type': unknown event type {event_type!r}")
    if fill_defaults:
        data = dict(data)
        if data.get("event_id") is None:
            data["event_id"] = new_event_id()
        if data.get("occurred_at") is None:
            data["occurred_at"] = utcnow()
    try:
        # Python mode keeps strictness (no "1" -> 1) while accepting datetime objects.
        return _EVENT_ADAPTER.validate_python(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc)) from None


def decode_event(raw: bytes | None) -> EventBase:
    """Bytes from Kafka -> a validated event, or ``InvalidEvent`` with the reason."""
    if raw is None:
        raise InvalidEvent("empty message (null value)")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    return parse_event(data)


def make_event(event_type: str, **fields: Any) -> EventBase:
    """Build an event of ``event_type`` with a fresh id and timestamp unless given."""
    return parse_event({"type": event_type, **fields}, fill_defaults=True)
