"""Bring the local Kafka, Cassandra and Redis up, down, and report on them together."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from launcher.cassandra import Cassandra
from launcher.errors import ServiceError
from launcher.kafka import Kafka
from launcher.redis import Redis
from launcher.service import Progress, Service, ServiceStatus
from settings import Settings

logger = logging.getLogger(__name__)

SERVICE_TYPES: dict[str, type[Service]] = {"kafka": Kafka, "cassandra": Cassandra, "redis": Redis}
SERVICE_NAMES: tuple[str, ...] = tuple(SERVICE_TYPES)

# Spawn order: the slowest boot first so the others start while it works; Kafka's
# storage format (a short JVM run) then overlaps Cassandra's boot.
START_ORDER = ("cassandra", "redis", "kafka")
# Wait order: the quick ones first, so their failures surface early.
WAIT_ORDER = ("redis", "kafka", "cassandra")


@dataclass(frozen=True)
class StartReport:
    name: str
    spawned: bool
    version: str
    seconds: float


def select(names: Sequence[str] | None) -> list[str]:
    """Validate ``--only`` names; none means all, in a stable order."""
    if not names:
        return list(SERVICE_NAMES)
    unknown = sorted(set(names) - set(SERVICE_NAMES))
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)}")
    return [name for name in SERVICE_NAMES if name in names]


def build(
    settings: Settings, names: Sequence[str] | None = None, progress: Progress | None = None
) -> dict[str, Service]:
    return {name: SERVICE_TYPES[name](settings, progress) for name in select(names)}


def up(
    settings: Settings,
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    timeout_s: float | None = None,
) -> list[StartReport]:
    """Install (first run), start what is not running, and wait until each answers.

    Processes are detached: they outlive this call and the CLI.
    """
    with exclusive_lock(
        settings.services_dir / ".lock", what="photostream services up/down", progress=say(progress)
    ):
        return _up(build(settings, names, progress), timeout_s)


def _up(services: dict[str, Service], timeout_s: float | None) -> list[StartReport]:
    # Fail before downloading or starting anything when a tool is missing.
    for service in services.values():
        service.check_prerequisites()
    # Sequential on purpose: two Maven runs must not write one ~/.m2 at the same time.
    for service in services.values():
        service.install()

    started_at: dict[str, float] = {}
    spawned: dict[str, bool] = {}
    for name in START_ORDER:
        if name in services:
            started_at[name] = time.monotonic()
            spawned[name] = services[name].start()

    reports = []
    for name in WAIT_ORDER:
        if name not in services:
            continue
        service = services[name]
        if spawned[name]:
            service.progress(f"waiting for {name} to answer (log: {service.log_file})")
        version = service.wait_ready(timeout_s)
        seconds = time.monotonic() - started_at[name]
        reports.append(StartReport(name, spawned[name], version, seconds))
        logger.debug("%s answers (version %s) after %.1f s", name, version, seconds)
    return reports


def down(
    settings: Settings, names: Sequence[str] | None = None, progress: Progress | None = None
) -> list[str]:
    """Stop the selected services that run from this data dir; returns the stopped names."""
    stopped = []
    errors = []
    with exclusive_lock(
        settings.services_dir / ".lock", what="photostream services up/down", progress=say(progress)
    ):
        # Each stop is independent: one failure leaves the others to be stopped.
        for name, service in reversed(list(build(settings, names, progress).items())):
            try:
                if service.stop():
                    stopped.append(name)
            except ServiceError as exc:
                errors.append(str(exc))
    if errors:
        raise ServiceError("; ".join(errors))
    return stopped


def say(progress: Progress | None) -> Progress:
    return progress or logger.info


def status(settings: Settings, names: Sequence[str] | None = None) -> list[ServiceStatus]:
    return [service.status() for service in build(settings, names).values()]


@contextlib.contextmanager
def exclusive_lock(path: Path, *, what: str, progress: Progress) -> Iterator[None]:
    """Serialise `services up`/`down` runs on one data dir (e.g. two test runs at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another `{what}` on {path.parent} to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
