"""API response models (``…Public`` for one thing, ``…Page`` for a cursor page)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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


class AcceptedPublic(BaseModel):
    """A write accepted onto the event log; views update shortly after."""

    event_id: str
    status: str = "accepted"


class PostStatsPublic(BaseModel):
    likes: int = 0
    comments: int = 0
    saves: int = 0
    shares: int = 0
