"""Redis 7 from Debian's redis-server package, as an unpersisted serving cache."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

from launcher.errors import PrerequisiteError, ServiceError
from launcher.ports import port_open
from launcher.processes import stop_pid, wait_for_exit
from launcher.rendering import load_template, render
from launcher.service import Service
from launcher.versions import REDIS_DEBIAN_PACKAGE, REDIS_MAJOR
from settings import Settings

logger = logging.getLogger(__name__)


def render_conf(settings: Settings, data_dir: Path, log_file: Path) -> str:
    return render(
        load_template("redis.conf"),
        {
            "redis_major": REDIS_MAJOR,
            "host": settings.redis_host,
            "port": settings.redis_port,
            "data_dir": data_dir,
            "log_file": log_file,
        },
    )


def parse_server_version(text: str) -> str | None:
    """'Redis server v=7.0.15 sha=...' -> '7.0.15'."""
    for token in text.split():
        if token.startswith("v="):
            return token[2:]
    return None


class Redis(Service):
    name: ClassVar[str] = "redis"
    version: ClassVar[str] = REDIS_MAJOR

    @property
    def host(self) -> str:
        return self.settings.redis_host

    @property
    def ports(self) -> dict[str, int]:
        return {"client": self.settings.redis_port}

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / "redis.log"

    def server_binary(self) -> Path | None:
        found = shutil.which("redis-server")
        return Path(found) if found else None

    def check_prerequisites(self) -> None:
        if self.server_binary() is not None:
            return
        if os.geteuid() != 0:
            raise PrerequisiteError(
                "redis-server not found on PATH; install it with "
                f"`sudo apt-get install -y {REDIS_DEBIAN_PACKAGE}`"
            )

    def install(self) -> None:
        if self.server_binary() is not None:
            return
        self.progress(f"installing {REDIS_DEBIAN_PACKAGE} with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", REDIS_DEBIAN_PACKAGE],
        ):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise PrerequisiteError(
                    f"`{' '.join(cmd)}` failed (exit {result.returncode}):\n{result.stderr[-2000:]}"
                )
        if self.server_binary() is None:
            raise PrerequisiteError(f"{REDIS_DEBIAN_PACKAGE} installed but redis-server not found")

    def configure(self) -> None:
        (self.home / "redis.conf").write_text(
            render_conf(self.settings, self.data_dir, self.log_file)
        )

    def command(self) -> list[str]:
        binary = self.server_binary()
        if binary is None:
            raise PrerequisiteError("redis-server not found on PATH")
        return [str(binary), str(self.home / "redis.conf")]

    def probe(self) -> str:
        # A closed port fails fast here instead of going through redis-py's retries.
        if not port_open(self.host, self.settings.redis_port):
            raise ConnectionRefusedError(
                f"nothing listens on {self.host}:{self.settings.redis_port}"
            )
        import redis  # only when probing

        client = redis.Redis(
            host=self.host,
            port=self.settings.redis_port,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
        try:
            if not client.ping():
                raise ConnectionError("PING did not return PONG")
            return str(client.info("server")["redis_version"])
        finally:
            client.close()

    def stop_process(self, pid: int) -> None:
        """SHUTDOWN NOSAVE (nothing to persist), SIGTERM/SIGKILL if it does not exit."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: the dropped connection after SHUTDOWN is success, not a reason to retry.
        client = redis.Redis(
            host=self.host,
            port=self.settings.redis_port,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        # The server drops the connection as it exits, which redis-py reports as an error.
        with contextlib.suppress(redis.RedisError):
            client.shutdown(nosave=True)
        client.close()
        if wait_for_exit(pid, 5.0):
            return
        stop_pid(pid, timeout_s=self.settings.services_stop_timeout_s, name=self.name)
        if not wait_for_exit(pid, 1.0):
            raise ServiceError(f"redis (pid {pid}) did not stop")
