"""media.pool: stuck, crashing and hungry jobs cost one child process, never the caller."""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from media.errors import MediaCrashed, MediaError, MediaRejected, MediaTimeout
from media.pool import ProcessPool, vm_hwm_mb
from tests.unit.test_media import pool_jobs as jobs


@pytest.fixture
def pool() -> Iterator[ProcessPool]:
    p = ProcessPool(2, name="test", memory_limit_mb=512)
    yield p
    p.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie still answers kill(0); its state in /proc says it is dead.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] in ("Z", "X")
    except OSError:
        return True


async def _eventually(probe, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.05)):
        if probe():
            return True
        await asyncio.sleep(0.05)
    return bool(probe())


def test_media_errors_survive_pickling() -> None:
    for exc in (MediaRejected("truncated", "ends early"), MediaTimeout("slow"), MediaCrashed("x")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc)
        assert (back.code, back.message, str(back)) == (exc.code, exc.message, str(exc))


async def test_run_passes_bytes_and_reuses_the_process(pool: ProcessPool) -> None:
    pid1, out = await pool.run(jobs.echo, b"abc", timeout_s=30, suffix=b"!")
    assert out == b"abc!" and pid1 != os.getpid()
    pid2, _ = await pool.run(jobs.echo, b"x" * 5_000_000, timeout_s=30)
    assert pid2 == pid1


async def test_a_rejection_is_raised_and_the_process_stays(pool: ProcessPool) -> None:
    before = await pool.run(jobs.pid, timeout_s=30)
    with pytest.raises(MediaRejected) as info:
        await pool.run(jobs.reject, timeout_s=30)
    assert info.value.code == "corrupt"
    with pytest.raises(MediaError) as bug:
        await pool.run(jobs.buggy, timeout_s=30)
    assert bug.value.code == "internal" and "ZeroDivisionError" in bug.value.message
    assert await pool.run(jobs.pid, timeout_s=30) == before


async def test_a_stuck_job_is_killed_with_its_children_and_replaced(
    pool: ProcessPool, tmp_path: Path
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    stuck = await pool.run(jobs.pid, timeout_s=30)
    with pytest.raises(MediaTimeout):
        await pool.run(jobs.hang_with_child, timeout_s=1.5, pid_file=str(pid_file))
    grandchild = int(pid_file.read_text())
    assert await _eventually(lambda: _gone(grandchild)), "the job's own child outlived it"
    assert await _eventually(lambda: _gone(stuck))
    fresh = await pool.run(jobs.pid, timeout_s=30)
    assert fresh != stuck


async def test_a_crashing_job_is_reported_and_the_pool_recovers(pool: ProcessPool) -> None:
    with pytest.raises(MediaCrashed) as info:
        await pool.run(jobs.crash, timeout_s=30)
    assert "signal 11" in info.value.message
    assert await pool.run(jobs.echo, b"ok", timeout_s=30) == (pool.pids()[0], b"ok")


async def test_the_memory_cap_fails_the_job_not_the_process(pool: ProcessPool) -> None:
    before = await pool.run(jobs.pid, timeout_s=30)
    with pytest.raises(MediaError) as info:
        await pool.run(jobs.hog, timeout_s=30, megabytes=2048)
    assert info.value.code == "out_of_memory"
    assert await pool.run(jobs.hog, timeout_s=30, megabytes=16) == 16 * 1024 * 1024
    assert await pool.run(jobs.pid, timeout_s=30) == before


async def test_never_more_processes_than_its_size(pool: ProcessPool) -> None:
    results = await asyncio.gather(*(pool.run(jobs.echo, b"", timeout_s=30) for _ in range(6)))
    assert len({pid for pid, _ in results}) <= 2
    assert len(pool.pids()) <= 2
    peaks = pool.peak_rss_mb()
    assert set(peaks) >= set(pool.pids()) and all(0 < mb < 512 for mb in peaks.values())
    assert vm_hwm_mb(os.getpid())


async def test_stream_yields_each_item_then_the_error(pool: ProcessPool) -> None:
    assert [i async for i in pool.stream(jobs.count, timeout_s=30, n=4)] == [0, 1, 2, 3]
    seen = []
    with pytest.raises(MediaRejected):
        async for i in pool.stream(jobs.count_then_reject, timeout_s=30, n=2):
            seen.append(i)
    assert seen == [0, 1]


async def test_leaving_a_stream_early_stops_its_process(pool: ProcessPool) -> None:
    steps = pool.stream(jobs.count, timeout_s=30, n=1000)
    async for _ in steps:
        break
    await steps.aclose()
    assert await pool.run(jobs.echo, b"next", timeout_s=30)
    assert len(pool.pids()) <= 2
