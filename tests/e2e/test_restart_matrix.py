"""Restarts and crashes lose nothing: two SIGTERMs and two kill -9s, each mid-stream.

State goes into every table first (follows, blocks, close friends, posts with and
without media, media outcomes, likes, comments, saves, shares, stories, story views,
hashtags, profiles). Then, four times, a producer keeps sending events of every type
while the worker is stopped with SIGTERM (it must exit by itself, code 0) or killed
with SIGKILL and started again at once. After each restart one more event of every
type is sent, and every view the API serves (profiles and counts, followers, feeds,
saved lists, trays, post stats, comments, story receipts, trending, search results,
media states) must equal the tally ``tests/e2e/world.py`` keeps from the produced
events. Then every consumed topic must be committed to its end: nothing is left unacked.

The worker and the API run in a namespace of their own, so no other test sees them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from schemas import topics as registry
from settings import Settings
from tests.e2e.world import Round, World, differences
from tests.support import Api, Worker, wait_until

USERS = 24
# Events sent around each restart, and their pace (events/s): the restart lands mid-stream.
ROUND_EVENTS = 300
ROUND_RATE = 120
CONVERGE_S = 150


class Cluster:
    """The namespace's API and worker, and the producer the world sends through."""

    def __init__(
        self,
        settings: Settings,
        tmp_path: Path,
        token_for: Callable[[str], dict[str, str]],
        test_env: dict[str, str],
    ) -> None:
        from clients.kafka import EventProducer

        self.settings = settings
        # The session's environment: its rate limits are far above what the world reads.
        env = {**test_env, "PHOTOSTREAM_NAMESPACE": settings.namespace}
        self.api = Api(env=env, log_file=tmp_path / "api.log").start_and_wait()
        self.worker = Worker(env=env, log_file=tmp_path / "worker.log")
        self.producer = EventProducer(settings)
        self.headers_for = token_for
        self.restarts: list[dict[str, Any]] = []

    def upload(self, owner: str, data: bytes, content_type: str) -> str:
        r = httpx.post(
            f"{self.api.url}/v1/media",
            headers=self.headers_for(owner),
            files={"file": ("upload.jpg", data, content_type)},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        return str(r.json()["media_id"])

    def send(self, events: list[dict[str, Any]], *, rate: float | None = None) -> None:
        for event in events:
            self.producer.send(self.producer.prepare(event))
            if rate:
                time.sleep(1 / rate)
        assert self.producer.flush(30) == 0

    def close(self) -> None:
        self.producer.close()
        self.worker.stop()
        self.api.stop()


@pytest.fixture
def cluster(
    namespace_factory: Callable[[str], Settings],
    tmp_path: Path,
    token_for: Callable[[str], dict[str, str]],
    test_env: dict[str, str],
) -> Iterator[Cluster]:
    c = Cluster(namespace_factory("restart"), tmp_path, token_for, test_env)
    yield c
    c.close()


def converge(cluster: Cluster, world: World, what: str) -> None:
    """Every view equals the tally; on a timeout the failure lists what still differs."""
    last: list[str] = []

    def agree() -> bool:
        nonlocal last
        if not cluster.worker.alive():
            raise AssertionError(f"the worker died:\n{cluster.worker.tail()}")
        last = differences(world.expected(), world.observed(cluster.api.url, cluster.headers_for))
        return not last

    try:
        wait_until(agree, timeout_s=CONVERGE_S, interval_s=1.0, what=what)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n{len(last)} views differ:\n"
            + "\n".join(last[:40])
            + f"\nuncommitted: {uncommitted(cluster.settings)}"
            + f"\nworker health: {cluster.worker.health()}"
            + f"\nworker stacks:\n{stacks(cluster.worker)}"
        ) from None


def stacks(worker: Worker) -> str:
    """What the worker is doing, for a failure report: its threads (py-spy) and its
    asyncio tasks (mode's worker logs every task's stack on SIGUSR1)."""
    if not worker.alive():
        return "no worker"
    assert worker.proc is not None
    dump = subprocess.run(
        [str(Path(sys.executable).with_name("py-spy")), "dump", "--pid", str(worker.proc.pid)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    offset = len(worker.log())
    os.kill(worker.proc.pid, signal.SIGUSR1)
    time.sleep(3)
    return (dump.stdout or dump.stderr)[-4000:] + "\ntasks:\n" + worker.log()[offset:][-30000:]


def uncommitted(settings: Settings) -> list[str]:
    """Partitions of consumed topics whose committed offset is short of their end."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.namespace}
    )
    behind = []
    try:
        for spec in (*registry.EVENT_TOPICS, *registry.DERIVED_TOPICS):
            tps = [TopicPartition(spec.name(settings.namespace), p) for p in range(spec.partitions)]
            for tp in consumer.committed(tps, timeout=10):
                _, end = consumer.get_watermark_offsets(tp, timeout=10)
                if end and tp.offset < end:
                    behind.append(f"{tp.topic}[{tp.partition}] committed {tp.offset} of {end}")
    finally:
        consumer.close()
    return behind


def restart(cluster: Cluster, world: World, how: str) -> None:
    """Send a round in the background; stop or kill the worker mid-way; start it again."""
    r = Round()
    events = world.round(ROUND_EVENTS, r)
    sender = threading.Thread(target=cluster.send, args=(events,), kwargs={"rate": ROUND_RATE})
    sender.start()
    time.sleep(ROUND_EVENTS / ROUND_RATE / 3)  # a third of the round is out
    worker = cluster.worker
    started = time.monotonic()
    if how == "SIGTERM":
        code = worker.stop(timeout_s=30)
        assert code == 0, f"SIGTERM did not stop the worker cleanly (exit {code}):\n{worker.tail()}"
    else:
        worker.kill()
    stopped_s = time.monotonic() - started
    worker.start()
    health = worker.wait_serving(timeout_s=120)
    serving_s = time.monotonic() - started - stopped_s
    sender.join()
    cluster.send(world.every_type(r))
    converge(cluster, world, f"every view to match the tally after a {how}")
    cluster.restarts.append(
        {
            "how": how,
            "stop_s": round(stopped_s, 1),
            "start_to_serving_s": round(serving_s, 1),
            "recovered_records": health["recovered_records"],
            "recovery_s": health["last_recovery_s"],
        }
    )


def test_every_view_survives_sigterm_and_kill_9_mid_stream(cluster: Cluster) -> None:
    world = World(seed=10, users=USERS, upload=cluster.upload)
    cluster.worker.start_and_wait()
    cluster.send(world.setup())
    converge(cluster, world, "the initial state")
    cluster.send(world.round(ROUND_EVENTS))
    converge(cluster, world, "the first round")

    for how in ("SIGTERM", "SIGKILL", "SIGTERM", "SIGKILL"):
        restart(cluster, world, how)

    wait_until(
        lambda: not uncommitted(cluster.settings),
        timeout_s=30,
        interval_s=1,
        what=f"every consumed topic committed to its end: {uncommitted(cluster.settings)}",
    )
    print(f"\nrestart matrix: {len(world.sent)} events sent; restarts: {cluster.restarts}")
    assert cluster.worker.log().count("serving: recovered") == 5
