"""EXIF orientation: eight fixtures, checked pixel by pixel in every variant."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from media.orient import display_size, read_orientation
from media.photo import process_photo
from tests.unit.test_media.media_factories import (
    QUADRANTS,
    exif_with_orientation,
    jpeg_bytes,
    stored_for_orientation,
    upright_pattern,
)

TOLERANCE = 40


def _quadrant_colours(im: Image.Image) -> list[tuple[int, ...]]:
    """Mean colour near the centre of each quadrant: TL, TR, BL, BR."""
    a = np.asarray(im.convert("RGB"), dtype=np.float64)
    h, w = a.shape[:2]
    out = []
    for fy, fx in ((0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)):
        y, x = int(h * fy), int(w * fx)
        dy, dx = max(1, h // 10), max(1, w // 10)
        out.append(tuple(a[y - dy : y + dy, x - dx : x + dx].reshape(-1, 3).mean(axis=0)))
    return out


def _assert_upright(im: Image.Image) -> None:
    for got, want in zip(_quadrant_colours(im), QUADRANTS, strict=True):
        assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < TOLERANCE, (got, want)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_comes_out_upright(orientation: int) -> None:
    upright = upright_pattern(400, 300)
    stored = Image.fromarray(stored_for_orientation(upright, orientation))
    data = jpeg_bytes(stored, exif=exif_with_orientation(orientation))

    result = process_photo(data, max_pixels=50_000_000)

    assert result.orientation == orientation
    assert (result.width, result.height) == (400, 300)
    for v in result.variants:
        im = Image.open(io.BytesIO(v.data))
        assert im.size == (v.width, v.height)
        if v.name == "sq150":
            assert im.size == (150, 150)
        else:
            assert im.width / im.height == pytest.approx(4 / 3, rel=0.02)
        assert im.getexif().get(0x0112) is None  # the tag is gone with the rest of EXIF
        _assert_upright(im)


@pytest.mark.parametrize("bogus", [0, 9, 65535])
def test_missing_or_bogus_orientation_means_as_stored(bogus: int) -> None:
    stored = Image.fromarray(upright_pattern(400, 300))
    for data in (jpeg_bytes(stored), jpeg_bytes(stored, exif=exif_with_orientation(bogus))):
        result = process_photo(data, max_pixels=50_000_000)
        assert result.orientation == 1
        _assert_upright(Image.open(io.BytesIO(result.variant("w320").data)))


def test_orientation_in_a_png_exif_chunk_is_applied() -> None:
    stored = Image.fromarray(stored_for_orientation(upright_pattern(400, 300), 6))
    buf = io.BytesIO()
    stored.save(buf, "PNG", exif=exif_with_orientation(6))
    result = process_photo(buf.getvalue(), max_pixels=50_000_000)
    assert result.orientation == 6
    _assert_upright(Image.open(io.BytesIO(result.variant("w320").data)))


def test_read_orientation_and_display_size() -> None:
    im = Image.open(
        io.BytesIO(jpeg_bytes(Image.new("RGB", (40, 30)), exif=exif_with_orientation(8)))
    )
    assert read_orientation(im) == 8
    assert display_size((40, 30), 8) == (30, 40)
    assert display_size((40, 30), 3) == (40, 30)
