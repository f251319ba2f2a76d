"""API response models (``…Public`` for one thing, ``…Page`` for a cursor page)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr


class ErrorPublic(BaseModel):
    code: str = Field(description="stable, machine-readable error code")
    message: str = Field(description="what went wrong, for humans")


class DependencyState(BaseModel):
    ok: bool
    detail: str
    latency_ms: float | None = None


class HealthPublic(BaseModel):
    status: str = Field(description="ok when every dependency answers, else degraded")
    dependencies: dict[str, DependencyState]


class UserPublic(BaseModel):
    user_id: str
    username: str
    display_name: str
    is_private: bool
    bio: str = ""


class AcceptedPublic(BaseModel):
    """A write accepted onto the event log; views update shortly after."""

    event_id: str
    status: str = "accepted"


class PostStatsPublic(BaseModel):
    likes: int = 0
    comments: int = 0
    saves: int = 0
    shares: int = 0


class VariantPublic(BaseModel):
    name: str
    url: str
    content_type: str
    width: int | None = None
    height: int | None = None


class MediaPublic(BaseModel):
    media_id: str
    kind: str = Field(description="photo | video")
    state: str = Field(description="pending | partial | ready | failed")
    variants: list[VariantPublic] = Field(default_factory=list)
    placeholder: str | None = Field(
        default=None, description="BlurHash of the image, for instant loading"
    )
    reason: str | None = Field(default=None, description="why processing failed")
    width: int | None = None
    height: int | None = None


class UploadAcceptedPublic(BaseModel):
    media_id: str
    state: str = "pending"
    event_id: str


# --- stories ------------------------------------------------------------------------


class StoryPublic(BaseModel):
    story_id: str
    author_id: str
    created_at: int = Field(description="ms since the epoch (the story's occurred_at)")
    expires_at: int = Field(description="ms since the epoch; never served after this")
    close_friends_only: bool
    seen: bool = Field(description="the viewer has watched this story")
    media: MediaPublic


class StoryCreate(BaseModel):
    media_id: str = Field(min_length=1, max_length=128, description="an uploaded media id")
    close_friends_only: bool = False


class StoryAcceptedPublic(BaseModel):
    """A story accepted onto the event log; trays update shortly after."""

    story_id: str
    event_id: str
    status: str = "accepted"


class StoriesPublic(BaseModel):
    author_id: str
    data: list[StoryPublic] = Field(description="live stories, oldest first (play order)")


class TrayEntryPublic(BaseModel):
    author_id: str
    latest_story_at: int = Field(description="ms; the newest story the viewer may see")
    has_unseen: bool
    close_friend: bool = Field(description="the author counts the viewer as a close friend")


class TrayPage(BaseModel):
    data: list[TrayEntryPublic] = Field(
        description="close friends first, then unseen before seen, then newest first"
    )
    next_cursor: str | None = None


class StoryViewerPublic(BaseModel):
    user_id: str
    viewed_at: int = Field(description="ms of the first view")


class StoryViewersPage(BaseModel):
    story_id: str
    count: int = Field(description="distinct viewers")
    data: list[StoryViewerPublic] = Field(description="most recent viewers first")
    next_cursor: str | None = None


# --- trending hashtags --------------------------------------------------------------


class TrendingHashtagPublic(BaseModel):
    tag: str
    count: int = Field(description="distinct users who posted with the tag in the window")


class TrendingHashtagsPublic(BaseModel):
    window: str
    data: list[TrendingHashtagPublic]


class HashtagPostsPage(BaseModel):
    tag: str
    data: list[PostPublic] = Field(description="newest first")
    next_cursor: str | None = None


# --- graph, posts and the home feed -------------------------------------------------


class UserProfilePublic(UserPublic):
    followers: int = Field(default=0, description="exact follower count")
    following: int = Field(default=0, description="exact count of accounts followed")
    posts: int = Field(default=0, description="posts that are not deleted")


class UsersPage(BaseModel):
    data: list[UserPublic]
    next_cursor: str | None = None


class PostAcceptedPublic(AcceptedPublic):
    post_id: str


class PostPublic(BaseModel):
    post_id: str
    author: UserPublic
    caption: str
    media: list[MediaPublic]
    state: str = Field(description="processing | ready | failed (only authors see non-ready)")
    reason: str | None = Field(default=None, description="why the post failed, for its author")
    created_at: int = Field(description="ms since the epoch")
    stats: PostStatsPublic
    viewer_has_liked: bool
    source: str | None = Field(
        default=None, description="in a feed: push | pull | recommended | own"
    )


class FeedPage(BaseModel):
    data: list[PostPublic]
    next_cursor: str | None = None


class PostsPage(BaseModel):
    data: list[PostPublic]
    next_cursor: str | None = None


class CommentCreate(BaseModel):
    text: str = Field(min_length=1, max_length=2200)


class CommentPublic(BaseModel):
    comment_id: str
    post_id: str
    user_id: str
    text: str
    created_at: int = Field(description="ms since the epoch")


class CommentsPage(BaseModel):
    data: list[CommentPublic] = Field(description="oldest first")
    next_cursor: str | None = None


class CommentAcceptedPublic(BaseModel):
    """A comment accepted onto the event log; it is listed shortly after."""

    comment_id: str
    event_id: str
    status: str = "accepted"


class SavedPostPublic(BaseModel):
    post_id: str
    saved_at: int = Field(description="ms since the epoch")
    post: PostPublic = Field(description="the post, as the viewer may see it now")


class SavedPage(BaseModel):
    data: list[SavedPostPublic] = Field(
        description="newest first; posts the viewer may no longer see are left out"
    )
    next_cursor: str | None = None


# --- accounts and profile editing -----------------------------------------------------


class AccountCreate(BaseModel):
    """Registration. The username is stored normalized (NFKC, lowercase); 1-30 of
    a-z 0-9 . _ and not only dots. The password is 8-256 characters."""

    username: StrictStr = Field(min_length=1, max_length=64)
    password: StrictStr = Field(min_length=1, max_length=1024)
    display_name: StrictStr = Field(default="", max_length=128)


class Credentials(BaseModel):
    username: StrictStr = Field(min_length=1, max_length=1024)
    password: StrictStr = Field(min_length=1, max_length=1024)


class RefreshTokenBody(BaseModel):
    refresh_token: StrictStr = Field(min_length=1, max_length=1024)


class TokensPublic(BaseModel):
    """A session: a short-lived access token and the refresh token that renews it."""

    user_id: str
    access_token: str = Field(description="send as `Authorization: Bearer <access_token>`")
    refresh_token: str = Field(
        description="opaque; spent by POST /v1/accounts/refresh, which returns the next one"
    )
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token stays valid")


class AccountTokensPublic(TokensPublic):
    username: str = Field(description="the normalized username")


class ProfileUpdate(BaseModel):
    """A partial profile edit: fields left out (or null) keep their values."""

    model_config = ConfigDict(extra="forbid")

    username: StrictStr | None = Field(default=None, min_length=1, max_length=64)
    display_name: StrictStr | None = Field(default=None, max_length=128)
    bio: StrictStr | None = Field(default=None, max_length=512)
    is_private: StrictBool | None = None


# --- search ---------------------------------------------------------------------------


class HashtagMatchPublic(BaseModel):
    tag: str
    posts: int = Field(description="live posts carrying the tag")
    trending: int = Field(description="distinct users who posted with it in the last 24 h")


class SearchResultPublic(BaseModel):
    kind: Literal["user", "hashtag"]
    match: Literal["prefix", "typo"] = Field(description="a prefix match or a one-typo match")
    relation: Literal["following", "follower", "none"] = Field(
        description="how the viewer's graph ranked it: accounts followed, then followers"
    )
    user: UserProfilePublic | None = Field(default=None, description="the profile card")
    hashtag: HashtagMatchPublic | None = None


class SearchPage(BaseModel):
    data: list[SearchResultPublic] = Field(description="best first")
    next_cursor: str | None = None
