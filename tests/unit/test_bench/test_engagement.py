"""The engagement benchmark's steady-rate arithmetic."""

from __future__ import annotations

from bench.engagement import steady_rate


def test_the_rate_is_taken_between_ten_and_ninety_percent() -> None:
    # 1,000 messages past an offset of 500: slow start, steady 100/s, slow tail.
    samples = [(0.0, 500), (1.0, 510), (2.0, 600), (10.0, 1400), (11.0, 1450), (30.0, 1500)]
    assert steady_rate(samples, base=500, n=1000) == (1400 - 600) / (10.0 - 2.0)


def test_no_rate_until_both_marks_are_reached() -> None:
    assert steady_rate([(0.0, 0), (1.0, 500)], base=0, n=1000) is None
    assert steady_rate([], base=0, n=1000) is None
