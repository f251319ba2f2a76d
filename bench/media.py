"""``photostream bench media``: the photo path on a 12 MP phone JPEG, beside its references.

Three scenarios run on the same synthetic upload (4032×3024, EXIF orientation 6, GPS, XMP,
an sRGB ICC profile, ~4 MB), each in a fresh process so its peak RSS is its own:

* ``decode``   - decode once at full size: the floor no variant pipeline can beat;
* ``naive``    - upright the full image, then resize every variant from it with LANCZOS;
* ``pipeline`` - ``media.photo.process_photo`` (all checks, variants, placeholder).

Times are CPU milliseconds per upload in the worker process (Pillow's work here is
single-threaded, so that is the cost per core), medians over ``--runs`` after a warm-up.
``throughput`` then runs the pipeline through the worker's own photo pool (``media.pool``, one
process per core) to show uploads/s per machine and the peak RSS of each pool process.
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing as mp
import os
import resource
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import click
import numpy as np
from PIL import Image, ImageCms, ImageOps

DEFAULT_MAX_PIXELS = 50_000_000
WIDTH, HEIGHT = 4032, 3024
# Camera-like content: smooth gradients plus sensor-like noise gives a ~4 MB q92 file.
NOISE_SIGMA = 9.0
NAIVE_WIDTHS = (2048, 1080, 640, 320)
SQUARE = 150
QUALITY = 82


def make_bench_jpeg(seed: int = 0) -> bytes:
    """The benchmark upload: 12 MP, orientation 6, GPS, XMP and an sRGB ICC profile."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    planes = (
        127 + 100 * np.sin(x / 190) * np.cos(y / 230),
        127 + 100 * np.sin((x + y) / 310),
        127 + 100 * np.cos(x / 97 - y / 150),
    )
    noise = rng.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32) * NOISE_SIGMA
    pixels = np.stack(planes, -1) + noise
    im = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Bench"
    exif[0x0110] = "Phone 12MP"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 1.5), 3: "E", 4: (4.0, 53.0, 2.0)})
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
        b'"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92, exif=exif, icc_profile=icc, xmp=xmp)
    return buf.getvalue()


def _decode(data: bytes) -> dict[str, int]:
    im = Image.open(io.BytesIO(data))
    im.load()
    return {}


def _naive(data: bytes) -> dict[str, int]:
    import blurhash_rs

    im = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    sizes: dict[str, int] = {}
    for width in NAIVE_WIDTHS:
        out = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
        sizes[f"w{width}"] = len(_jpeg(out))
        if width == NAIVE_WIDTHS[-1]:
            small = out.resize((32, round(32 * out.height / out.width)))
            blurhash_rs.encode_rgb(small.tobytes(), small.width, small.height, 3, 4)
    side = min(im.size)
    box = ((im.width - side) // 2, (im.height - side) // 2)
    square = im.resize(
        (SQUARE, SQUARE), Image.Resampling.LANCZOS, box=(*box, box[0] + side, box[1] + side)
    )
    sizes["sq150"] = len(_jpeg(square))
    return sizes


def _pipeline(data: bytes) -> dict[str, int]:
    from media.photo import process_photo

    result = process_photo(data, max_pixels=DEFAULT_MAX_PIXELS)
    return {v.name: v.size for v in result.variants}


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()


SCENARIOS: dict[str, Callable[[bytes], dict[str, int]]] = {
    "decode": _decode,
    "naive": _naive,
    "pipeline": _pipeline,
}


def _rss_mb() -> float:
    """Peak RSS of this process in MB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a freshly spawned worker
    would report its (large) parent's peak.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _scenario_worker(name: str, data: bytes, runs: int, warmup: int) -> dict[str, object]:
    """Runs in a fresh process, so the peak RSS belongs to this scenario alone."""
    fn = SCENARIOS[name]
    if name == "pipeline":
        import media.photo  # noqa: F401 - imports are not part of the per-upload cost
    baseline = _rss_mb()
    cpu, wall, sizes = [], [], {}
    for i in range(warmup + runs):
        c0, w0 = time.process_time(), time.perf_counter()
        sizes = fn(data)
        c1, w1 = time.process_time(), time.perf_counter()
        if i >= warmup:
            cpu.append((c1 - c0) * 1000)
            wall.append((w1 - w0) * 1000)
    return {
        "cpu_ms": statistics.median(cpu),
        "cpu_ms_min": min(cpu),
        "wall_ms": statistics.median(wall),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _rss_mb(),
        "variant_bytes": sizes,
    }


def _throughput(data: bytes, workers: int, uploads: int) -> tuple[float, dict[int, float], float]:
    """Uploads/s through the worker's own photo pool, its processes' peak RSS, ours."""
    return asyncio.run(_pool_throughput(data, workers, uploads))


async def _pool_throughput(
    data: bytes, workers: int, uploads: int
) -> tuple[float, dict[int, float], float]:
    from media.photo import process_photo
    from media.pool import ProcessPool

    baseline = _rss_mb()
    pool = ProcessPool(workers, name="photo", memory_limit_mb=1024)
    try:

        async def one() -> int:
            result = await pool.run(
                process_photo, data, timeout_s=120, max_pixels=DEFAULT_MAX_PIXELS
            )
            return len(result.variants)

        await asyncio.gather(*(one() for _ in range(workers)))  # warm every process
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(uploads)))
        per_second = uploads / (time.perf_counter() - start)
        # The parent holds each original and the returned variants, as the worker does.
        return per_second, pool.peak_rss_mb(), _rss_mb() - baseline
    finally:
        pool.close()


def run_media_bench(
    *, runs: int = 7, warmup: int = 1, throughput_uploads: int = 16, show: bool = True
) -> dict[str, object]:
    """Measure the scenarios and return the figures; prints a table when ``show``."""
    data = make_bench_jpeg()
    ctx = mp.get_context("spawn")
    results: dict[str, dict[str, object]] = {}
    for name in SCENARIOS:
        with ProcessPoolExecutor(1, mp_context=ctx) as pool:
            results[name] = pool.submit(_scenario_worker, name, data, runs, warmup).result()
    cores = os.cpu_count() or 1
    per_second, pool_peaks, parent_peak = 0.0, {}, 0.0
    if throughput_uploads:
        # In a fresh process too, so the parent's peak is what the pool costs a worker.
        with ProcessPoolExecutor(1, mp_context=ctx) as runner:
            per_second, pool_peaks, parent_peak = runner.submit(
                _throughput, data, cores, throughput_uploads
            ).result()

    pipeline_ms = float(results["pipeline"]["cpu_ms"])  # type: ignore[arg-type]
    figures: dict[str, object] = {
        "source": {"width": WIDTH, "height": HEIGHT, "bytes": len(data), "orientation": 6},
        "runs": runs,
        "cores": cores,
        "scenarios": results,
        "pipeline_ms_per_upload_per_core": pipeline_ms,
        "decode_floor_ms": results["decode"]["cpu_ms"],
        "naive_ms": results["naive"]["cpu_ms"],
        "speedup_vs_naive": float(results["naive"]["cpu_ms"]) / pipeline_ms,  # type: ignore[arg-type]
        "pipeline_over_decode_floor": pipeline_ms / float(results["decode"]["cpu_ms"]),  # type: ignore[arg-type]
        "pipeline_peak_rss_mb": results["pipeline"]["peak_rss_mb"],
        "throughput_uploads_per_s": per_second,
        "pool_process_peak_rss_mb": sorted(pool_peaks.values()),
        "pool_parent_peak_rss_mb": parent_peak,  # growth over its idle RSS
    }
    if show:
        _print(figures)
    return figures


def _print(figures: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    scenarios: dict[str, dict] = figures["scenarios"]  # type: ignore[assignment]
    src: dict = figures["source"]  # type: ignore[assignment]
    table = Table(
        title=(
            f"12 MP JPEG ({src['width']}×{src['height']}, {src['bytes'] / 1e6:.1f} MB, "
            f"orientation 6) → 5 JPEG variants + BlurHash; median of {figures['runs']} runs"
        )
    )
    for column in ("scenario", "CPU ms/upload", "min", "wall ms", "peak RSS MB", "idle RSS MB"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    labels = {
        "decode": "decode once, full size (floor)",
        "naive": "naive: all from full, LANCZOS",
        "pipeline": "pipeline (process_photo)",
    }
    for name, r in scenarios.items():
        table.add_row(
            labels[name],
            f"{r['cpu_ms']:.0f}",
            f"{r['cpu_ms_min']:.0f}",
            f"{r['wall_ms']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
            f"{r['baseline_rss_mb']:.0f}",
        )
    console = Console()
    console.print(table)
    sizes = scenarios["pipeline"]["variant_bytes"]
    console.print(
        "pipeline variant sizes (KB): " + ", ".join(f"{k} {v / 1024:.0f}" for k, v in sizes.items())
    )
    console.print(
        f"pipeline = {figures['pipeline_over_decode_floor']:.2f}× the decode floor, "
        f"{figures['speedup_vs_naive']:.2f}× faster than naive; "
        f"{figures['throughput_uploads_per_s']:.1f} uploads/s with {figures['cores']} "
        "worker processes"
    )
    peaks = figures["pool_process_peak_rss_mb"]
    if peaks:
        console.print(
            "peak RSS per photo-pool process (the worker's media.pool): "
            + ", ".join(f"{mb:.0f} MB" for mb in peaks)  # type: ignore[attr-defined]
            + "; the pool's parent grew by "
            + f"{figures['pool_parent_peak_rss_mb']:.0f} MB holding originals and results"
        )


@click.command("media")
@click.option("--runs", default=7, show_default=True, help="Measured runs per scenario.")
@click.option("--warmup", default=1, show_default=True, help="Unmeasured runs first.")
@click.option(
    "--throughput-uploads",
    default=16,
    show_default=True,
    help="Uploads for the one-process-per-core throughput run (0 skips it).",
)
@click.option(
    "--projection-events",
    default=0,
    show_default=True,
    help="Media outcome events through a worker on the real services (0 skips it; "
    "bench.media_projection).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON instead.")
def media(
    runs: int, warmup: int, throughput_uploads: int, projection_events: int, as_json: bool
) -> None:
    """Photo variants per 12 MP upload vs the decode floor and the naive way."""
    figures = run_media_bench(
        runs=runs, warmup=warmup, throughput_uploads=throughput_uploads, show=not as_json
    )
    if projection_events:
        from bench.media_projection import run_projection_bench

        p = run_projection_bench(projection_events)
        figures["projection"] = {
            "events": p.events,
            "events_per_s": p.rate,
            "plain_faust_per_s": p.plain_faust,
            "raw_consume_per_s": p.raw_consume,
            "exact": p.exact,
        }
        if not as_json:
            click.echo(
                f"media outcomes projected/s, one worker: {p.rate:,.0f} ({p.events:,} events, "
                f"{p.media:,} media); plain Faust iteration of the media topic "
                f"{p.plain_faust:,.0f}/s (ratio {p.rate / p.plain_faust:.2f}); raw "
                f"confluent-kafka consume {p.raw_consume:,.0f}/s; final states exact: "
                f"{'yes' if p.exact else 'NO'}"
            )
    if as_json:
        click.echo(json.dumps(figures, indent=2))
