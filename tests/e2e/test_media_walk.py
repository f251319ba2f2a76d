"""Uploads end to end on the real services: API → Kafka → worker (process pools) → store → API.

Every file is generated here. The variants are checked with tools nobody here wrote:
``exiftool`` for leftover metadata, Pillow for the orientation pixel by pixel, ``ffprobe``
(through the API's own URLs) for the Reel rungs.
"""

from __future__ import annotations

import io
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from PIL import Image, ImageCms

from schemas.events import make_event
from schemas.topics import MEDIA
from tests.factories import unique
from tests.support import wait_until
from tests.unit.test_media.media_factories import (
    QUADRANTS,
    exiftool_json,
    make_clip,
    png_declaring,
    stored_for_orientation,
)

# A portrait phone photo: 3024×4032 on screen, stored landscape with EXIF orientation 6.
UPRIGHT_W, UPRIGHT_H = 3024, 4032
PHOTO_VARIANTS = {"sq150", "w320", "w640", "w1080", "w2048"}
# exiftool groups a stripped JPEG may still show: file facts, JFIF, derived values, ICC.
CLEAN_GROUPS = ("ExifTool", "System", "File", "JFIF", "Composite", "ICC")
# How far a quadrant's mean colour may drift (JPEG, resampling, the noise we add).
COLOUR_TOLERANCE = 30


class User:
    def __init__(self, api: Any, token_for: Any, user_id: str | None = None) -> None:
        self.url = api.url
        self.id = user_id or unique("u")
        self.headers = token_for(self.id)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers=self.headers, params=params, timeout=30)

    def upload(self, data: bytes, filename: str, content_type: str) -> str:
        r = httpx.post(
            f"{self.url}/v1/media",
            headers=self.headers,
            files={"file": (filename, data, content_type)},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["state"] == "pending" and body["event_id"]
        return str(body["media_id"])

    def media(self, media_id: str) -> dict[str, Any]:
        r = self.get(f"/v1/media/{media_id}")
        assert r.status_code in (200, 404), r.text
        return r.json() if r.status_code == 200 else {"state": "unknown"}

    def wait_done(self, media_id: str, *, timeout_s: float = 60) -> dict[str, Any]:
        return wait_until(
            lambda: (lambda m: m if m["state"] in ("ready", "failed") else None)(
                self.media(media_id)
            ),
            timeout_s=timeout_s,
            interval_s=0.2,
            what=f"media {media_id} to finish",
        )


@pytest.fixture
def owner(api: Any, worker: Any, token_for: Any) -> User:
    return User(api, token_for)


# --- generated uploads -----------------------------------------------------------------


def _add_metadata(path: Path, thumb: Path) -> None:
    """IPTC and an IFD1 thumbnail, which Pillow does not write, via exiftool itself."""
    subprocess.run(
        [
            "exiftool", "-q", "-overwrite_original",
            "-IPTC:Keywords=secret", "-IPTC:City=Amsterdam", "-IPTC:By-line=Ada",
            f"-ThumbnailImage<={thumb}", str(path),
        ],
        check=True,
    )  # fmt: skip


def phone_photo(directory: Path) -> Path:
    """12 MP, orientation 6, with EXIF, GPS, maker notes, XMP, IPTC, ICC, a comment, IFD1."""
    upright = np.repeat(
        np.repeat(_quadrants_small(), UPRIGHT_H // 4, axis=0), UPRIGHT_W // 4, axis=1
    )
    noise = np.random.default_rng(6).integers(-10, 11, upright.shape, dtype=np.int16)
    upright = np.clip(upright.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    stored = Image.fromarray(stored_for_orientation(upright, 6))
    assert stored.size == (UPRIGHT_H, UPRIGHT_W)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    exif[0x0131] = "PhoneOS 17.1"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:05:01 12:00:00"
    sub[0x927C] = b"MAKERNOTE-secret-serial-0042" * 4
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
        b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        b'tiff:Orientation="6" exif:GPSLatitude="52,22.0N"/></rdf:RDF></x:xmpmeta>'
    )
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = directory / "phone.jpg"
    stored.save(
        path, "JPEG", quality=90, exif=exif, xmp=xmp, icc_profile=icc, comment=b"secret comment"
    )
    thumb = directory / "thumb.jpg"
    stored.resize((160, 120)).save(thumb, "JPEG")
    _add_metadata(path, thumb)
    return path


def _quadrants_small() -> np.ndarray:
    small = np.zeros((4, 4, 3), np.uint8)
    small[:2, :2], small[:2, 2:], small[2:, :2], small[2:, 2:] = QUADRANTS
    return small


def small_jpeg(width: int = 1200, height: int = 900, seed: int = 1) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


# --- checks ----------------------------------------------------------------------------


def groups(record: dict[str, Any]) -> set[str]:
    return {k.split(":")[0] for k in record if k != "SourceFile"}


def leftovers(record: dict[str, Any]) -> list[str]:
    """Tags exiftool still finds that a stripped file must not carry."""
    bad = [k for k in record if k != "SourceFile" and not k.split(":")[0].startswith(CLEAN_GROUPS)]
    bad += [k for k in record if k.endswith((":Comment", ":Orientation"))]
    return bad


def quadrant_means(im: Image.Image) -> list[tuple[float, ...]]:
    """Mean colour of the middle of each quadrant: top-left, top-right, bottom-left, -right."""
    a = np.asarray(im.convert("RGB"), dtype=np.float32)
    h, w = a.shape[:2]
    qh, qw = h // 2, w // 2
    means = []
    for top, left in ((0, 0), (0, qw), (qh, 0), (qh, qw)):
        block = a[top + qh // 4 : top + 3 * qh // 4, left + qw // 4 : left + 3 * qw // 4]
        means.append(tuple(block.reshape(-1, 3).mean(axis=0)))
    return means


def fetch(user: User, url: str) -> bytes:
    r = user.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return r.content


def ffprobe(url: str, *args: str, user: User | None = None) -> dict[str, Any]:
    """ffprobe a file or URL; files are served with the viewer's bearer token."""
    auth = ["-headers", f"Authorization: {user.headers['Authorization']}\r\n"] if user else []
    out = subprocess.run(
        ["ffprobe", "-v", "error", *auth, "-of", "json", *args, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


# --- photos ----------------------------------------------------------------------------


def test_phone_photo_becomes_ready_with_oriented_metadata_free_variants(
    owner: User, tmp_path: Path
) -> None:
    source = phone_photo(tmp_path)
    (src_record,) = exiftool_json([source])
    # The source really carries everything that must go, so the check below can fail.
    assert {"IFD0", "ExifIFD", "GPS", "IFD1", "IPTC"} <= groups(src_record)
    assert any(g.startswith("XMP") for g in groups(src_record))
    assert any("MakerNote" in k for k in src_record)
    assert src_record.get("File:Comment") == "secret comment"
    assert src_record.get("IFD0:Orientation") == "Rotate 90 CW"

    media_id = owner.upload(source.read_bytes(), "IMG_0001.jpg", "image/jpeg")
    media = owner.wait_done(media_id)
    assert media["state"] == "ready", media
    assert (media["width"], media["height"]) == (UPRIGHT_W, UPRIGHT_H)
    assert media["placeholder"] and media["kind"] == "photo"
    by_name = {v["name"]: v for v in media["variants"]}
    assert set(by_name) == PHOTO_VARIANTS

    paths = []
    for name, v in by_name.items():
        assert v["url"].startswith("/files/variants/") and v["content_type"] == "image/jpeg"
        data = fetch(owner, v["url"])
        path = tmp_path / f"{name}.jpg"
        path.write_bytes(data)
        paths.append(path)
        im = Image.open(io.BytesIO(data))
        assert im.size == (v["width"], v["height"])
        if name == "sq150":
            assert im.size == (150, 150)
        else:  # portrait, as displayed: the orientation was applied to the pixels
            width = int(name[1:])
            assert im.size == (width, round(UPRIGHT_H * width / UPRIGHT_W))
        for got, want in zip(quadrant_means(im), QUADRANTS, strict=True):
            assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < COLOUR_TOLERANCE, (
                name,
                got,
                want,
            )
    for record in exiftool_json(paths):
        assert not leftovers(record), (record["SourceFile"], leftovers(record))


def test_hostile_uploads_fail_with_a_reason_and_the_worker_keeps_going(
    owner: User, worker: Any, api: Any, token_for: Any
) -> None:
    good = small_jpeg()
    truncated = good[: len(good) * 2 // 3]
    png = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(png, "PNG")
    cases = {
        # name: (bytes, filename, declared type, expected code)
        "bomb": (png_declaring(20_000, 20_000), "bomb.png", "image/png", "too_many_pixels"),
        "truncated": (truncated, "cut.jpg", "image/jpeg", "truncated"),
        "text": (b"not a picture, just words\n" * 40, "notes.jpg", "image/jpeg", "not_an_image"),
        "lying": (png.getvalue(), "really-a-png.jpg", "image/jpeg", "type_mismatch"),
    }
    ids = {name: owner.upload(data, fn, ct) for name, (data, fn, ct, _) in cases.items()}
    after = owner.upload(good, "fine.jpg", "image/jpeg")  # sent after every bad one

    stranger = User(api, token_for)
    for name, media_id in ids.items():
        media = owner.wait_done(media_id)
        assert media["state"] == "failed", (name, media)
        assert media["reason"].startswith(f"{cases[name][3]}: "), (name, media["reason"])
        assert media["variants"] == []
        seen = stranger.media(media_id)
        assert seen["state"] == "failed" and seen["reason"] is None  # only the owner learns why
    assert owner.wait_done(after)["state"] == "ready"
    assert worker.alive(), worker.tail()


def test_redelivered_upload_rewrites_the_same_variants(
    owner: User, producer: Any, settings: Any
) -> None:
    media_id = owner.upload(small_jpeg(seed=3), "again.jpg", "image/jpeg")
    first = owner.wait_done(media_id)
    assert first["state"] == "ready"
    originals = {v["name"]: fetch(owner, v["url"]) for v in first["variants"]}
    # The same upload event again, as after a crash before the commit.
    upload = next(e for e in _media_events(settings, media_id) if e["type"] == "media_uploaded")
    replay = make_event(
        "media_uploaded", **{k: v for k, v in upload.items() if k not in ("type", "v")}
    )
    producer.send(replay)
    producer.flush()
    wait_until(
        lambda: sum(e["type"] == "media_ready" for e in _media_events(settings, media_id)) == 2,
        timeout_s=60,
        what="a second media_ready",
    )
    again = owner.media(media_id)
    assert again["state"] == "ready" and again["variants"] == first["variants"]
    assert {v["name"]: fetch(owner, v["url"]) for v in again["variants"]} == originals


# --- Reels -----------------------------------------------------------------------------


def _media_events(settings: Any, media_id: str) -> list[dict[str, Any]]:
    """Every event of one media id on the media topic, in order (one partition per id)."""
    from clients.kafka import open_tail

    consumer = open_tail(settings, [MEDIA.name(settings.namespace)], from_beginning=True)
    events: list[dict[str, Any]] = []
    try:
        idle = 0
        while idle < 3:  # the topic is small: three empty polls mean we read it all
            msgs = consumer.consume(500, timeout=0.5)
            idle = 0 if msgs else idle + 1
            for m in msgs:
                if m.error() is None and m.key() == media_id.encode():
                    events.append(orjson.loads(m.value()))
    finally:
        consumer.close()
    return events


def test_ninety_second_reel_is_playable_from_its_low_rung(
    owner: User, tmp_path: Path, api: Any
) -> None:
    clip = make_clip(tmp_path / "reel.mp4", seconds=90, size="640x360", rate=15)
    media_id = owner.upload(clip.read_bytes(), "reel.mp4", "video/mp4")
    media = owner.wait_done(media_id, timeout_s=240)
    assert media["state"] == "ready", media
    assert media["kind"] == "video" and media["placeholder"]
    by_name = {v["name"]: v for v in media["variants"]}
    assert {"sq150", "w320", "hls", "hls_360p"} <= set(by_name)
    master = fetch(owner, by_name["hls"]["url"]).decode()
    assert "360p/index.m3u8" in master and "RESOLUTION=640x360" in master

    rung_url = f"{api.url}{by_name['hls_360p']['url']}"
    info = ffprobe(
        rung_url,
        "-show_entries",
        "stream=codec_name,width,height:format=duration:format_tags",
        user=owner,
    )
    video = next(s for s in info["streams"] if s.get("codec_name") == "h264")
    assert (video["width"], video["height"]) == (640, 360)
    assert abs(float(info["format"]["duration"]) - 90) < 1.0
    keyframes = ffprobe(
        rung_url, "-select_streams", "v:0", "-skip_frame", "nokey",
        "-show_entries", "frame=pts_time", user=owner,
    )["frames"]  # fmt: skip
    times = [float(f["pts_time"]) for f in keyframes]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 44 and all(abs(g - 2.0) < 0.1 for g in gaps), gaps
    # The source's title and location tags did not survive into the stream.
    segment = tmp_path / "init.mp4"
    segment.write_bytes(fetch(owner, by_name["hls_360p"]["url"].replace("index.m3u8", "init.mp4")))
    tags = ffprobe(str(segment), "-show_entries", "format_tags:stream_tags")
    assert "secret" not in json.dumps(tags) and "52.37" not in json.dumps(tags)
    poster = tmp_path / "poster.jpg"
    poster.write_bytes(fetch(owner, by_name["w320"]["url"]))
    (record,) = exiftool_json([poster])
    assert not leftovers(record)


def test_reel_ladder_is_announced_poster_first_then_low_rung_first(
    owner: User, tmp_path: Path, settings: Any
) -> None:
    clip = make_clip(tmp_path / "hd.mp4", seconds=6, size="1280x720", rate=15, audio=False)
    media_id = owner.upload(clip.read_bytes(), "hd.mp4", "video/mp4")
    assert owner.wait_done(media_id, timeout_s=120)["state"] == "ready"
    events = _media_events(settings, media_id)
    kinds = [e["type"] for e in events]
    assert kinds == ["media_uploaded", *["media_progress"] * 3, "media_ready"], kinds

    def names(e: dict[str, Any]) -> list[str]:
        return [v["name"] for v in e["variants"]]

    poster, low, high, ready = events[1:]
    assert "sq150" in names(poster) and "hls" not in names(poster) and poster["placeholder"]
    assert [n for n in names(low) if n.startswith("hls")] == ["hls", "hls_360p"]
    assert [n for n in names(high) if n.startswith("hls")] == ["hls", "hls_360p", "hls_720p"]
    assert names(ready) == names(high)
    assert (ready["width"], ready["height"]) == (1280, 720)


def test_over_long_reel_fails(owner: User, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", seconds=91, size="160x90", rate=5, audio=False)
    media_id = owner.upload(clip.read_bytes(), "long.mp4", "video/mp4")
    media = owner.wait_done(media_id, timeout_s=120)
    assert media["state"] == "failed" and media["reason"].startswith("too_long: "), media


# --- posts wait for their media ----------------------------------------------------------


def test_post_reaches_followers_only_once_its_media_is_ready(
    owner: User, api: Any, token_for: Any, producer: Any, tmp_path: Path
) -> None:
    follower = User(api, token_for)
    for user in (owner, follower):
        producer.send(
            make_event(
                "profile_updated",
                user_id=user.id,
                username=user.id,
                display_name=user.id.title(),
                is_private=False,
            )
        )
    producer.flush()
    wait_until(lambda: follower.get(f"/v1/users/{owner.id}").status_code == 200, what="profile")
    r = httpx.post(f"{api.url}/v1/users/{owner.id}/follow", headers=follower.headers, timeout=10)
    assert r.status_code == 202, r.text
    wait_until(
        lambda: follower.get(f"/v1/users/{follower.id}").json().get("following") == 1,
        what="the follow",
    )
    assert follower.get("/v1/feed").status_code == 200  # a first read marks the follower active

    # A photo (ready in about a second) and a Reel (several seconds): the post waits for both.
    clip = make_clip(tmp_path / "walk.mp4", seconds=20, size="1280x720", rate=15, audio=False)
    photo_id = owner.upload(small_jpeg(seed=9), "walk.jpg", "image/jpeg")
    reel_id = owner.upload(clip.read_bytes(), "walk.mp4", "video/mp4")
    r = httpx.post(
        f"{api.url}/v1/posts",
        headers=owner.headers,
        json={
            "caption": "a walk",
            "media": [
                {"media_id": photo_id, "kind": "photo"},
                {"media_id": reel_id, "kind": "video"},
            ],
        },
        timeout=10,
    )
    assert r.status_code == 202, r.text
    post_id = r.json()["post_id"]

    def feed_ids() -> set[str]:
        r = follower.get("/v1/feed", limit=50)
        assert r.status_code == 200, r.text
        return {p["post_id"] for p in r.json()["data"]}

    # The author sees it processing while the Reel encodes.
    seen = wait_until(
        lambda: (lambda r: r.json() if r.status_code == 200 else None)(
            owner.get(f"/v1/posts/{post_id}")
        ),
        what="the author's post",
    )
    assert owner.media(reel_id)["state"] != "ready", "the Reel finished before it could be seen"
    assert seen["state"] == "processing", seen

    # Until the Reel is ready the post is nowhere in the follower's feed. Reading the feed
    # before the media state makes each check sound: not ready after means not ready before.
    checks = 0

    def reel_ready_and_post_held_back() -> bool:
        nonlocal checks
        ids = feed_ids()
        state = owner.media(reel_id)["state"]
        assert state != "failed"
        if state != "ready":
            assert post_id not in ids, "the post reached a follower before its media was ready"
            checks += 1
        return state == "ready"

    wait_until(reel_ready_and_post_held_back, timeout_s=180, interval_s=0.3, what="the Reel")
    assert checks > 0
    wait_until(lambda: post_id in feed_ids(), timeout_s=30, what="the post in the feed")
    shown = next(
        p for p in follower.get("/v1/feed", limit=50).json()["data"] if p["post_id"] == post_id
    )
    assert shown["state"] == "ready"
    assert [m["media_id"] for m in shown["media"]] == [photo_id, reel_id]
    assert all(m["state"] == "ready" and m["variants"] for m in shown["media"])
    for m in shown["media"]:
        fetch(follower, m["variants"][0]["url"])
