"""A BlurHash placeholder (~20-30 characters) that a feed can inline and paint instantly."""

from __future__ import annotations

import blurhash_rs
from PIL import Image

# BlurHash cost grows with input pixels × components; detail beyond ~32 px is averaged away.
MAX_INPUT_SIDE = 32


def blurhash(im: Image.Image) -> str:
    """Encode an sRGB image; 4×3 components for landscape, 3×4 for portrait."""
    small = im.convert("RGB") if im.mode != "RGB" else im
    if max(small.size) > MAX_INPUT_SIDE:
        scale = MAX_INPUT_SIDE / max(small.size)
        size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
        small = small.resize(size, Image.Resampling.BOX)
    x, y = (4, 3) if small.width >= small.height else (3, 4)
    return blurhash_rs.encode_rgb(small.tobytes(), small.width, small.height, x, y)
