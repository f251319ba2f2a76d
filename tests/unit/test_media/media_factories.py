"""Fixture factories: every test image and clip is generated here, never checked in."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Quadrant colours of the upright test pattern: top-left, top-right, bottom-left, bottom-right.
QUADRANTS = ((220, 30, 30), (30, 200, 30), (30, 30, 220), (240, 220, 40))


def upright_pattern(width: int = 400, height: int = 300) -> np.ndarray:
    """An asymmetric pattern: four coloured quadrants (any flip or turn moves them)."""
    a = np.zeros((height, width, 3), np.uint8)
    hw, hh = width // 2, height // 2
    a[:hh, :hw], a[:hh, hw:], a[hh:, :hw], a[hh:, hw:] = QUADRANTS
    return a


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels a camera writes for ``orientation`` so a viewer shows ``upright``.

    Derived from the EXIF definition (where the 0th row and 0th column of the stored image
    sit in the visual image), independently of the code under test.
    """
    u = upright
    return {
        1: u,
        2: u[:, ::-1],
        3: u[::-1, ::-1],
        4: u[::-1, :],
        5: u.transpose(1, 0, 2),
        6: np.rot90(u, 1),
        7: u[::-1, ::-1].transpose(1, 0, 2),
        8: np.rot90(u, -1),
    }[orientation].copy()


def jpeg_bytes(im: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


def png_bytes(im: Image.Image, **save: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **save)
    return buf.getvalue()


def exif_with_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def png_declaring(width: int, height: int) -> bytes:
    """A small, structurally valid PNG whose header claims width × height (a bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4, 9)  # a few rows; the rest is "missing"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _xyz(x: float, y: float, z: float) -> bytes:
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    return b"XYZ \x00\x00\x00\x00" + s15(x) + s15(y) + s15(z)


def display_p3_profile() -> bytes:
    """A minimal ICC v2 matrix/TRC profile with Display P3 primaries (D50-adapted)."""
    desc_text = b"Display P3 (test)\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(desc_text)) + desc_text
    desc += b"\x00" * 12 + b"\x00" * 67  # empty Unicode and ScriptCode parts
    curv = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, int(2.2 * 256)) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", _xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", _xyz(0.5151, 0.2412, -0.0011)),
        (b"gXYZ", _xyz(0.2920, 0.6922, 0.0419)),
        (b"bXYZ", _xyz(0.1571, 0.0666, 0.7841)),
        (b"rTRC", curv),
        (b"gTRC", curv),
        (b"bTRC", curv),
        (b"cprt", b"text\x00\x00\x00\x00no copyright\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        pad = (-len(data)) % 4
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\x00" * pad
    size = offset + len(body)
    header = struct.pack(">I", size) + b"lcms" + b"\x02\x10\x00\x00" + b"mntrRGB XYZ "
    header += b"\x00" * 12 + b"acsp" + b"APPL" + b"\x00" * 4 + b"\x00" * 8 + b"\x00" * 8
    header += struct.pack(">I", 0) + _xyz(0.9642, 1.0, 0.8249)[8:] + b"\x00" * 4
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def exiftool_json(paths: list[Path]) -> list[dict]:
    out = subprocess.run(
        ["exiftool", "-j", "-a", "-G1", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def make_clip(
    path: Path,
    *,
    seconds: float,
    size: str,
    rate: int,
    audio: bool = True,
) -> Path:
    """A synthetic H.264 clip from ffmpeg's lavfi test sources."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    cmd += ["-metadata", "title=secret title", "-metadata", "location=+52.3700+004.8900/"]
    if audio:
        cmd += ["-c:a", "aac", "-b:a", "64k"]
    subprocess.run([*cmd, str(path)], check=True)
    return path


requires_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
    reason="ffmpeg/ffprobe not installed (make sysdeps)",
)
requires_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="exiftool not installed (make sysdeps)"
)


def write_variants(result, directory: Path, prefix: str = "v") -> list[Path]:
    """Write a PhotoResult's variants to files (for exiftool) and return their paths."""
    paths = []
    for v in result.variants:
        p = directory / f"{prefix}-{v.name}.{v.ext}"
        p.write_bytes(v.data)
        paths.append(p)
    return paths
