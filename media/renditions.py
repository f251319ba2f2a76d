"""The size ladder: plan sizes, resize in a cascade, encode JPEG variants.

Speed comes from doing the big step once: the decoded image is resized (in stored orientation)
to the largest variant, transposed upright, colour-finished, and every smaller variant is made
from the smallest already-made image that is still big enough (2048 -> 1080 -> 640 -> 320,
the square from whichever is just large enough). Nothing is ever upscaled.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image

from media.orient import stored_size, upright

JPEG_CONTENT_TYPE = "image/jpeg"
DEFAULT_QUALITY = 82
# Outputs of at least this many pixels use BICUBIC and standard Huffman tables: on a 12 MP
# source LANCZOS costs ~35 ms more per big step and optimize=True ~25 ms more at 2048 px.
# Smaller outputs get LANCZOS and optimized tables, which cost little there.
LARGE_OUTPUT_PIXELS = 1_000_000
# Pillow first box-reduces by an integer factor while the remaining ratio stays >= this;
# at 2.0 or more the result is indistinguishable from a full-kernel resize.
REDUCING_GAP = 2.0


@dataclass(frozen=True)
class VariantSpec:
    """One rung of the photo ladder: ``width`` wide, or a ``width``-sided centre square."""

    name: str
    width: int
    square: bool = False


DEFAULT_LADDER: tuple[VariantSpec, ...] = (
    VariantSpec("sq150", 150, square=True),
    VariantSpec("w320", 320),
    VariantSpec("w640", 640),
    VariantSpec("w1080", 1080),
    VariantSpec("w2048", 2048),
)


@dataclass(frozen=True)
class Target:
    """A variant's planned output size, in display orientation."""

    spec: VariantSpec
    width: int
    height: int

    def source_width_needed(self, display_w: int, display_h: int) -> int:
        """How wide the (display-oriented) source must be to make this without upscaling."""
        if not self.spec.square:
            return self.width
        return math.ceil(self.width * display_w / min(display_w, display_h))


@dataclass(frozen=True)
class Variant:
    """One encoded output."""

    name: str
    width: int
    height: int
    content_type: str
    data: bytes = field(repr=False)
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def ext(self) -> str:
        return "jpg" if self.content_type == JPEG_CONTENT_TYPE else "bin"


def plan_targets(display_w: int, display_h: int, ladder: Sequence[VariantSpec]) -> list[Target]:
    """Output sizes for each rung, capped at the source size (never upscaled)."""
    targets = []
    for spec in ladder:
        if spec.square:
            side = min(spec.width, display_w, display_h)
            targets.append(Target(spec, side, side))
        else:
            width = min(spec.width, display_w)
            height = max(1, round(display_h * width / display_w))
            targets.append(Target(spec, width, height))
    return targets


def top_size(display_w: int, display_h: int, targets: Sequence[Target]) -> tuple[int, int]:
    """The one size to resize the full image to: just big enough for every target."""
    needed = max(t.source_width_needed(display_w, display_h) for t in targets)
    width = min(display_w, needed)
    return width, max(1, round(display_h * width / display_w))


def render_ladder(
    base: Image.Image,
    *,
    orientation: int,
    targets: Sequence[Target],
    finish: Callable[[Image.Image], Image.Image],
) -> dict[str, Image.Image]:
    """Resize ``base`` (stored orientation) into every target; returns images by name.

    ``finish`` turns the first downscaled image into final pixels (alpha, colour), so that
    work runs at the largest variant's size instead of the source's.
    """
    display_w, display_h = (
        (base.height, base.width) if orientation >= 5 else (base.width, base.height)
    )
    top_w, top_h = top_size(display_w, display_h, targets)
    stored = stored_size((top_w, top_h), orientation)
    top = base if stored == base.size else _resize(base, stored)
    top = finish(upright(top, orientation))

    # Wide images made so far, any of which may feed a smaller one.
    pool: list[Image.Image] = [top]
    out: dict[str, Image.Image] = {}
    order = sorted(targets, key=lambda t: t.source_width_needed(display_w, display_h), reverse=True)
    for target in order:
        need = target.source_width_needed(display_w, display_h)
        fitting = [im for im in pool if im.width >= need] or [max(pool, key=lambda i: i.width)]
        source = min(fitting, key=lambda im: im.width)
        if target.spec.square:
            out[target.spec.name] = _square(source, target.width)
        else:
            size = (target.width, target.height)
            image = source if source.size == size else _resize(source, size)
            out[target.spec.name] = image
            pool.append(image)
    return out


def _filter_for(size: tuple[int, int]) -> Image.Resampling:
    big = size[0] * size[1] >= LARGE_OUTPUT_PIXELS
    return Image.Resampling.BICUBIC if big else Image.Resampling.LANCZOS


def _resize(im: Image.Image, size: tuple[int, int], box: tuple[int, ...] | None = None):
    return im.resize(size, _filter_for(size), box=box, reducing_gap=REDUCING_GAP)


def _square(source: Image.Image, side: int) -> Image.Image:
    crop = min(source.size)
    left = (source.width - crop) // 2
    top = (source.height - crop) // 2
    box = (left, top, left + crop, top + crop)
    if crop == side:
        return source.crop(box)
    return _resize(source, (side, side), box=box)


def encode_jpeg(im: Image.Image, *, quality: int, icc_profile: bytes | None) -> bytes:
    """Baseline JPEG with nothing but pixels and, optionally, an ICC profile.

    ``info`` is emptied first: Pillow copies ``info`` through resize/transpose and writes an
    inherited comment or XMP packet on save.
    """
    im.info = {}
    options: dict[str, object] = {
        "quality": quality,
        "optimize": im.width * im.height < LARGE_OUTPUT_PIXELS,
        "progressive": False,
        "icc_profile": icc_profile,
    }
    if im.mode == "RGB":
        options["subsampling"] = "4:2:0"
    buf = io.BytesIO()
    im.save(buf, "JPEG", **options)
    return buf.getvalue()


def encode_variants(
    images: dict[str, Image.Image],
    targets: Sequence[Target],
    *,
    quality: int,
    icc_profile: bytes | None,
) -> tuple[Variant, ...]:
    """Encode each image in ladder order; identical sizes share one encode."""
    variants = []
    cache: dict[int, bytes] = {}
    for target in targets:
        image = images[target.spec.name]
        data = cache.get(id(image))
        if data is None:
            data = cache[id(image)] = encode_jpeg(image, quality=quality, icc_profile=icc_profile)
        variants.append(
            Variant(
                name=target.spec.name,
                width=image.width,
                height=image.height,
                content_type=JPEG_CONTENT_TYPE,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    return tuple(variants)
