"""The dead-letter record: what failed, why, where it came from, and its original bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
from pydantic import BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    reason: str
    stage: str = Field(description="decode | validate | process")
    source_topic: str
    source_partition: int
    source_offset: int
    key_b64: str | None = None
    value_b64: str | None = None
    # The original value as text when it is valid UTF-8, for humans tailing the DLQ.
    value_text: str | None = None
    failed_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def build(
        cls,
        *,
        reason: str,
        stage: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
    ) -> DeadLetter:
        text: str | None = None
        if value is not None:
            try:
                text = value.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        return cls(
            reason=reason,
            stage=stage,
            source_topic=topic,
            source_partition=partition,
            source_offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            value_b64=base64.b64encode(value).decode() if value is not None else None,
            value_text=text,
        )

    def original_value(self) -> bytes | None:
        return base64.b64decode(self.value_b64) if self.value_b64 is not None else None

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
