"""Refuse bad uploads from their headers, before any pixel is decoded.

Checks, in order: size in bytes, the real format from magic bytes (never the file name),
the declared content type against it, structural completeness (a truncated file is refused
here rather than half-decoded), and width × height × frames against the pixel limit.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from dataclasses import dataclass
from functools import cache

from PIL import Image

from media.errors import MediaRejected


@dataclass(frozen=True)
class Sniffed:
    """What the magic bytes say a file is."""

    kind: str  # "image" | "video"
    format: str  # short name: jpeg, png, gif, webp, heif, avif, mp4, webm, tiff, ...
    content_type: str
    supported: bool


@dataclass(frozen=True)
class ImageProbe:
    """Header facts about an accepted image; width and height are as stored (pre-orientation)."""

    format: str
    content_type: str
    width: int
    height: int
    frames: int

    @property
    def pixels(self) -> int:
        return self.width * self.height * self.frames


# Image formats this pipeline decodes, mapped to the Pillow plugins allowed to open them.
# Restricting plugins keeps exotic decoders (EPS via Ghostscript, PSD, ...) out of reach.
PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    "jpeg": ("JPEG", "MPO"),
    "png": ("PNG",),
    "gif": ("GIF",),
    "webp": ("WEBP",),
    "heif": ("HEIF",),
    "avif": ("AVIF",),
}

_CONTENT_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "heif": "image/heif",
    "avif": "image/avif",
    "tiff": "image/tiff",
    "bmp": "image/bmp",
    "ico": "image/vnd.microsoft.icon",
    "psd": "image/vnd.adobe.photoshop",
    "jp2": "image/jp2",
    "jxl": "image/jxl",
    "svg": "image/svg+xml",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
}

# Declared content types (from the client) and the sniffed format each may honestly carry.
_DECLARED: dict[str, str] = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/png": "png",
    "image/apng": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/heic": "heif",
    "image/heif": "heif",
    "image/heic-sequence": "heif",
    "image/heif-sequence": "heif",
    "image/avif": "avif",
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QT_BRANDS = {b"qt  "}


def sniff(head: bytes) -> Sniffed | None:
    """Identify a file from its first bytes (64 are enough); None if nothing we know."""
    if head.startswith(b"\xff\xd8\xff"):
        return _sniffed("image", "jpeg", True)
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _sniffed("image", "png", True)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _sniffed("image", "gif", True)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _sniffed("image", "webp", True)
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return _sniffed("video", "webm", True)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _sniffed("image", "tiff", False)
    if head.startswith(b"BM") and len(head) >= 14:
        return _sniffed("image", "bmp", False)
    if head.startswith(b"\x00\x00\x01\x00"):
        return _sniffed("image", "ico", False)
    if head.startswith(b"8BPS"):
        return _sniffed("image", "psd", False)
    if head.startswith(b"\x00\x00\x00\x0cjP  ") or head.startswith(b"\xff\x4f\xff\x51"):
        return _sniffed("image", "jp2", False)
    if head.startswith(b"\xff\x0a") or head.startswith(b"\x00\x00\x00\x0cJXL "):
        return _sniffed("image", "jxl", False)
    text = head.lstrip()[:256].lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in text):
        return _sniffed("image", "svg", False)
    return None


def probe_image(
    data: bytes,
    *,
    max_pixels: int,
    max_bytes: int | None = None,
    declared_type: str | None = None,
) -> ImageProbe:
    """Validate an image upload from its headers; raise MediaRejected with a stable code."""
    if not data:
        raise MediaRejected("empty", "the upload is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise MediaRejected("too_large", f"{len(data)} bytes is over the {max_bytes} limit")
    found = sniff(data[:512])
    if found is None:
        raise MediaRejected("not_an_image", "the bytes are not an image format we know")
    if found.kind != "image":
        raise MediaRejected("type_mismatch", f"a {found.format} video was sent as a photo")
    if not found.supported:
        raise MediaRejected("unsupported_format", f"{found.format} images are not accepted")
    if declared_type is not None:
        claimed = _DECLARED.get(declared_type.split(";")[0].strip().lower())
        if claimed != found.format:
            raise MediaRejected(
                "type_mismatch", f"declared {declared_type!r} but the bytes are {found.format}"
            )

    walk = _STRUCTURE_WALKERS[found.format](data, max_pixels)
    width, height = _header_size(data, found.format)
    frames = walk.frames
    if found.format in ("heif", "avif"):
        frames = _pillow_frames(data, found.format)
    # A GIF frame may reach past the logical screen; Pillow then grows the canvas.
    width, height = max(width, walk.width), max(height, walk.height)
    pixels = width * height * frames
    if pixels > max_pixels:
        raise MediaRejected(
            "too_many_pixels",
            f"{width}×{height}×{frames} frames = {pixels} pixels is over the {max_pixels} limit",
        )
    return ImageProbe(found.format, found.content_type, width, height, frames)


@cache
def _register_heif() -> None:
    # pillow-heif adds the HEIF plugin to Pillow's registry; skip thumbnails and depth/aux
    # images so they are neither decoded nor carried into outputs.
    from pillow_heif import register_heif_opener

    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def open_lazy(data: bytes, fmt: str) -> Image.Image:
    """Open without decoding, with only the plugins for ``fmt`` allowed to claim the bytes."""
    if fmt == "heif":
        _register_heif()
    with warnings.catch_warnings():
        # Our own pixel limit governs; Pillow's warning threshold is not a decision.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(io.BytesIO(data), formats=PILLOW_FORMATS[fmt])
        except Image.DecompressionBombError as exc:
            raise MediaRejected("too_many_pixels", str(exc)) from exc
        except Exception as exc:  # Pillow raises many types for malformed headers
            raise MediaRejected("corrupt", f"unreadable {fmt} header: {exc}") from exc


def _header_size(data: bytes, fmt: str) -> tuple[int, int]:
    with open_lazy(data, fmt) as im:
        return im.size


def _pillow_frames(data: bytes, fmt: str) -> int:
    with open_lazy(data, fmt) as im:
        return int(getattr(im, "n_frames", 1))


def _sniffed(kind: str, fmt: str, supported: bool) -> Sniffed:
    return Sniffed(kind, fmt, _CONTENT_TYPES[fmt], supported)


def _sniff_ftyp(head: bytes) -> Sniffed | None:
    size = struct.unpack(">I", head[:4])[0]
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, min(size, len(head)) - 3, 4)}
    if major in _AVIF_BRANDS or (major == b"mif1" and brands & _AVIF_BRANDS):
        return _sniffed("image", "avif", True)
    if major in _HEIF_BRANDS or brands & _HEIF_BRANDS:
        return _sniffed("image", "heif", True)
    if major in _QT_BRANDS:
        return _sniffed("video", "mov", True)
    return _sniffed("video", "mp4", True)


@dataclass(frozen=True)
class _Walk:
    frames: int = 1
    width: int = 0  # largest extent seen in the structure, if the format reports one
    height: int = 0


def _truncated(fmt: str, where: str) -> MediaRejected:
    return MediaRejected("truncated", f"the {fmt} file ends early ({where})")


# Any JPEG marker that can follow entropy-coded data: FF then not 00 (stuffing),
# not D0-D7 (restart markers) and not FF (fill).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _walk_jpeg(data: bytes, max_pixels: int) -> _Walk:
    n, pos = len(data), 2
    while True:
        if pos + 2 > n:
            raise _truncated("jpeg", "no end-of-image marker")
        if data[pos] != 0xFF:
            raise MediaRejected("corrupt", f"jpeg: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI; trailers (MPF images, vendor blobs) may follow
            return _Walk()
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            raise _truncated("jpeg", "inside a segment header")
        end = pos + 2 + struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if end > n:
            raise _truncated("jpeg", "inside a segment")
        if marker == 0xDA:  # start of scan: skip entropy-coded data to the next marker
            found = _JPEG_MARKER.search(data, end)
            if found is None:
                raise _truncated("jpeg", "inside scan data")
            pos = found.start()
        else:
            pos = end


def _walk_png(data: bytes, max_pixels: int) -> _Walk:
    n, pos, frames = len(data), 8, 1
    while pos + 8 <= n:
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > n:
            raise _truncated("png", f"inside the {ctype!r} chunk")
        if ctype == b"acTL" and length >= 8:
            frames = max(1, struct.unpack(">I", data[pos + 8 : pos + 12])[0])
        elif ctype == b"IEND":
            return _Walk(frames=frames)
        pos = end
    raise _truncated("png", "no IEND chunk")


def _walk_gif(data: bytes, max_pixels: int) -> _Walk:
    n = len(data)
    if n < 13:
        raise _truncated("gif", "inside the header")
    screen_w, screen_h, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    width, height, frames = screen_w, screen_h, 0

    def skip_sub_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise _truncated("gif", "inside a data block")
            size = data[p]
            p += 1 + size
            if size == 0:
                return p

    while pos < n:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then sub-blocks
            pos = skip_sub_blocks(pos + 2)
        elif block == 0x2C:  # image descriptor
            if pos + 10 > n:
                raise _truncated("gif", "inside an image descriptor")
            x, y, w, h, fflags = struct.unpack("<HHHHB", data[pos + 1 : pos + 10])
            width, height = max(width, x + w), max(height, y + h)
            frames += 1
            # Stop counting as soon as the limit is passed: a frame bomb can be huge.
            if frames * width * height > max_pixels:
                break
            pos += 10 + (3 << ((fflags & 7) + 1) if fflags & 0x80 else 0)
            pos = skip_sub_blocks(pos + 1)  # +1: LZW minimum code size
        else:
            raise MediaRejected("corrupt", f"gif: unknown block 0x{block:02x} at byte {pos}")
    if frames == 0:
        raise _truncated("gif", "no image data")
    # A missing trailer after a complete block is common in the wild and harmless.
    return _Walk(frames=frames, width=width, height=height)


def _walk_webp(data: bytes, max_pixels: int) -> _Walk:
    riff_end = 8 + struct.unpack("<I", data[4:8])[0]
    if riff_end > len(data):
        raise _truncated("webp", "shorter than its RIFF header says")
    pos, frames = 12, 0
    while pos + 8 <= riff_end:
        fourcc, size = struct.unpack("<4sI", data[pos : pos + 8])
        if fourcc == b"ANMF":
            frames += 1
        pos += 8 + size + (size & 1)
    if pos > riff_end:
        raise _truncated("webp", "inside a chunk")
    return _Walk(frames=max(frames, 1))


def _walk_bmff(data: bytes, max_pixels: int) -> _Walk:
    n, pos, boxes = len(data), 0, set()
    while pos + 8 <= n:
        size, btype = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            if pos + 16 > n:
                raise _truncated("heif", "inside a box header")
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = n - pos
        if size < 8 or pos + size > n:
            raise _truncated("heif", f"inside the {btype!r} box")
        boxes.add(btype)
        pos += size
    if pos != n or not {b"ftyp", b"meta"} <= boxes:
        raise _truncated("heif", "incomplete box structure")
    return _Walk()


_STRUCTURE_WALKERS = {
    "jpeg": _walk_jpeg,
    "png": _walk_png,
    "gif": _walk_gif,
    "webp": _walk_webp,
    "heif": _walk_bmff,
    "avif": _walk_bmff,
}


def upload_kind(head: bytes) -> str:
    """Which pipeline an upload goes to, from its first bytes: ``video`` or ``photo``.

    Everything that is not recognisably a video goes to the photo path, which refuses
    non-images with a reason, so every upload gets exactly one answer.
    """
    found = sniff(head)
    return "video" if found is not None and found.kind == "video" else "photo"
