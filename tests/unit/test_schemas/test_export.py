from __future__ import annotations

from pathlib import Path

import jsonschema
import orjson
import pytest

from schemas.events import EVENT_TYPES
from schemas.export import export_schemas
from tests.factories import event_factory


def test_export_writes_one_schema_per_type(tmp_path: Path) -> None:
    written = export_schemas(tmp_path)
    assert sorted(p.stem for p in written) == sorted(EVENT_TYPES)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_exported_schema_accepts_valid_and_rejects_invalid_events(
    tmp_path: Path, event_type: str
) -> None:
    export_schemas(tmp_path)
    schema = orjson.loads((tmp_path / f"{event_type}.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    instance = orjson.loads(event_factory(event_type).to_json())
    validator.validate(instance)
    broken = {**instance, "user_id": 123}
    assert not validator.is_valid(broken)
    del broken["user_id"]
    assert not validator.is_valid(broken)
