"""Pixel modes and colour: bring any decoded image to 8-bit L or RGB without losing colour.

Two stages, so the expensive part runs on a downscaled copy:

* ``to_resizable`` (full size, cheap): 16-bit -> 8-bit by scaling (never clipping), palette and
  1-bit -> L/RGB(A), odd modes -> RGB. Alpha stays, so resizing premultiplies it correctly.
* ``finish`` (after the first downscale): flatten alpha onto white, and convert CMYK or an
  unusable ICC profile to sRGB with a cached lcms2 transform.

ICC policy, decided once per image by ``plan_color``:

* no profile, or a profile equivalent to sRGB -> no profile in the output (sRGB is the default);
* an RGB or grey profile of sane size (Display P3, Adobe RGB, ...) -> kept verbatim on every
  variant, so wide-gamut colour survives (converting to sRGB would clip it);
* CMYK, or a profile that is oversized or does not match the pixels -> converted to sRGB.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)

WHITE = 255
# A profile larger than this is converted away rather than copied into every variant:
# real display profiles are 0.5-4 KB, and a 150 px thumbnail is ~5 KB.
MAX_KEPT_PROFILE_BYTES = 64 * 1024
# How close (in CIE xy, D50-adapted) a profile's primaries must be to sRGB's to count as sRGB.
_SRGB_PRIMARY_TOLERANCE = 0.003
_TRANSFORM_CACHE_SIZE = 32


@dataclass(frozen=True)
class ColorPlan:
    """What to do with colour for one image."""

    icc_out: bytes | None = field(repr=False)  # profile to embed in every output variant
    convert_from: bytes | None = field(repr=False)  # convert from this to sRGB, post-downscale
    note: str  # "untagged" | "srgb" | "kept-profile" | "converted-to-srgb" | "naive-cmyk"


def to_resizable(im: Image.Image) -> Image.Image:
    """Full-size, cheap mode normalisation to one of L, LA, RGB, RGBA or CMYK."""
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" in im.info:
        return im.convert("RGBA")
    if mode in ("L", "LA", "RGB", "RGBA", "CMYK"):
        return im
    if mode.startswith("I;16") or mode == "I":
        return _sixteen_bit_to_l(im)
    if mode == "P":
        return im.convert("RGBA" if im.has_transparency_data else "RGB")
    if mode in ("PA", "RGBa", "RGBX"):
        return im.convert("RGBA" if mode != "RGBX" else "RGB")
    if mode == "La":
        return im.convert("LA")
    if mode in ("1", "F"):
        return im.convert("L")
    return im.convert("RGB")


# Rows scaled at a time: bounds the 32-bit temporaries to a few MB instead of 4 bytes per pixel
# of the whole image (a 50 MP 16-bit PNG otherwise peaked near 800 MB).
_SCALE_ROWS = 256


def _sixteen_bit_to_l(im: Image.Image) -> Image.Image:
    # Pillow's convert("L") clips 16-bit values at 255; scale 0..65535 onto 0..255 instead.
    src = np.asarray(im)
    narrow = np.empty(src.shape, np.uint8)
    for top in range(0, src.shape[0], _SCALE_ROWS):
        wide = np.clip(src[top : top + _SCALE_ROWS], 0, 65535).astype(np.uint32)
        narrow[top : top + _SCALE_ROWS] = (wide * 255 + 32767) // 65535
    return Image.fromarray(narrow, mode="L")


def plan_color(mode: str, icc: bytes | None) -> ColorPlan:
    """Decide the ICC handling for an image in ``mode`` (after to_resizable) with ``icc``."""
    if mode == "CMYK":
        if icc and _profile_space(icc) == "CMYK":
            return ColorPlan(None, icc, "converted-to-srgb")
        # No usable profile: Pillow's conversion (it undoes Adobe's inverted CMYK) is the best
        # available; there is no profile to honour.
        return ColorPlan(None, None, "naive-cmyk")
    if not icc:
        return ColorPlan(None, None, "untagged")
    space = _profile_space(icc)
    if space is None:
        log.warning("dropping an unparseable ICC profile (%d bytes)", len(icc))
        return ColorPlan(None, None, "untagged")
    wanted = "GRAY" if mode in ("L", "LA") else "RGB"
    if space != wanted:
        log.warning("dropping a %s ICC profile on %s pixels", space, mode)
        return ColorPlan(None, None, "untagged")
    if space == "RGB" and is_srgb(icc):
        return ColorPlan(None, None, "srgb")
    if len(icc) > MAX_KEPT_PROFILE_BYTES:
        if space == "RGB":
            return ColorPlan(None, icc, "converted-to-srgb")
        return ColorPlan(None, None, "untagged")
    return ColorPlan(icc, None, "kept-profile")


def finish(im: Image.Image, plan: ColorPlan) -> Image.Image:
    """Flatten alpha and apply the colour plan: the result is L or RGB with empty ``info``."""
    if im.mode == "RGBA":
        flat = Image.new("RGB", im.size, (WHITE, WHITE, WHITE))
        flat.paste(im.convert("RGB"), mask=im.getchannel("A"))
        im = flat
    elif im.mode == "LA":
        flat = Image.new("L", im.size, WHITE)
        flat.paste(im.getchannel("L"), mask=im.getchannel("A"))
        im = flat
    if plan.convert_from is not None:
        im = ImageCms.applyTransform(im, _transform_to_srgb(plan.convert_from, im.mode))
    elif im.mode == "CMYK":
        im = im.convert("RGB")
    im.info = {}
    return im


def srgb_preview(im: Image.Image, plan: ColorPlan) -> Image.Image:
    """An sRGB RGB copy of a small finished image, e.g. for the placeholder hash."""
    if plan.icc_out is not None and im.mode == "RGB":
        return ImageCms.applyTransform(im, _transform_to_srgb(plan.icc_out, "RGB"))
    return im if im.mode == "RGB" else im.convert("RGB")


def is_srgb(icc: bytes) -> bool:
    """True when an RGB profile's primaries are sRGB's (or a LUT profile says it is sRGB)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
    except (OSError, ImageCms.PyCMSError):
        return False
    colorants = _primaries(profile)
    if colorants is None:
        return "srgb" in (profile.profile_description or "").lower()
    return all(
        abs(a - b) <= _SRGB_PRIMARY_TOLERANCE
        for got, ref in zip(colorants, _srgb_primaries(), strict=True)
        for a, b in zip(got, ref, strict=True)
    )


def _primaries(profile: ImageCms.core.CmsProfile) -> tuple[tuple[float, float], ...] | None:
    out = []
    for colorant in (profile.red_colorant, profile.green_colorant, profile.blue_colorant):
        if not colorant:
            return None
        out.append((colorant[1][0], colorant[1][1]))  # chromaticity (x, y)
    return tuple(out)


_SRGB_PROFILE: ImageCms.ImageCmsProfile | None = None
_SRGB_PRIMARIES: tuple[tuple[float, float], ...] | None = None


def _srgb() -> ImageCms.ImageCmsProfile:
    global _SRGB_PROFILE
    if _SRGB_PROFILE is None:
        _SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return _SRGB_PROFILE


def _srgb_primaries() -> tuple[tuple[float, float], ...]:
    global _SRGB_PRIMARIES
    if _SRGB_PRIMARIES is None:
        _SRGB_PRIMARIES = _primaries(_srgb().profile)
        assert _SRGB_PRIMARIES is not None
    return _SRGB_PRIMARIES


def _profile_space(icc: bytes) -> str | None:
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space
    except (OSError, ImageCms.PyCMSError):
        return None
    return space.strip().upper()


# Building an lcms2 transform costs ~5 ms; uploads from one camera share a profile.
_TRANSFORMS: OrderedDict[tuple[str, str], ImageCms.ImageCmsTransform] = OrderedDict()


def _transform_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    key = (hashlib.sha256(icc).hexdigest(), mode)
    transform = _TRANSFORMS.get(key)
    if transform is None:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source, _srgb(), mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL
        )
        _TRANSFORMS[key] = transform
        if len(_TRANSFORMS) > _TRANSFORM_CACHE_SIZE:
            _TRANSFORMS.popitem(last=False)
    else:
        _TRANSFORMS.move_to_end(key)
    return transform
