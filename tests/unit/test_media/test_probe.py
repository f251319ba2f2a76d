"""Header-only refusals: every bad upload gets a stable reason code before decoding."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from media.errors import MediaRejected
from media.photo import process_photo
from media.probe import probe_image, sniff, upload_kind
from tests.unit.test_media.media_factories import jpeg_bytes, png_bytes, png_declaring

LIMIT = 50_000_000


def _reject_code(data: bytes, **kwargs: object) -> str:
    with pytest.raises(MediaRejected) as info:
        process_photo(data, max_pixels=kwargs.pop("max_pixels", LIMIT), **kwargs)  # type: ignore[arg-type]
    return info.value.code


def _noise(w: int = 64, h: int = 48) -> Image.Image:
    rng = np.random.default_rng(1)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_a_png_declaring_20000x20000_is_refused_from_its_header() -> None:
    bomb = png_declaring(20_000, 20_000)
    assert len(bomb) < 50_000
    assert _reject_code(bomb) == "too_many_pixels"


def test_the_pixel_limit_is_ours_not_pillows() -> None:
    # 64 MP is below Pillow's own warning threshold (89 MP) but over the configured limit.
    assert _reject_code(png_declaring(8_000, 8_000)) == "too_many_pixels"
    assert _reject_code(jpeg_bytes(_noise(200, 100)), max_pixels=19_999) == "too_many_pixels"


def test_animation_frames_count_against_the_pixel_limit() -> None:
    frames = [Image.new("P", (500, 500), i % 2) for i in range(12)]
    for i, f in enumerate(frames):
        f.putpalette([255, 0, 0, 0, 0, 255] * 128)
        f.putpixel((i, 0), 1 - i % 2)  # distinct frames, so the GIF writer keeps them all
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50)
    gif = buf.getvalue()
    assert probe_image(gif, max_pixels=LIMIT).frames == 12
    # 12 × 250,000 = 3 MP: fine at 50 MP, refused at 2 MP even though one frame is 0.25 MP.
    assert _reject_code(gif, max_pixels=2_000_000) == "too_many_pixels"


def test_a_truncated_jpeg_is_refused_before_decoding() -> None:
    data = jpeg_bytes(_noise(400, 300))
    assert _reject_code(data[: len(data) * 2 // 3]) == "truncated"
    assert _reject_code(data[:300]) == "truncated"


def test_a_truncated_png_and_gif_are_refused() -> None:
    png = png_bytes(_noise(200, 100))
    assert _reject_code(png[:-20]) == "truncated"
    buf = io.BytesIO()
    _noise(200, 100).convert("P").save(buf, "GIF")
    assert _reject_code(buf.getvalue()[: len(buf.getvalue()) // 2]) == "truncated"


def test_a_text_file_renamed_jpg_is_not_an_image() -> None:
    text = b"Dear diary, today I renamed a text file to holiday.jpg\n" * 20
    assert _reject_code(text, declared_type="image/jpeg") == "not_an_image"
    assert _reject_code(text) == "not_an_image"


def test_bytes_that_contradict_the_declared_type_are_refused() -> None:
    assert _reject_code(png_bytes(_noise()), declared_type="image/jpeg") == "type_mismatch"
    assert _reject_code(jpeg_bytes(_noise()), declared_type="text/plain") == "type_mismatch"
    # The honest declaration passes (parameters after ';' are ignored).
    process_photo(jpeg_bytes(_noise()), max_pixels=LIMIT, declared_type="image/jpeg; q=1")


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "ICO", "PPM"])
def test_unsupported_formats_are_refused(fmt: str) -> None:
    buf = io.BytesIO()
    _noise(32, 32).save(buf, fmt)
    code = _reject_code(buf.getvalue())
    assert code == ("not_an_image" if fmt == "PPM" else "unsupported_format")


def test_svg_and_video_are_not_photos() -> None:
    assert _reject_code(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>') == (
        "unsupported_format"
    )
    mp4_head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
    assert sniff(mp4_head) is not None and sniff(mp4_head).kind == "video"  # type: ignore[union-attr]
    assert _reject_code(mp4_head) == "type_mismatch"


def test_empty_and_oversized_uploads() -> None:
    assert _reject_code(b"") == "empty"
    assert _reject_code(jpeg_bytes(_noise()), max_bytes=100) == "too_large"


def test_corrupt_scan_data_is_refused_while_decoding() -> None:
    data = bytearray(png_bytes(_noise(200, 100)))
    # Damage the zlib stream inside IDAT but keep the chunk structure (and CRC) intact.
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 60] = b"\xff" * 50
    assert _reject_code(bytes(data)) in {"corrupt", "truncated"}


def test_probe_reports_header_facts() -> None:
    p = probe_image(jpeg_bytes(_noise(64, 48)), max_pixels=LIMIT)
    assert (p.format, p.content_type, p.width, p.height, p.frames) == (
        "jpeg",
        "image/jpeg",
        64,
        48,
        1,
    )


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + b"\x00" * 60, "photo"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2avc1mp41", "video"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "video"),
        (b"\x1a\x45\xdf\xa3" + b"\x00" * 20, "video"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00mif1heic", "photo"),
        (b"just some text", "photo"),  # refused by the photo path with a reason
        (b"", "photo"),
    ],
)
def test_upload_kind_routes_by_the_bytes_not_the_name(head: bytes, kind: str) -> None:
    assert upload_kind(head) == kind
