"""Reels: validate with ffprobe, then poster first and an HLS ladder low rung first.

``transcode_reel`` is a generator: it yields a ``PosterReady`` (the poster already run through
the photo path, so it carries a placeholder and photo variants), then one ``RungReady`` per
rung, lowest first. After every rung the master playlist is rewritten to list only the rungs
that exist, so a Reel is playable as soon as its first (cheapest) rung is done. The caller
publishes progress between steps; it may stop iterating to shed the top rungs.

ffmpeg/ffprobe run as subprocesses with the remaining part of one per-job time budget.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from media.errors import MediaRejected, MediaTimeout
from media.photo import PhotoResult, process_photo

log = logging.getLogger(__name__)

# Apple's HLS authoring spec: an IDR frame every 2 s; ~6 s segments.
KEYFRAME_INTERVAL_S = 2
SEGMENT_S = 6
AUDIO_KBPS = 96
# A frame larger than 4K UHD in either orientation is not a phone Reel.
MAX_FRAME_PIXELS = 4096 * 2304
MAX_FPS = 60.0
POSTER_MAX_WIDTH = 1080
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class Rung:
    """One HLS rendition, named by its short side (720p = 720 px on the short side)."""

    name: str
    short_side: int
    video_kbps: int


DEFAULT_RUNGS: tuple[Rung, ...] = (
    Rung("360p", 360, 800),
    Rung("720p", 720, 2500),
    Rung("1080p", 1080, 5000),
)


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int  # display orientation (rotation applied)
    height: int
    fps: float
    rotation: int
    video_codec: str
    has_audio: bool


@dataclass(frozen=True)
class PlannedRung:
    rung: Rung
    width: int
    height: int
    kbps: int


@dataclass(frozen=True)
class PosterReady:
    path: Path
    photo: PhotoResult


@dataclass(frozen=True)
class RungReady:
    rung: Rung
    width: int
    height: int
    playlist: Path  # <out_dir>/<rung>/index.m3u8
    master: Path  # <out_dir>/master.m3u8, now listing this rung and all lower ones
    files: tuple[Path, ...]  # init segment, media segments and the rung playlist
    bandwidth: int  # peak bits/s over segments
    average_bandwidth: int


VideoStep = PosterReady | RungReady


class _Deadline:
    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.end = time.monotonic() + budget_s

    def remaining(self, what: str) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise MediaTimeout(f"{what}: the {self.budget_s:.0f} s job budget is spent")
        return left


def probe_video(
    src: Path,
    *,
    max_duration_s: float,
    timeout_s: float,
    max_frame_pixels: int = MAX_FRAME_PIXELS,
    ffprobe: str = "ffprobe",
) -> VideoInfo:
    """Read the container with ffprobe; reject undecodable or over-long clips."""
    return _probe(src, max_duration_s, max_frame_pixels, ffprobe, _Deadline(timeout_s))


def _probe(
    src: Path, max_duration_s: float, max_frame_pixels: int, ffprobe: str, deadline: _Deadline
) -> VideoInfo:
    cmd = [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
    proc = _run([*cmd, str(src)], deadline, "ffprobe", cwd=None, reject_on_error=True)
    try:
        meta = json.loads(proc.stdout)
    except ValueError as exc:
        raise MediaRejected("undecodable", "ffprobe gave no readable answer") from exc
    streams = meta.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if video is None or not video.get("width") or not video.get("height"):
        raise MediaRejected("undecodable", "the file has no video stream")
    duration = _duration(meta.get("format") or {}, video)
    if duration is None:
        raise MediaRejected("undecodable", "the clip has no readable duration")
    if duration > max_duration_s:
        raise MediaRejected(
            "too_long", f"{duration:.1f} s is over the {max_duration_s:.0f} s limit for a Reel"
        )
    width, height = int(video["width"]), int(video["height"])
    if width * height > max_frame_pixels:
        raise MediaRejected("too_many_pixels", f"{width}×{height} frames are too large")
    rotation = _rotation(video)
    if rotation % 180:
        width, height = height, width
    return VideoInfo(
        duration_s=duration,
        width=width,
        height=height,
        fps=_fps(video),
        rotation=rotation,
        video_codec=str(video.get("codec_name", "")),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )


def _duration(fmt: dict, video: dict) -> float | None:
    # A container can understate its duration; trust the longest figure it gives.
    values = []
    for raw in (fmt.get("duration"), video.get("duration")):
        try:
            values.append(float(raw))
        except (TypeError, ValueError):
            continue
    return max(values) if values else None


def _rotation(video: dict) -> int:
    for side in video.get("side_data_list") or []:
        if "rotation" in side:
            return round(float(side["rotation"])) % 360
    rotate = (video.get("tags") or {}).get("rotate")
    return int(rotate) % 360 if rotate and str(rotate).lstrip("-").isdigit() else 0


def _fps(video: dict) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        raw = video.get(key) or "0/0"
        try:
            rate = float(Fraction(raw))
        except (ValueError, ZeroDivisionError):
            continue
        if 0 < rate <= 1000:
            return rate
    return 30.0


def plan_rungs(width: int, height: int, rungs: Sequence[Rung]) -> list[PlannedRung]:
    """Rungs the source can fill without upscaling, lowest first; the source size if none."""
    short = min(width, height)
    chosen = sorted((r for r in rungs if r.short_side <= short), key=lambda r: r.short_side)
    if not chosen:
        lowest = min(rungs, key=lambda r: r.short_side)
        kbps = max(100, round(lowest.video_kbps * (short / lowest.short_side) ** 2))
        chosen = [Rung(f"{_even(short)}p", _even(short), kbps)]
    planned = []
    for rung in chosen:
        scale = rung.short_side / short
        planned.append(
            PlannedRung(rung, _even(width * scale), _even(height * scale), rung.video_kbps)
        )
    return planned


def _even(x: float) -> int:
    return max(2, round(x / 2) * 2)


# (level, max macroblocks/s, max macroblocks per frame, max kbit/s for High profile)
_H264_LEVELS = (
    ("3.0", 40_500, 1_620, 12_500),
    ("3.1", 108_000, 3_600, 17_500),
    ("3.2", 216_000, 5_120, 25_000),
    ("4.0", 245_760, 8_192, 25_000),
    ("4.1", 245_760, 8_192, 62_500),
    ("4.2", 522_240, 8_704, 62_500),
    ("5.1", 983_040, 36_864, 300_000),
)


def h264_level(width: int, height: int, fps: float, max_kbps: int) -> str:
    """The lowest H.264 level that fits a stream (for -level and the CODECS attribute)."""
    mbs = ((width + 15) // 16) * ((height + 15) // 16)
    for level, mbps, frame_mbs, kbps in _H264_LEVELS:
        if mbs <= frame_mbs and mbs * fps <= mbps and max_kbps <= kbps:
            return level
    return _H264_LEVELS[-1][0]


# H.264 profile name (as ffprobe reports it) -> profile_idc and constraint flags, in hex.
_AVC_PROFILES = {
    "High": "6400",
    "Main": "4D40",
    "Baseline": "4200",
    "Constrained Baseline": "42E0",
}


def codecs_attribute(profile: str, level: int, has_audio: bool) -> str:
    """The HLS CODECS value, e.g. ``avc1.640028,mp4a.40.2`` for High@4.0 with AAC-LC."""
    avc = f"avc1.{_AVC_PROFILES.get(profile, '6400')}{level:02X}"
    return f"{avc},mp4a.40.2" if has_audio else avc


def transcode_reel(
    src: Path,
    out_dir: Path,
    *,
    max_duration_s: float,
    job_timeout_s: float,
    max_pixels: int,
    rungs: Sequence[Rung] = DEFAULT_RUNGS,
    preset: str = "veryfast",
    threads: int = 0,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
) -> Iterator[VideoStep]:
    """Validate ``src`` and yield the poster, then each HLS rung (lowest first).

    Everything is written under ``out_dir``: ``poster.jpg``, ``<rung>/index.m3u8`` with its
    ``init.mp4`` and ``seg_NNN.m4s``, and ``master.m3u8``. Raises MediaRejected for bad input
    and MediaTimeout when ``job_timeout_s`` runs out (the running ffmpeg is killed).
    """
    deadline = _Deadline(job_timeout_s)
    info = _probe(src, max_duration_s, MAX_FRAME_PIXELS, ffprobe, deadline)
    out_dir.mkdir(parents=True, exist_ok=True)

    poster = out_dir / "poster.jpg"
    _extract_poster(src, poster, info, ffmpeg, deadline)
    photo = process_photo(poster.read_bytes(), max_pixels=max_pixels)
    yield PosterReady(poster, photo)

    fps = min(info.fps, MAX_FPS)
    ready: list[tuple[PlannedRung, int, int, str]] = []
    for planned in plan_rungs(info.width, info.height, rungs):
        rung_dir = out_dir / planned.rung.name
        rung_dir.mkdir(exist_ok=True)
        level = h264_level(planned.width, planned.height, fps, planned.kbps * 3 // 2)
        cmd = _rung_command(ffmpeg, src, planned, info, fps, level, preset, threads, max_duration_s)
        _run(cmd, deadline, f"ffmpeg {planned.rung.name}", cwd=rung_dir, reject_on_error=True)
        playlist = rung_dir / "index.m3u8"
        peak, average = _bandwidth(playlist)
        # Read profile and level back: x264 signals what it used (a fast preset without
        # CABAC is Constrained Baseline even when asked for High), and CODECS must match.
        profile, level_idc = _stream_profile(playlist, ffprobe, deadline)
        ready.append((planned, peak, average, codecs_attribute(profile, level_idc, info.has_audio)))
        master = out_dir / "master.m3u8"
        _write_atomic(master, master_playlist(ready, fps))
        files = tuple(sorted(p for p in rung_dir.iterdir() if not p.name.startswith(".")))
        yield RungReady(
            planned.rung, planned.width, planned.height, playlist, master, files, peak, average
        )


def process_reel(src: Path, out_dir: Path, **kwargs) -> list[VideoStep]:
    """Run every step of ``transcode_reel`` and return them (for callers with no progress)."""
    return list(transcode_reel(src, out_dir, **kwargs))


def _extract_poster(
    src: Path, poster: Path, info: VideoInfo, ffmpeg: str, deadline: _Deadline
) -> None:
    # 1 s in skips fade-ins and black first frames; short clips use their middle.
    at = min(1.0, info.duration_s / 2)
    cmd = [
        ffmpeg, "-nostdin", "-v", "error", "-y", "-ss", f"{at:.3f}", "-i", str(src),
        "-frames:v", "1", "-vf", f"scale='min({POSTER_MAX_WIDTH},iw)':-2",
        "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-q:v", "2", str(poster),
    ]  # fmt: skip
    _run(cmd, deadline, "poster", cwd=None, reject_on_error=True)
    if not poster.exists() or poster.stat().st_size == 0:
        raise MediaRejected("undecodable", "no frame could be decoded for the poster")


def _rung_command(
    ffmpeg: str,
    src: Path,
    planned: PlannedRung,
    info: VideoInfo,
    fps: float,
    level: str,
    preset: str,
    threads: int,
    max_duration_s: float,
) -> list[str]:
    gop = max(1, round(fps * KEYFRAME_INTERVAL_S))
    kbps = planned.kbps
    video_filter = f"scale={planned.width}:{planned.height}:flags=bicubic,format=yuv420p"
    if info.fps > MAX_FPS:
        video_filter = f"fps={MAX_FPS:g}," + video_filter
    cmd = [
        ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(src.resolve()),
        # Bound the work even if the container understated its duration.
        "-t", f"{max_duration_s:.3f}",
        "-map", "0:v:0", "-map", "0:a:0?", "-vf", video_filter,
        "-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-level:v", level,
        "-b:v", f"{kbps}k", "-maxrate", f"{kbps * 3 // 2}k", "-bufsize", f"{kbps * 2}k",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", f"expr:gte(t,n_forced*{KEYFRAME_INTERVAL_S})",
        "-threads", str(threads),
    ]  # fmt: skip
    if info.has_audio:
        cmd += ["-c:a", "aac", "-b:a", f"{AUDIO_KBPS}k", "-ac", "2"]
    cmd += [
        # No container, stream or chapter metadata (creation time, GPS, device) in outputs.
        "-map_metadata", "-1", "-map_metadata:s", "-1", "-map_chapters", "-1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
        "-f", "hls", "-hls_time", str(SEGMENT_S), "-hls_playlist_type", "vod",
        "-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
        "-hls_segment_filename", "seg_%03d.m4s", "index.m3u8",
    ]  # fmt: skip
    return cmd


# Content types of the files of an HLS ladder (RFC 8216; fMP4 segments per ISO BMFF).
HLS_CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
}


def hls_content_type(path: Path) -> str:
    return HLS_CONTENT_TYPES.get(path.suffix, "application/octet-stream")


def master_playlist(ready: Sequence[tuple[PlannedRung, int, int, str]], fps: float) -> str:
    """The master playlist text for the rungs finished so far, lowest first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for planned, peak, average, codecs in ready:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},"
            f"RESOLUTION={planned.width}x{planned.height},FRAME-RATE={fps:.3f},"
            f'CODECS="{codecs}"'
        )
        lines.append(f"{planned.rung.name}/index.m3u8")
    return "\n".join(lines) + "\n"


_EXTINF = re.compile(r"#EXTINF:([0-9.]+),\s*\n([^\n#]+)")


def _stream_profile(playlist: Path, ffprobe: str, deadline: _Deadline) -> tuple[str, int]:
    cmd = [ffprobe, "-v", "error", "-select_streams", "v:0", "-print_format", "json"]
    cmd += ["-show_entries", "stream=profile,level", str(playlist)]
    proc = _run(cmd, deadline, "ffprobe rung", cwd=None, reject_on_error=True)
    stream = (json.loads(proc.stdout).get("streams") or [{}])[0]
    return str(stream.get("profile", "High")), int(stream.get("level") or 40)


def _bandwidth(playlist: Path) -> tuple[int, int]:
    """Peak and average bits/s of a rung, measured from its segments."""
    text = playlist.read_text()
    peak, bits, seconds = 0.0, 0, 0.0
    for duration, name in _EXTINF.findall(text):
        d = float(duration)
        size_bits = (playlist.parent / name.strip()).stat().st_size * 8
        bits += size_bits
        seconds += d
        if d > 0:
            peak = max(peak, size_bits / d)
    average = bits / seconds if seconds else 0.0
    return int(peak) or 1, int(average) or 1


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _run(
    cmd: list[str], deadline: _Deadline, what: str, *, cwd: Path | None, reject_on_error: bool
) -> subprocess.CompletedProcess[str]:
    timeout = deadline.remaining(what)
    log.debug("running %s: %s", what, " ".join(cmd))
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:  # run() has already killed the child
        raise MediaTimeout(f"{what} did not finish within {timeout:.1f} s") from exc
    if proc.returncode != 0 and reject_on_error:
        tail = proc.stderr.strip()[-_STDERR_TAIL:]
        raise MediaRejected("undecodable", f"{what} failed: {tail or 'no error output'}")
    return proc
