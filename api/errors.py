"""JSON errors everywhere: ``{"code": ..., "message": ...}`` with a stable code.

Readers and routes refuse in domain words (``domain.errors``); this module alone turns
those refusals into HTTP statuses. ``ApiError`` is left for purely HTTP-level answers
(authentication, upload limits, an unavailable dependency).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import Conflict, DomainError, Expired, Forbidden, InvalidCursor, NotFound
from schemas.views import ErrorPublic

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for a route: each status answers with the JSON error body."""
    return {status: {"model": ErrorPublic} for status in statuses}


# Status and default code of each domain refusal; an error carrying its own ``code``
# attribute (a subclass naming a more precise case) keeps that code.
DOMAIN_ERRORS: dict[type[Exception], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Forbidden: (403, "forbidden"),
    Conflict: (409, "conflict"),
    Expired: (410, "cursor_expired"),
    InvalidCursor: (400, "bad_cursor"),
}


def _body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _domain_handler(
    status: int, default_code: str
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(_: Request, exc: Exception) -> JSONResponse:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        return JSONResponse(_body(getattr(exc, "code", default_code), message), status_code=status)

    return handle


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.message), status_code=exc.status)

    for kind, (status, code) in DOMAIN_ERRORS.items():
        app.add_exception_handler(kind, _domain_handler(status, code))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            _body(code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
            parts.append(f"{loc}: {err.get('msg')}")
        return JSONResponse(_body("invalid_request", "; ".join(parts)), status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse(_body("internal", "internal server error"), status_code=500)
