"""The plain-Faust reference: how fast one Faust agent that does nothing iterates a topic.

A worker's events/s is printed beside two ceilings read in the same run: a raw
confluent-kafka consumer of the topic (``bench.harness.raw_consume_rate``) and this
one, a Faust app of its own (the worker's app class and transport, memory store, one
agent, acks on) whose agent only iterates ``stream.events()``. The gap between the
worker and this figure is what the agents' own work costs; the gap between this and
the raw consumer is Faust's.

The app runs in a child process (``python -m bench.faust_iteration``) in its own
consumer group, so it reads the whole topic from the start whatever the worker
committed; the rate is taken between its first and its last expected event.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.harness import ROOT
from settings import Settings

# The child gives up after this long without reaching the expected count (seconds).
_TIMEOUT_S = 600.0


def faust_iteration_rate(settings: Settings, topic: str, expected: int) -> float:
    """Events/s of a do-nothing Faust agent over ``topic`` from its start (``expected``
    messages are in it); runs a child process and returns its figure."""
    with tempfile.TemporaryDirectory(prefix="faust-iteration-") as scratch:
        out = Path(scratch) / "rate.json"
        env = {
            **os.environ,
            "PHOTOSTREAM_NAMESPACE": settings.namespace,
            "PHOTOSTREAM_KAFKA_HOST": settings.kafka_host,
            "PHOTOSTREAM_KAFKA_PORT": str(settings.kafka_port),
        }
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.faust_iteration",
                topic,
                str(expected),
                str(out),
                scratch,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=_TIMEOUT_S + 60,
            check=False,
        )
        if not out.exists():
            tail = proc.stderr.decode(errors="replace")[-2000:]
            raise RuntimeError(f"the plain Faust reference failed ({proc.returncode}): {tail}")
        return float(json.loads(out.read_text())["rate"])


def _run(topic: str, expected: int, out: Path, datadir: str) -> None:
    import faust
    import uvloop

    from streams.app import App, settings

    # As the worker runs (cli.worker): uvloop and the same GC threshold.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    gc.set_threshold(50_000, 20, 20)

    app = App(
        f"{settings.namespace}-plain{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        processing_guarantee="at_least_once",
        topic_replication_factor=settings.topic_replication_factor,
        stream_buffer_maxsize=16384,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        datadir=datadir,
    )
    source = app.topic(
        topic,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=False,
    )
    seen = 0
    first = 0.0

    @app.agent(source)
    async def iterate(stream: faust.StreamT) -> None:
        nonlocal seen, first
        async for _ in stream.events():
            seen += 1
            if seen == 1:
                first = time.perf_counter()
            if seen == expected:
                elapsed = time.perf_counter() - first
                rate = (expected - 1) / elapsed if elapsed > 0 else float("inf")
                out.write_text(json.dumps({"rate": rate, "events": expected}))
                os._exit(0)  # the figure is written; nothing to clean up in a scratch group

    @app.timer(_TIMEOUT_S)
    async def give_up() -> None:
        os._exit(1)

    faust.Worker(
        app, loglevel="warning", quiet=True, redirect_stdouts=False
    ).execute_from_commandline()


if __name__ == "__main__":
    _run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
