"""JSON Schema export of every event type, for producers in other languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.events import MODEL_BY_TYPE, SCHEMA_VERSION
from schemas.topics import TOPIC_FOR_TYPE


def event_schema(event_type: str) -> dict[str, Any]:
    model = MODEL_BY_TYPE[event_type]
    schema = model.model_json_schema(mode="validation")
    spec = TOPIC_FOR_TYPE[event_type]
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"photostream/v{SCHEMA_VERSION}/{event_type}.json"
    schema["title"] = event_type
    schema["description"] = (
        f"{(model.__doc__ or '').strip()} Topic <namespace>.{spec.entity}, keyed by {spec.key_field}. "
        "Unknown fields are kept."
    ).strip()
    schema["additionalProperties"] = True
    return schema


def export_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type in MODEL_BY_TYPE:
        path = directory / f"{event_type}.json"
        path.write_bytes(
            orjson.dumps(
                event_schema(event_type), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
            )
        )
        written.append(path)
    return written
