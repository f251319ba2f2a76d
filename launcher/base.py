"""Process, pid-file, port and readiness helpers shared by the local service launchers.

Pure helpers (template rendering, /proc/net/tcp parsing, Java release parsing) are kept
apart from the ones that touch processes and sockets, so the former are unit-tested alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import ClassVar, TypeVar

from launcher.versions import JAVA_DEBIAN_PACKAGE, JAVA_MAJOR
from settings import Settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Exit codes of `photostream services`; documented in its --help.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PREREQUISITE = 3
EXIT_PORT_CONFLICT = 4

Progress = Callable[[str], None]


class ServiceError(Exception):
    """A service could not be installed, started or stopped; the message names the cause."""

    exit_code = EXIT_FAILED


class PrerequisiteError(ServiceError):
    """Java 17, Maven or redis-server is missing."""

    exit_code = EXIT_PREREQUISITE


class PortConflictError(ServiceError):
    """A port the service needs is held by another process."""

    exit_code = EXIT_PORT_CONFLICT


class StartTimeoutError(ServiceError):
    """The service was started but did not answer in time (or exited)."""


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


# --------------------------------------------------------------------------- pure helpers

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill ``{{name}}`` placeholders; a missing value is an error, not an empty string.

    ``{{ }}`` rather than ``${}``/``{}`` because poms and log4j configs use both.
    """

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise KeyError(f"template placeholder {{{{{key}}}}} has no value")
        return str(values[key])

    return _PLACEHOLDER.sub(substitute, template)


def load_template(name: str) -> str:
    return resources.files("launcher").joinpath("templates", name).read_text(encoding="utf-8")


def fingerprint(*texts: str) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def listening_inodes(proc_net_tcp: str, port: int) -> set[int]:
    """Socket inodes in LISTEN state on ``port``, from the text of /proc/net/tcp or tcp6."""
    inodes: set[int] = set()
    for line in proc_net_tcp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, state, inode = fields[1], fields[3], fields[9]
        # state 0A is TCP_LISTEN; the port is the hex suffix of local_address
        if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
            inodes.add(int(inode))
    return inodes


def java_major_version(release_file_text: str) -> int | None:
    """Major version from a JDK's ``release`` file (``JAVA_VERSION="17.0.15"``)."""
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release_file_text, re.MULTILINE)
    if match is None:
        return None
    major = int(match.group(1))
    # Java 8 and older spell themselves "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


# --------------------------------------------------------------------------- prerequisites


def find_java(java_home: Path) -> Path:
    """The Java 17 binary under ``java_home``, or a PrerequisiteError saying how to get it."""
    java = java_home / "bin" / "java"
    hint = (
        f"install it with `apt-get install -y {JAVA_DEBIAN_PACKAGE}` "
        "or point PHOTOSTREAM_JAVA_HOME at a Java 17 home"
    )
    if not os.access(java, os.X_OK):
        raise PrerequisiteError(f"Java {JAVA_MAJOR} not found: looked for {java}; {hint}")
    release = java_home / "release"
    major = java_major_version(release.read_text()) if release.is_file() else None
    if major is not None and major != JAVA_MAJOR:
        raise PrerequisiteError(
            f"{java_home} is Java {major}, but Cassandra 5.0 needs Java {JAVA_MAJOR}; {hint}"
        )
    return java


def find_maven() -> Path:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError(
            "Maven (mvn) not found on PATH: it downloads the Kafka and Cassandra jars; "
            "install it with `apt-get install -y maven`"
        )
    return Path(mvn)


# --------------------------------------------------------------------------- jars


def lib_is_complete(lib_dir: Path, expected: str) -> bool:
    """True when ``lib_dir`` was filled by a successful copy of the pom with this fingerprint."""
    marker = lib_dir / ".complete"
    return marker.is_file() and marker.read_text().strip() == expected


def copy_dependencies(
    pom: Path, lib_dir: Path, expected: str, *, what: str, progress: Progress
) -> None:
    """Fill ``lib_dir`` from Maven Central unless it already holds this pom's jars."""
    if lib_is_complete(lib_dir, expected):
        return
    mvn = find_maven()
    # A stale or half-copied lib would put two versions of a jar on the classpath.
    shutil.rmtree(lib_dir, ignore_errors=True)
    progress(f"downloading {what} jars from Maven Central (first run only)")
    started = time.monotonic()
    log_file = pom.parent / "maven.log"
    with log_file.open("w") as log:
        result = subprocess.run(
            [str(mvn), "-B", "-f", str(pom), "dependency:copy-dependencies"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if result.returncode != 0:
        raise ServiceError(
            f"Maven failed to download the {what} jars (exit {result.returncode}); "
            f"see {log_file}:\n{tail_text(log_file)}"
        )
    (lib_dir / ".complete").write_text(expected + "\n")
    size_mb = sum(p.stat().st_size for p in lib_dir.glob("*.jar")) / 1e6
    progress(f"{what}: {size_mb:.0f} MB of jars in {lib_dir} ({time.monotonic() - started:.0f} s)")


# --------------------------------------------------------------------------- processes


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # the state letter follows the parenthesised command name
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_cwd(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def process_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def managed_pid(pid_file: Path, home: Path) -> int | None:
    """The pid in ``pid_file`` if it is alive and is ours.

    Every service runs with its home as working directory, so a recycled pid that now
    belongs to an unrelated process is not mistaken for the service.
    """
    pid = read_pid(pid_file)
    if pid is None or not pid_alive(pid):
        return None
    cwd = process_cwd(pid)
    if cwd is not None and not is_within(cwd, home.resolve()):
        return None
    return pid


def is_within(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or below it (Redis, for one, changes into its data dir)."""
    return path == root or root in path.parents


def spawn(
    cmd: list[str], *, cwd: Path, log_file: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start a detached process that outlives the CLI; stdout and stderr go to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Truncated per start, so a failure report shows this run only.
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            close_fds=True,
        )
    return process.pid


def wait_for_exit(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap if we happen to be the parent
        time.sleep(0.1)
    return not pid_alive(pid)


def stop_pid(pid: int, *, timeout_s: float, name: str) -> None:
    """SIGTERM, wait up to ``timeout_s`` for a clean exit, then SIGKILL."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if wait_for_exit(pid, timeout_s):
        return
    logger.warning("%s (pid %d) ignored SIGTERM for %.0f s; killing it", name, pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    wait_for_exit(pid, 10.0)


# --------------------------------------------------------------------------- ports


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class PortOwner:
    pid: int
    cmdline: str


def port_owner(port: int) -> PortOwner | None:
    """The process listening on ``port``, found through /proc (None if not visible)."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            inodes |= listening_inodes(Path(table).read_text(), port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        pid = int(proc.name)
                        return PortOwner(pid=pid, cmdline=process_cmdline(pid))
    return None


def describe_owner(owner: PortOwner | None) -> str:
    if owner is None:
        return "another process (not visible in /proc)"
    command = owner.cmdline
    if len(command) > 160:
        # keep both ends: the program, and for a JVM the main class and its config
        command = command[:60] + " ... " + command[-90:]
    return f"pid {owner.pid} ({command})"


def check_ports_free(host: str, ports: Mapping[str, int], *, service: str) -> None:
    """Raise PortConflictError naming every port of ``service`` that something else holds."""
    held = [(label, port) for label, port in ports.items() if port_open(host, port)]
    if not held:
        return
    by_owner: dict[str, list[str]] = {}
    for label, port in held:
        by_owner.setdefault(describe_owner(port_owner(port)), []).append(f"{port} ({label})")
    lines = [
        f"{'ports' if len(names) > 1 else 'port'} {', '.join(names)} held by {owner}"
        for owner, names in by_owner.items()
    ]
    raise PortConflictError(
        f"cannot start {service}: " + "; ".join(lines) + ". Stop that process, or move "
        f"{service} to other ports with the PHOTOSTREAM_* port settings."
    )


# --------------------------------------------------------------------------- readiness


@dataclass
class Attempt:
    """The outcome of the last readiness probe, kept for the timeout message."""

    error: str = ""
    tries: int = field(default=0)


def wait_until(
    probe: Callable[[], T],
    *,
    timeout_s: float,
    alive: Callable[[], bool],
    what: str,
    log_files: Callable[[], list[Path]],
    max_interval_s: float = 1.0,
) -> T:
    """Call ``probe`` until it returns without raising; fail early if the process died.

    ``log_files`` is asked for at failure time: which logs explain it depends on how far
    the service got.
    """
    deadline = time.monotonic() + timeout_s
    attempt = Attempt()
    while True:
        attempt.tries += 1
        try:
            return probe()
        except Exception as exc:  # any client error means "not ready yet"
            attempt.error = f"{type(exc).__name__}: {exc}"
        if not alive():
            raise StartTimeoutError(f"{what} exited during startup; {describe_logs(log_files())}")
        if time.monotonic() >= deadline:
            raise StartTimeoutError(
                f"{what} did not answer within {timeout_s:.0f} s (last error: {attempt.error}). "
                "It is left running: `services up` waits for it again, `services down` stops "
                f"it. {describe_logs(log_files())}"
            )
        # Poll fast at first (Redis answers in ~0.1 s), then back off to spare the CPU.
        time.sleep(min(max_interval_s, 0.05 * 2**attempt.tries))


def tail_lines(path: Path, count: int = 20) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return text.splitlines()[-count:]


def tail_text(path: Path, count: int = 20, width: int = 300) -> str:
    lines = tail_lines(path, count)
    if not lines:
        return f"    ({path} is empty or missing)"
    # JVMs log whole classpaths on one line; the start of such a line is enough.
    return "\n".join(
        "    " + (line if len(line) <= width else line[:width] + " ...") for line in lines
    )


def describe_logs(paths: list[Path]) -> str:
    parts = [f"see {path}:\n{tail_text(path)}" for path in paths]
    return "\n".join(parts) if parts else "no log was written"


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


def ensure_dirs(paths: Iterable[Path]) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)


# --------------------------------------------------------------------------- service skeleton


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


class JvmService(Service):
    """A Java 17 service whose jars Maven copies from Maven Central into ``home/lib``."""

    # Shown in progress lines, e.g. "Kafka 3.9.1: 58 MB of jars".
    title: ClassVar[str]

    @property
    def lib_dir(self) -> Path:
        return self.home / "lib"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @abstractmethod
    def render_pom(self) -> str:
        """The pom whose dependencies are the service's runtime classpath."""

    def check_prerequisites(self) -> None:
        find_java(self.settings.java_home)

    def install(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        pom_text = self.render_pom()
        pom = self.home / "pom.xml"
        pom.write_text(pom_text)
        copy_dependencies(
            pom,
            self.lib_dir,
            fingerprint(pom_text),
            what=f"{self.title} {self.version}",
            progress=self.progress,
        )
