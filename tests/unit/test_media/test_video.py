"""Reels: poster first, then HLS rungs lowest first; long and broken clips refused."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from media.errors import MediaRejected, MediaTimeout
from media.video import (
    DEFAULT_RUNGS,
    PosterReady,
    RungReady,
    codecs_attribute,
    h264_level,
    hls_content_type,
    plan_rungs,
    probe_video,
    transcode_reel,
)
from tests.unit.test_media.media_factories import make_clip, requires_ffmpeg

LIMITS = {"max_duration_s": 90.0, "job_timeout_s": 120.0, "max_pixels": 50_000_000}


def _ffprobe(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", *args, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_plan_rungs_never_upscales() -> None:
    names = [p.rung.name for p in plan_rungs(1920, 1080, DEFAULT_RUNGS)]
    assert names == ["360p", "720p", "1080p"]
    vertical = plan_rungs(1080, 1920, DEFAULT_RUNGS)
    assert [(p.width, p.height) for p in vertical] == [(360, 640), (720, 1280), (1080, 1920)]
    assert [p.rung.name for p in plan_rungs(1280, 720, DEFAULT_RUNGS)] == ["360p", "720p"]
    tiny = plan_rungs(320, 180, DEFAULT_RUNGS)
    assert [(p.rung.name, p.width, p.height) for p in tiny] == [("180p", 320, 180)]


def test_h264_levels_and_codecs() -> None:
    assert h264_level(640, 360, 30, 1200) == "3.0"
    assert h264_level(1280, 720, 30, 3750) == "3.1"
    assert h264_level(1080, 1920, 30, 7500) == "4.0"
    assert h264_level(1920, 1080, 60, 7500) == "4.2"
    assert codecs_attribute("High", 31, True) == "avc1.64001F,mp4a.40.2"
    assert codecs_attribute("High", 40, False) == "avc1.640028"
    assert codecs_attribute("Constrained Baseline", 30, False) == "avc1.42E01E"


@requires_ffmpeg
def test_a_short_clip_gives_a_poster_then_rungs_lowest_first(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=4, size="1920x1080", rate=24)
    out = tmp_path / "out"

    steps = []
    masters = []
    for step in transcode_reel(src, out, preset="superfast", **LIMITS):
        steps.append(step)
        if isinstance(step, RungReady):
            masters.append(step.master.read_text())  # what a player would see right now

    assert isinstance(steps[0], PosterReady)
    poster = steps[0]
    assert poster.path.exists() and poster.photo.placeholder
    assert (poster.photo.width, poster.photo.height) == (1080, 608)
    rungs = [s for s in steps[1:] if isinstance(s, RungReady)]
    assert [r.rung.name for r in rungs] == ["360p", "720p", "1080p"]
    # The master grows one rung at a time, so the Reel plays before its top rung exists.
    assert [m.count("#EXT-X-STREAM-INF") for m in masters] == [1, 2, 3]
    assert "360p/index.m3u8" in masters[0] and "1080p" not in masters[0]
    # Rungs finish in order: each playlist is older than the next one.
    mtimes = [r.playlist.stat().st_mtime_ns for r in rungs]
    assert mtimes == sorted(mtimes)

    for rung, height in zip(rungs, (360, 720, 1080), strict=True):
        info = _ffprobe(rung.playlist, "-show_streams", "-show_format")
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        assert video["codec_name"] == "h264" and video["profile"] == "High"
        assert video["height"] == height and video["width"] == height * 16 // 9
        assert any(s["codec_type"] == "audio" for s in info["streams"])
        assert not (info["format"].get("tags") or {}).get("title")  # metadata stripped
        frames = _ffprobe(
            rung.playlist,
            "-select_streams", "v:0", "-skip_frame", "nokey",
            "-show_entries", "frame=pts_time",
        )["frames"]  # fmt: skip
        keys = [float(f["pts_time"]) for f in frames]
        gaps = [b - a for a, b in itertools.pairwise(keys)]
        assert len(keys) >= 2 and all(abs(g - 2.0) < 0.05 for g in gaps), keys
        assert rung.bandwidth >= rung.average_bandwidth > 0
        assert any(p.name == "init.mp4" for p in rung.files)

    master = (out / "master.m3u8").read_text()
    assert "RESOLUTION=1920x1080" in master and 'CODECS="avc1.640028,mp4a.40.2"' in master


@requires_ffmpeg
def test_a_small_clip_is_not_upscaled(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "small.mp4", seconds=2, size="640x360", rate=15, audio=False)
    steps = list(transcode_reel(src, tmp_path / "out", preset="superfast", **LIMITS))
    rungs = [s for s in steps if isinstance(s, RungReady)]
    assert [(r.rung.name, r.width, r.height) for r in rungs] == [("360p", 640, 360)]
    assert 'CODECS="avc1.64001E"' in rungs[0].master.read_text()  # no audio, level 3.0


@requires_ffmpeg
def test_a_clip_over_90_seconds_is_refused_before_encoding(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "long.mp4", seconds=91, size="32x32", rate=2, audio=False)
    with pytest.raises(MediaRejected) as info:
        next(transcode_reel(src, tmp_path / "out", **LIMITS))
    assert info.value.code == "too_long"
    assert not (tmp_path / "out").exists()
    assert probe_video(src, max_duration_s=120, timeout_s=30).duration_s == pytest.approx(91, abs=1)


@requires_ffmpeg
@pytest.mark.parametrize(
    "content",
    [b"\x00garbage" * 5000, b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000, b""],
)
def test_garbage_is_undecodable(tmp_path: Path, content: bytes) -> None:
    src = tmp_path / "bad.mp4"
    src.write_bytes(content)
    with pytest.raises(MediaRejected) as info:
        next(transcode_reel(src, tmp_path / "out", **LIMITS))
    assert info.value.code == "undecodable"


@requires_ffmpeg
def test_the_job_budget_is_enforced(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "in.mp4", seconds=2, size="320x180", rate=10, audio=False)
    with pytest.raises(MediaTimeout):
        list(transcode_reel(src, tmp_path / "out", **{**LIMITS, "job_timeout_s": 0.001}))


def test_hls_files_get_their_content_types() -> None:
    assert hls_content_type(Path("v/master.m3u8")) == "application/vnd.apple.mpegurl"
    assert hls_content_type(Path("v/360p/init.mp4")) == "video/mp4"
    assert hls_content_type(Path("v/360p/seg_000.m4s")) == "video/iso.segment"
    assert hls_content_type(Path("v/notes.txt")) == "application/octet-stream"
