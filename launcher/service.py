"""The Service base class: install, configure, start detached, probe, stop, report.

Kafka, Cassandra and Redis each fill in its per-service parts (ports, config, command,
probe); the shared behaviour here turns them into `services up|down|status`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from launcher.ports import check_ports_free, port_owner
from launcher.processes import managed_pid, pid_alive, spawn, stop_pid
from launcher.readiness import wait_until
from settings import Settings

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    # "answering", "starting" (process up, no answer yet) or "stopped"
    state: str
    pid: int | None
    ports: Mapping[str, int]
    version: str | None
    home: Path
    log_file: Path
    detail: str = ""

    @property
    def answering(self) -> bool:
        return self.state == "answering"


def ensure_dirs(paths: Iterable[Path]) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


class Service(ABC):
    """One local service: install, configure, start detached, probe, stop.

    Each service lives in ``services_dir/<name>`` and runs with that directory as its
    working directory, which is how a pid file is told apart from a recycled pid.
    """

    name: ClassVar[str]
    # Shown in status; the running version comes from probe() when it can.
    version: ClassVar[str]

    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        self.settings = settings
        self.progress: Progress = progress or logger.info
        self.home = settings.services_dir / self.name
        self.pid_file = self.home / f"{self.name}.pid"

    # ---- per-service parts

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """Every port the service binds, by label; the first is the client port."""

    @property
    @abstractmethod
    def log_file(self) -> Path:
        """The log to read when the service misbehaves."""

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def check_prerequisites(self) -> None:
        """Raise PrerequisiteError when a tool the service needs is missing."""
        return None

    def install(self) -> None:
        """Fetch what the service runs (jars); a no-op once done."""
        return None

    @abstractmethod
    def configure(self) -> None:
        """Render config files from templates and settings (before every start)."""

    def prepare(self) -> None:
        """One-off work after configure and before the first spawn (e.g. format storage)."""
        return None

    @abstractmethod
    def command(self) -> list[str]: ...

    def environment(self) -> dict[str, str]:
        return {}

    @abstractmethod
    def probe(self) -> str:
        """Make one real request; return the version it reports, raise if not answering."""

    def stop_process(self, pid: int) -> None:
        stop_pid(pid, timeout_s=self.settings.services_stop_timeout_s, name=self.name)

    # ---- shared behaviour

    @property
    def client_port(self) -> int:
        return next(iter(self.ports.values()))

    def pid(self) -> int | None:
        return managed_pid(self.pid_file, self.home)

    def start(self) -> bool:
        """Start unless already running from this data dir; True if a process was spawned."""
        if self.pid() is not None:
            return False
        check_ports_free(self.host, self.ports, service=self.name)
        ensure_dirs([self.home, self.data_dir, self.log_file.parent])
        self.configure()
        self.prepare()
        self.progress(f"starting {self.name} on {self.host}:{self.client_port}")
        pid = spawn(
            self.command(), cwd=self.home, log_file=self.stdout_file, env=self.environment()
        )
        self.pid_file.write_text(f"{pid}\n")
        return True

    @property
    def stdout_file(self) -> Path:
        return self.log_file.parent / "stdout.log"

    def wait_ready(self, timeout_s: float | None = None) -> str:
        pid = self.pid()
        return wait_until(
            self.probe,
            timeout_s=self.settings.services_start_timeout_s if timeout_s is None else timeout_s,
            alive=lambda: pid is not None and pid_alive(pid),
            what=f"{self.name} (pid {pid})",
            log_files=self.failure_logs,
        )

    def failure_logs(self) -> list[Path]:
        """The service's own log, plus stdout (this run only) when the JVM wrote to it."""
        logs = [self.log_file]
        stdout = self.stdout_file
        if stdout != self.log_file and stdout.is_file() and stdout.stat().st_size > 0:
            logs.append(stdout)
        return logs

    def stop(self) -> bool:
        """Stop the service if it runs from this data dir; True if something was stopped."""
        pid = self.pid()
        if pid is not None:
            self.progress(f"stopping {self.name} (pid {pid})")
            self.stop_process(pid)
        self.pid_file.unlink(missing_ok=True)
        return pid is not None

    def status(self) -> ServiceStatus:
        pid = self.pid()
        version: str | None = None
        detail = ""
        try:
            version = self.probe()
            state = "answering"
            if pid is None:
                owner = port_owner(self.client_port)
                pid = owner.pid if owner else None
                detail = f"not started from {self.home}"
        except Exception as exc:  # any client error means "not answering"
            state = "starting" if pid is not None else "stopped"
            if pid is not None:
                detail = f"process up but not answering: {type(exc).__name__}: {exc}"
        return ServiceStatus(
            name=self.name,
            state=state,
            pid=pid,
            ports=self.ports,
            version=version,
            home=self.home,
            log_file=self.log_file,
            detail=detail,
        )
