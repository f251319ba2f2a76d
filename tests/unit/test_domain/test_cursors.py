"""One cursor codec: what it makes it reads back, anything else is InvalidCursor."""

from __future__ import annotations

import pytest

from domain.cursors import (
    MAX_CURSOR_LENGTH,
    InvalidCursor,
    decode_cursor,
    encode_cursor,
    int_field,
    str_field,
)


def test_a_cursor_round_trips_its_fields() -> None:
    cursor = encode_cursor(s="abc", o=20)
    assert decode_cursor(cursor, "s", "o") == {"s": "abc", "o": 20}
    fields = decode_cursor(cursor)
    assert int_field(fields, "o") == 20 and str_field(fields, "s") == "abc"


@pytest.mark.parametrize(
    "bad",
    ["not-a-cursor!", "%%%", "e30", encode_cursor(x=1), "a" * (MAX_CURSOR_LENGTH + 1)],
)
def test_garbage_or_a_cursor_missing_a_field_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad, "s", "o")


def test_a_field_of_the_wrong_type_is_refused() -> None:
    fields = decode_cursor(encode_cursor(o="x", s=3, n=-1, b=True))
    for check, name in ((int_field, "o"), (str_field, "s"), (int_field, "n"), (int_field, "b")):
        with pytest.raises(InvalidCursor):
            check(fields, name)
