"""Run CPU-heavy media jobs in child processes, one job per process at a time.

Why not ``concurrent.futures.ProcessPoolExecutor``: it cannot stop one stuck job. Here each
process has its own pipe, so a job that runs past its time limit, or a decoder that crashes
or exhausts the memory cap, costs exactly one process: it is killed (with its process group,
so an ffmpeg it started dies too) and replaced on the next job, and the caller gets a
``MediaTimeout`` / ``MediaCrashed`` instead of a broken pool.

Processes are started with ``spawn`` (the parent is an asyncio service with threads, which
``fork`` would copy mid-flight), lazily, at most ``size`` of them, and recycled after
``max_jobs_per_process`` jobs to bound allocator fragmentation. Each dies with its parent
(``PR_SET_PDEATHSIG``). Waiting happens in a small thread pool, so the event loop never blocks.

Jobs are plain module-level functions: ``run`` passes the input bytes as the first argument
(sent raw, not pickled, so a large original is copied once), ``stream`` iterates a generator
function in the child and yields each item as it arrives (the Reel ladder, step by step).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import itertools
import logging
import multiprocessing as mp
import os
import resource
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from media.errors import MediaCrashed, MediaError, MediaTimeout

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# How long a retired process may take to exit before it is killed.
_RETIRE_GRACE_S = 2.0


@dataclass(eq=False)  # identity: slots live in a set
class _Slot:
    process: BaseProcess
    conn: Connection
    jobs: int = 0
    # True only between a finished job and the next one: anything else means the child's
    # state is unknown (killed, timed out, abandoned mid-stream) and it must not be reused.
    clean: bool = True


class ProcessPool:
    """At most ``size`` child processes, each running one job at a time with a time limit."""

    def __init__(
        self,
        size: int,
        *,
        name: str,
        nice: int = 0,
        memory_limit_mb: int | None = None,
        max_jobs_per_process: int = 200,
    ) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one process")
        self.size = size
        self.name = name
        self.nice = nice
        self.memory_limit_mb = memory_limit_mb
        self.max_jobs_per_process = max_jobs_per_process
        self._ctx = mp.get_context("spawn")
        self._idle: list[_Slot] = []
        self._busy: set[_Slot] = set()
        self._sem: asyncio.Semaphore | None = None
        self._threads = ThreadPoolExecutor(size, thread_name_prefix=f"{name}-wait")
        self._numbers = itertools.count(1)
        self._peak_mb: dict[int, float] = {}
        atexit.register(self.close)

    # --- public -------------------------------------------------------------------------

    async def run(
        self,
        fn: Callable[..., Any],
        data: bytes | None = None,
        *,
        timeout_s: float,
        **kwargs: Any,
    ) -> Any:
        """``fn(data, **kwargs)`` (or ``fn(**kwargs)``) in a child; its result or its error."""
        async with self._slot() as slot:
            deadline = time.monotonic() + timeout_s
            await self._in_thread(self._send, slot, fn, data, kwargs, False)
            _, value = await self._in_thread(self._receive, slot, deadline, timeout_s)
            return value

    async def stream(
        self, fn: Callable[..., Iterator[Any]], *, timeout_s: float, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Iterate the generator ``fn(**kwargs)`` in a child, yielding each item as it comes.

        ``timeout_s`` bounds the whole iteration. Leaving the loop early kills the child.
        """
        async with self._slot() as slot:
            deadline = time.monotonic() + timeout_s
            await self._in_thread(self._send, slot, fn, None, kwargs, True)
            while True:
                kind, value = await self._in_thread(self._receive, slot, deadline, timeout_s)
                if kind == "done":
                    return
                yield value

    def pids(self) -> list[int]:
        return [s.process.pid for s in (*self._idle, *self._busy) if s.process.pid]

    def peak_rss_mb(self) -> dict[int, float]:
        """Peak resident memory (VmHWM, MB) of every process this pool has run, by pid."""
        for pid in self.pids():
            peak = vm_hwm_mb(pid)
            if peak is not None:
                self._peak_mb[pid] = peak
        return dict(self._peak_mb)

    def close(self) -> None:
        """Stop every process now (jobs in flight are abandoned)."""
        for slot in [*self._idle, *self._busy]:
            self._kill(slot)
        self._idle.clear()
        self._busy.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)

    # --- slots --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[_Slot]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.size)
        async with self._sem:
            slot = self._idle.pop() if self._idle else self._spawn()
            if not slot.process.is_alive():
                self._kill(slot)
                slot = self._spawn()
            self._busy.add(slot)
            slot.clean = False
            try:
                yield slot
            finally:
                self._busy.discard(slot)
                self._release(slot)

    def _spawn(self) -> _Slot:
        # Started from the event-loop thread on purpose: PR_SET_PDEATHSIG fires when the
        # *thread* that created the child exits, and pool threads may come and go.
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(
            target=_serve,
            args=(child_conn, os.getpid(), self.nice, self.memory_limit_mb),
            name=f"{self.name}-{next(self._numbers)}",
            daemon=True,
        )
        process.start()
        child_conn.close()  # so the parent sees EOF when the child dies
        log.info("started %s process %s", self.name, process.pid)
        return _Slot(process, parent_conn)

    def _release(self, slot: _Slot) -> None:
        if not slot.clean:
            self._kill(slot)
            return
        slot.jobs += 1
        if slot.process.pid:
            peak = vm_hwm_mb(slot.process.pid)
            if peak is not None:
                self._peak_mb[slot.process.pid] = peak
        if slot.jobs >= self.max_jobs_per_process:
            self._retire(slot)
        else:
            self._idle.append(slot)

    def _retire(self, slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.conn.send(None)  # asks the child to exit
        slot.process.join(_RETIRE_GRACE_S)
        self._kill(slot)

    def _kill(self, slot: _Slot) -> None:
        pid = slot.process.pid
        if pid and slot.process.is_alive():
            peak = vm_hwm_mb(pid)
            if peak is not None:
                self._peak_mb[pid] = peak
            # The child leads its own process group, so this also ends its ffmpeg.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                slot.process.kill()
        slot.process.join(5)
        slot.conn.close()

    # --- blocking halves, run in threads ------------------------------------------------

    async def _in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)

    def _send(
        self,
        slot: _Slot,
        fn: Callable[..., Any],
        data: bytes | None,
        kwargs: dict[str, Any],
        streaming: bool,
    ) -> None:
        try:
            slot.conn.send((fn, kwargs, data is not None, streaming))
            if data is not None:
                slot.conn.send_bytes(data)
        except OSError as exc:  # the child is gone (BrokenPipeError)
            raise self._died(slot) from exc

    def _receive(self, slot: _Slot, deadline: float, timeout_s: float) -> tuple[str, Any]:
        remaining = deadline - time.monotonic()
        try:
            ready = remaining > 0 and slot.conn.poll(remaining)
            message = slot.conn.recv() if ready else None
        except (EOFError, OSError) as exc:
            raise self._died(slot) from exc
        if message is None:
            self._kill(slot)
            raise MediaTimeout(
                f"the {self.name} job did not finish within {timeout_s:.0f} s; it was stopped"
            )
        kind, value = message
        if kind == "error":
            slot.clean = True
            raise value
        if kind == "done":
            slot.clean = True
        return kind, value

    def _died(self, slot: _Slot) -> MediaCrashed:
        slot.process.join(5)
        code = slot.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        log.warning("%s process %s died (%s)", self.name, slot.process.pid, how)
        return MediaCrashed(f"the {self.name} process died while processing ({how})")


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size of a live process in MB (Linux ``VmHWM``), None if unknown."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the child side --------------------------------------------------------------------


def _serve(conn: Connection, parent_pid: int, nice: int, memory_limit_mb: int | None) -> None:
    """A child's loop: receive a job, run it, send back items, the result or the error."""
    os.setpgid(0, 0)  # its own group: a kill on timeout takes any ffmpeg with it
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if nice:
        os.nice(nice)
    if memory_limit_mb:
        limit = memory_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        fn, kwargs, has_data, streaming = request
        args = (conn.recv_bytes(),) if has_data else ()
        try:
            if streaming:
                for item in fn(*args, **kwargs):
                    conn.send(("item", item))
                conn.send(("done", None))
            else:
                conn.send(("done", fn(*args, **kwargs)))
        except MediaError as exc:
            conn.send(("error", exc))
        except MemoryError:
            conn.send(("error", MediaError("out_of_memory", "the job ran out of memory")))
        except Exception as exc:  # a bug must not take the process down silently
            log.exception("media job %s failed", getattr(fn, "__name__", fn))
            conn.send(("error", MediaError("internal", f"{type(exc).__name__}: {exc}")))
        del args


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
