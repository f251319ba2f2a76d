"""Typed fields of a ``domain.cursors`` cursor, for the list readers.

``decode_cursor`` checks that a cursor decodes and names the fields a list needs;
these check each field's type too, so a hand-edited cursor (``{"o": "x"}``) is
refused with ``InvalidCursor`` like any other malformed one, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping

from domain.cursors import InvalidCursor


def int_field(fields: Mapping[str, object], name: str) -> int:
    """A non-negative integer field (an offset, epoch milliseconds)."""
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidCursor("malformed cursor")
    return value


def str_field(fields: Mapping[str, object], name: str) -> str:
    """A string field (an id)."""
    value = fields[name]
    if not isinstance(value, str):
        raise InvalidCursor("malformed cursor")
    return value
