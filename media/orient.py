"""EXIF orientation: read the tag, size things in display orientation, transpose late.

Rotating a 12 MP image costs ~10-40 ms; rotating the first downscaled copy costs a fraction
of that, so the pipeline resizes in stored orientation and transposes afterwards.
"""

from __future__ import annotations

import logging

from PIL import Image

log = logging.getLogger(__name__)

ORIENTATION_TAG = 0x0112

# EXIF orientation value -> the transpose that brings stored pixels upright (CIPA DC-008).
TRANSPOSES: dict[int, Image.Transpose | None] = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def read_orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8) of a lazily opened image; 1 when absent or bogus."""
    if im.format == "HEIF":
        # pillow-heif applies irot/imir itself while decoding; rotating again would double it.
        return 1
    try:
        value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # a malformed EXIF block must not sink the photo
        log.warning("unreadable EXIF block; assuming orientation 1", exc_info=True)
        return 1
    if isinstance(value, tuple | list):  # some writers store it as a one-element array
        value = value[0] if value else 1
    return value if isinstance(value, int) and value in TRANSPOSES else 1


def swaps_axes(orientation: int) -> bool:
    """True for orientations 5-8, whose display width is the stored height."""
    return orientation >= 5


def display_size(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    w, h = stored
    return (h, w) if swaps_axes(orientation) else (w, h)


def stored_size(display: tuple[int, int], orientation: int) -> tuple[int, int]:
    """Inverse of display_size (the mapping is its own inverse)."""
    return display_size(display, orientation)


def upright(im: Image.Image, orientation: int) -> Image.Image:
    """Apply the orientation's transpose (a no-op for 1)."""
    method = TRANSPOSES.get(orientation)
    return im if method is None else im.transpose(method)
