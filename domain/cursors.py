"""Opaque pagination cursors: one codec and one error for every list.

A cursor is the URL-safe base64 of a small JSON object naming where the next page
starts (``{"t": 1700000000000, "p": "p42"}``); clients pass it back unchanged.
``decode_cursor`` refuses anything it did not make with ``InvalidCursor``, which the
API answers with 400 ``bad_cursor``; ``int_field``/``str_field`` refuse a field of the
wrong type the same way, so a hand-edited cursor is never a 500.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

import orjson

# Longest cursor accepted: a few ids and numbers, never a payload.
MAX_CURSOR_LENGTH = 512


class InvalidCursor(ValueError):
    """The cursor was not made by ``encode_cursor`` (or lacks a field the list needs)."""


def encode_cursor(**fields: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(fields)).decode().rstrip("=")


def decode_cursor(cursor: str, *required: str) -> dict[str, object]:
    """The cursor's fields; ``InvalidCursor`` when malformed or missing ``required``."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("malformed cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        fields = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise InvalidCursor("malformed cursor") from exc
    if not isinstance(fields, dict) or any(k not in fields for k in required):
        raise InvalidCursor("malformed cursor")
    return fields


def int_field(fields: Mapping[str, object], name: str) -> int:
    """A non-negative integer field (an offset, epoch milliseconds) of a decoded cursor."""
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidCursor("malformed cursor")
    return value


def str_field(fields: Mapping[str, object], name: str) -> str:
    """A string field (an id) of a decoded cursor."""
    value = fields[name]
    if not isinstance(value, str):
        raise InvalidCursor("malformed cursor")
    return value
