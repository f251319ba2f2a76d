"""Domain refusals become the JSON error body with a stable code and status."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import errors
from domain.cursors import InvalidCursor, decode_cursor
from domain.errors import Conflict, Expired, Forbidden, NotFound


class Taken(Conflict):
    """A refusal naming its own, more precise code."""

    code = "name_taken"


def _raises(exc: Exception) -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return app


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (NotFound("user 'x'"), 404, {"code": "not_found", "message": "user 'x' not found"}),
        (Forbidden("not yours"), 403, {"code": "forbidden", "message": "not yours"}),
        (Conflict("taken"), 409, {"code": "conflict", "message": "taken"}),
        (Expired("scroll gone"), 410, {"code": "cursor_expired", "message": "scroll gone"}),
        (Taken("taken"), 409, {"code": "name_taken", "message": "taken"}),
    ],
)
def test_domain_error_maps_to_status_and_code(
    exc: Exception, status: int, body: dict[str, str]
) -> None:
    response = TestClient(_raises(exc)).get("/boom")
    assert response.status_code == status
    assert response.json() == body


def test_invalid_cursor_is_400_bad_cursor() -> None:
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor("%%%")
    response = TestClient(_raises(refused.value)).get("/boom")
    assert response.status_code == 400
    assert response.json() == {"code": "bad_cursor", "message": "malformed cursor"}
