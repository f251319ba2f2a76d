"""What the service benchmarks share: a throw-away namespace and the processes under test.

A ``BenchNamespace`` gets its own topics, keyspace, Redis prefix and consumer group,
so a benchmark never touches the demo's data, and drops all of them on exit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import httpx
from confluent_kafka import Consumer, TopicPartition

from settings import Settings, get_settings

ROOT = Path(__file__).resolve().parent.parent


# One API process per core, as it would be deployed; reads are CPU-bound Python.
API_WORKERS = max(1, os.cpu_count() or 1)


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def raw_consume_rate(
    settings: Settings, topic: str, expected: int, *, batch: int = 10_000
) -> float:
    """Messages/s of a plain confluent-kafka consumer reading ``topic`` from the start.

    The ceiling the benchmarks print beside a worker's rate on the same topic. The clock
    starts at the first batch, so a topic read in a single batch needs a smaller one.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.namespace}-raw-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    seen, start = 0, None
    while seen < expected:
        messages = consumer.consume(batch, 1.0)
        if messages and start is None:
            start = time.perf_counter()
        seen += sum(1 for m in messages if m.error() is None)
    elapsed = time.perf_counter() - (start or time.perf_counter())
    consumer.close()
    return seen / elapsed if elapsed > 0 else float("inf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    """A ``photostream`` verb in a child process with the namespace's environment."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.health_port: int | None = None
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cli.main", *args],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_for_log(self, needle: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited early; see {self.log}")
            time.sleep(0.2)
        raise RuntimeError(f"{needle!r} not logged in {timeout_s:.0f} s; see {self.log}")

    def wait_serving(self, port: int, timeout_s: float) -> dict[str, object]:
        """Wait until the worker's health page says serving; returns that document."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited ({self.proc.returncode}); see {self.log}")
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
                if health.get("state") == "serving":
                    return health  # type: ignore[no-any-return]
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker not serving in {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class BenchNamespace:
    """Migrated keyspace and topics under a fresh namespace; everything dropped on exit."""

    def __init__(self, prefix: str = "bench") -> None:
        self.name = f"{prefix}{uuid.uuid4().hex[:10]}"
        self.settings: Settings = get_settings().model_copy(update={"namespace": self.name})
        self.env = {
            **{k: v for k, v in os.environ.items() if k.startswith("PHOTOSTREAM_")},
            "PHOTOSTREAM_NAMESPACE": self.name,
            # The limiter stays on, so its cost is in every figure, but one bench client
            # sends from one address far faster than any person.
            **{
                f"PHOTOSTREAM_RATE_{name}_PER_MIN": "1000000000"
                for name in ("READS", "WRITES", "LIKES", "UPLOADS")
            },
        }
        self.logs = Path(tempfile.mkdtemp(prefix=f"{self.name}-"))
        self._procs: list[Process] = []

    def __enter__(self) -> BenchNamespace:
        from clients import cassandra as cassandra_client
        from clients.kafka import ensure_topics
        from clients.migrations import migrate

        session = cassandra_client.connect(self.settings)
        try:
            migrate(session, self.settings.cassandra_keyspace, replication_factor=1)
        finally:
            cassandra_client.close(session)
        ensure_topics(self.settings)
        return self

    def start_worker(self, timeout_s: float = 180.0) -> Process:
        """A worker on a health port of its own; returns once it serves."""
        port = free_port()
        env = {**self.env, "PHOTOSTREAM_WORKER_WEB_PORT": str(port)}
        proc = Process(["worker", "--loglevel", "info"], env, self.logs / "worker.log")
        proc.health_port = port
        self._procs.append(proc)
        proc.wait_serving(port, timeout_s)
        return proc

    def start_api(self, timeout_s: float = 60.0, workers: int = API_WORKERS) -> str:
        port = free_port()
        proc = Process(
            ["api", "--port", str(port), "--workers", str(workers)], self.env, self.logs / "api.log"
        )
        self._procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"API not healthy in {timeout_s:.0f} s; see {proc.log}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from clients import cassandra as cassandra_client
        from clients.kafka import delete_namespace_topics

        for proc in reversed(self._procs):
            proc.stop()
        delete_namespace_topics(self.settings)
        session = cassandra_client.connect(self.settings)
        try:
            session.execute(
                f"DROP KEYSPACE IF EXISTS {self.settings.cassandra_keyspace}", timeout=60
            )
        finally:
            cassandra_client.close(session)
        asyncio.run(self._drop_redis())

    async def _drop_redis(self) -> None:
        from clients.redis import connect
        from schemas.redis_keys import RedisKeys

        redis = connect(self.settings)
        async for key in redis.scan_iter(match=RedisKeys(self.name).all_pattern(), count=1000):
            await redis.delete(key)
        await redis.aclose()
