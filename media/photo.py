"""Photo uploads: bytes in, stripped and oriented JPEG variants plus a placeholder out.

Deterministic: the same input bytes and options give byte-identical variants, so any variant
can be rebuilt from the stored original. Pure CPU work: run it in a process pool with a
per-job timeout and memory cap, so one hostile file costs one worker, not the service.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from media.color import finish, plan_color, srgb_preview, to_resizable
from media.errors import MediaRejected
from media.orient import display_size, read_orientation, stored_size
from media.placeholder import blurhash
from media.probe import open_lazy, probe_image
from media.renditions import (
    DEFAULT_LADDER,
    DEFAULT_QUALITY,
    Variant,
    VariantSpec,
    encode_variants,
    plan_targets,
    render_ladder,
    top_size,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotoResult:
    """Every output of one photo, in ladder order, plus facts about the source."""

    variants: tuple[Variant, ...]
    placeholder: str  # BlurHash
    width: int  # display orientation, of the source
    height: int
    source_format: str
    source_sha256: str
    orientation: int
    frames: int
    color: str  # see media.color.ColorPlan.note

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise KeyError(name)


def process_photo(
    data: bytes,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    declared_type: str | None = None,
    ladder: Sequence[VariantSpec] = DEFAULT_LADDER,
    quality: int = DEFAULT_QUALITY,
) -> PhotoResult:
    """Validate, decode (frame 0), orient, colour-manage, strip and render every variant.

    Raises MediaRejected (``code`` says why) before decoding anything that fails the
    header checks, and while decoding if the pixel data itself is broken.
    """
    probe = probe_image(
        data, max_pixels=max_pixels, max_bytes=max_bytes, declared_type=declared_type
    )
    # The source is in memory, so the lazy image holds no file handle worth closing; closing
    # it would also free the pixels that ``base`` may share with it.
    im = open_lazy(data, probe.format)
    if probe.format == "jpeg":
        # JPEG EXIF sits in the header, so orientation is known before decoding, which lets
        # draft() pick a DCT scale when the largest variant is <= 1/2 of the source.
        orientation = read_orientation(im)
        display = display_size(im.size, orientation)
        targets = plan_targets(*display, ladder)
        im.draft(im.mode, stored_size(top_size(*display, targets), orientation))
        _decode(im, probe.format)
    else:
        _decode(im, probe.format)
        orientation = read_orientation(im)
        display = display_size(im.size, orientation)
        targets = plan_targets(*display, ladder)
    icc = im.info.get("icc_profile") or None
    base = to_resizable(im)
    del im

    plan = plan_color(base.mode, icc)
    images = render_ladder(
        base, orientation=orientation, targets=targets, finish=lambda i: finish(i, plan)
    )
    del base
    variants = encode_variants(images, targets, quality=quality, icc_profile=plan.icc_out)
    smallest_wide = min(
        (images[t.spec.name] for t in targets if not t.spec.square),
        key=lambda i: i.width,
        default=next(iter(images.values())),
    )
    placeholder = blurhash(srgb_preview(smallest_wide, plan))
    # ``display`` was taken before draft(), so it is the source's full size.
    return PhotoResult(
        variants=variants,
        placeholder=placeholder,
        width=display[0],
        height=display[1],
        source_format=probe.format,
        source_sha256=hashlib.sha256(data).hexdigest(),
        orientation=orientation,
        frames=probe.frames,
        color=plan.note,
    )


def _decode(im: Image.Image, fmt: str) -> None:
    """Decode frame 0, turning decoder failures into stable rejection codes."""
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise MediaRejected("too_many_pixels", str(exc)) from exc
    except OSError as exc:
        code = "truncated" if "truncated" in str(exc).lower() else "corrupt"
        raise MediaRejected(code, f"{fmt} decode failed: {exc}") from exc
    except (SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error) as exc:
        raise MediaRejected("corrupt", f"{fmt} decode failed: {exc}") from exc
