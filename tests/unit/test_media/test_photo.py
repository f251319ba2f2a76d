"""The photo path end to end: modes, colour, metadata, determinism and the size ladder."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from media.photo import process_photo
from media.renditions import DEFAULT_LADDER
from tests.unit.test_media.media_factories import (
    display_p3_profile,
    exif_with_orientation,
    exiftool_json,
    jpeg_bytes,
    png_bytes,
    requires_exiftool,
    write_variants,
)

LIMIT = 50_000_000
# exiftool -G1 groups a stripped JPEG may still show: file facts, JFIF, derived values, ICC.
ALLOWED_GROUPS = {"SourceFile", "ExifTool", "System", "File", "JFIF", "Composite"}


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _photo(w: int = 1200, h: int = 900, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (w + h)], -1)
    noisy = base + rng.normal(0, 6, (h, w, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def test_six_outputs_with_the_ladders_sizes() -> None:
    result = process_photo(jpeg_bytes(_photo(2400, 1800)), max_pixels=LIMIT)
    sizes = {v.name: (v.width, v.height) for v in result.variants}
    assert sizes == {
        "sq150": (150, 150),
        "w320": (320, 240),
        "w640": (640, 480),
        "w1080": (1080, 810),
        "w2048": (2048, 1536),
    }
    assert [v.name for v in result.variants] == [s.name for s in DEFAULT_LADDER]
    assert 18 <= len(result.placeholder) <= 40  # the sixth output: a BlurHash string
    for v in result.variants:
        im = _open(v.data)
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (v.width, v.height))
        assert v.content_type == "image/jpeg" and v.size == len(v.data)


def test_processing_is_deterministic() -> None:
    data = jpeg_bytes(_photo(), exif=exif_with_orientation(6))
    first = process_photo(data, max_pixels=LIMIT)
    second = process_photo(data, max_pixels=LIMIT)
    assert [v.sha256 for v in first.variants] == [v.sha256 for v in second.variants]
    assert [v.data for v in first.variants] == [v.data for v in second.variants]
    assert first.placeholder == second.placeholder
    assert first.source_sha256 == second.source_sha256


def test_a_small_image_is_never_upscaled() -> None:
    result = process_photo(png_bytes(_photo(100, 80)), max_pixels=LIMIT)
    sizes = {v.name: (v.width, v.height) for v in result.variants}
    assert sizes == {
        "sq150": (80, 80),
        "w320": (100, 80),
        "w640": (100, 80),
        "w1080": (100, 80),
        "w2048": (100, 80),
    }
    # Equal sizes share one encode, so the store dedupes them.
    assert len({v.sha256 for v in result.variants if v.name != "sq150"}) == 1


def test_a_panorama_still_gets_a_full_resolution_square() -> None:
    result = process_photo(jpeg_bytes(_photo(3000, 300)), max_pixels=LIMIT)
    assert (result.variant("sq150").width, result.variant("sq150").height) == (150, 150)
    assert (result.variant("w320").width, result.variant("w320").height) == (320, 32)


@requires_exiftool
def test_every_variant_is_stripped_of_all_metadata(tmp_path: Path) -> None:
    src = tmp_path / "leaky.jpg"
    thumb = tmp_path / "thumb.jpg"
    thumb.write_bytes(jpeg_bytes(_photo(160, 120)))
    src.write_bytes(
        jpeg_bytes(
            _photo(),
            exif=exif_with_orientation(6),
            comment=b"shot at home",
            xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF>'
            b"</x:xmpmeta>",
        )
    )
    subprocess.run(
        [
            "exiftool", "-q", "-overwrite_original", "-Make=Acme", "-Model=Phone 9",
            "-SerialNumber=SN123", "-GPSLatitude=52.37", "-GPSLatitudeRef=N",
            "-GPSLongitude=4.89", "-GPSLongitudeRef=E", "-XMP-dc:Creator=Alice",
            "-IPTC:Keywords=private", "-IPTC:City=Amsterdam", f"-ThumbnailImage<={thumb}",
            str(src),
        ],
        check=True,
    )  # fmt: skip
    before = exiftool_json([src])[0]
    leaked_groups = {k.split(":")[0] for k in before}
    assert {"IFD0", "GPS", "XMP-dc", "IPTC", "IFD1"} <= leaked_groups  # the fixture leaks
    assert "File:Comment" in before

    result = process_photo(src.read_bytes(), max_pixels=LIMIT)
    for tags in exiftool_json(write_variants(result, tmp_path)):
        groups = {k.split(":")[0] for k in tags if ":" in k}
        unexpected = {g for g in groups if g not in ALLOWED_GROUPS and not g.startswith("ICC")}
        assert not unexpected, (tags["SourceFile"], unexpected)
        assert "File:Comment" not in tags
        assert "File:ExifByteOrder" not in tags


def test_cmyk_is_converted_to_rgb_with_the_right_colours() -> None:
    cmyk = Image.new("CMYK", (300, 200), (255, 0, 0, 0))  # pure cyan ink
    cmyk.paste((0, 0, 0, 255), (150, 0, 300, 200))  # right half: pure black ink
    result = process_photo(jpeg_bytes(cmyk), max_pixels=LIMIT)
    im = _open(result.variant("w320").data)
    assert im.mode == "RGB"
    left = np.asarray(im)[100, 60].astype(int)
    right = np.asarray(im)[100, 240].astype(int)
    assert left[0] < 40 and left[1] > 200 and left[2] > 200, left
    assert right.max() < 40, right
    assert result.color == "naive-cmyk"


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 512).astype(np.uint16), (64, 1))
    data = png_bytes(Image.fromarray(ramp))
    assert _open(data).mode.startswith("I")
    result = process_photo(data, max_pixels=LIMIT)
    out = np.asarray(_open(result.variant("w320").data), dtype=np.float64)
    assert out.ndim == 2  # stays greyscale
    assert 120 < out.mean() < 135  # clipping would give ~254
    row = out[20]
    assert row[2] < 10 and row[-3] > 245
    assert np.all(np.diff(row[::16]) >= -2)  # a monotonic ramp survives


def test_palette_transparency_is_flattened_onto_white() -> None:
    im = Image.new("P", (200, 100), 0)
    im.putpalette([0, 0, 0, 200, 20, 20] + [0] * 762)
    im.paste(1, (100, 0, 200, 100))
    data = png_bytes(im, transparency=0)
    result = process_photo(data, max_pixels=LIMIT)
    out = np.asarray(_open(result.variant("w320").data)).astype(int)
    assert out[50, 40].min() > 245  # transparent -> white, not black
    assert abs(out[50, 160] - [200, 20, 20]).max() < 25


def test_rgba_png_and_la_are_flattened() -> None:
    rgba = Image.new("RGBA", (100, 50), (0, 0, 255, 0))
    rgba.paste((0, 128, 0, 255), (50, 0, 100, 50))
    out = np.asarray(_open(process_photo(png_bytes(rgba), max_pixels=LIMIT).variants[1].data))
    assert out[25, 10].min() > 245 and abs(out[25, 90].astype(int) - [0, 128, 0]).max() < 20
    la = Image.new("LA", (100, 50), (0, 0))
    out = np.asarray(_open(process_photo(png_bytes(la), max_pixels=LIMIT).variants[1].data))
    assert out.min() > 245


def test_an_animated_gif_yields_its_first_frame() -> None:
    frames = [Image.new("RGB", (120, 90), c) for c in ((220, 20, 20), (20, 20, 220), (20, 200, 20))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = process_photo(buf.getvalue(), max_pixels=LIMIT)
    assert result.frames == 3
    pixel = np.asarray(_open(result.variant("w320").data))[45, 60].astype(int)
    assert abs(pixel - [220, 20, 20]).max() < 30


def test_an_animated_webp_yields_its_first_frame() -> None:
    frames = [Image.new("RGB", (120, 90), c) for c in ((20, 20, 220), (220, 20, 20))]
    buf = io.BytesIO()
    frames[0].save(
        buf, "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True
    )
    result = process_photo(buf.getvalue(), max_pixels=LIMIT)
    assert result.frames == 2
    pixel = np.asarray(_open(result.variant("w320").data))[45, 60].astype(int)
    assert abs(pixel - [20, 20, 220]).max() < 30


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_display_p3_profile_is_kept_on_every_variant(fmt: str) -> None:
    p3 = display_p3_profile()
    colour = (200, 60, 40)
    buf = io.BytesIO()
    Image.new("RGB", (400, 300), colour).save(buf, fmt, icc_profile=p3, quality=95)
    result = process_photo(buf.getvalue(), max_pixels=LIMIT)
    assert result.color == "kept-profile"
    for v in result.variants:
        im = _open(v.data)
        assert im.info.get("icc_profile") == p3, v.name
        # The numbers are unchanged because the profile that gives them meaning travels along.
        assert abs(np.asarray(im)[v.height // 2, v.width // 2].astype(int) - colour).max() < 8
    # The placeholder is computed in sRGB: P3 red is more saturated than sRGB can show.
    assert result.placeholder


def test_an_srgb_profile_is_dropped_as_redundant() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = jpeg_bytes(_photo(400, 300), icc_profile=srgb)
    result = process_photo(data, max_pixels=LIMIT)
    assert result.color == "srgb"
    assert all("icc_profile" not in _open(v.data).info for v in result.variants)


def test_an_oversized_profile_is_converted_to_srgb() -> None:
    p3 = display_p3_profile()
    # Pad the profile past the keep limit (the declared size grows with it).
    padded = (len(p3) + 70_000).to_bytes(4, "big") + p3[4:] + b"\x00" * 70_000
    data = jpeg_bytes(Image.new("RGB", (400, 300), (200, 60, 40)), icc_profile=padded)
    result = process_photo(data, max_pixels=LIMIT)
    assert result.color == "converted-to-srgb"
    im = _open(result.variant("w320").data)
    assert "icc_profile" not in im.info
    r, g, _b = np.asarray(im)[150 // 2, 160].astype(int)
    assert r > 210 and g < 60  # P3 (200, 60, 40) is a more saturated red in sRGB


def test_heic_and_avif_are_decoded() -> None:
    import pillow_heif

    rgb = _photo(256, 192)
    heif = pillow_heif.from_pillow(rgb)
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    result = process_photo(buf.getvalue(), max_pixels=LIMIT, declared_type="image/heic")
    assert result.source_format == "heif" and result.variant("w320").width == 256

    buf = io.BytesIO()
    rgb.save(buf, "AVIF", quality=90)
    result = process_photo(buf.getvalue(), max_pixels=LIMIT, declared_type="image/avif")
    assert result.source_format == "avif" and result.variant("w320").width == 256


def test_a_large_jpeg_uses_dct_scaling_and_keeps_its_full_size_facts() -> None:
    result = process_photo(jpeg_bytes(_photo(4400, 2200)), max_pixels=LIMIT)
    assert (result.width, result.height) == (4400, 2200)
    assert (result.variant("w2048").width, result.variant("w2048").height) == (2048, 1024)
