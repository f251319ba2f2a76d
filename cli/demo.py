"""``photostream demo``: services, schema, worker, API and a synthetic workload.

Safe to run again: services and processes already running are reused. ``--stop``
stops the worker and the API (``photostream services down`` stops the services).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import click
import httpx

from settings import Settings, get_settings

PROCESSES = ("worker", "api")


def _paths(settings: Settings, name: str) -> tuple[Path, Path]:
    home = settings.data_dir / "demo"
    return home / f"{name}.pid", home / f"{name}.log"


def _running(settings: Settings, name: str) -> int | None:
    from launcher.processes import managed_pid

    pid_file, _ = _paths(settings, name)
    return managed_pid(pid_file, Path.cwd())


def _start(settings: Settings, name: str) -> tuple[int, bool]:
    from launcher.processes import spawn

    pid = _running(settings, name)
    if pid is not None:
        return pid, False
    pid_file, log_file = _paths(settings, name)
    pid = spawn([sys.executable, "-m", "cli.main", name], cwd=Path.cwd(), log_file=log_file)
    pid_file.write_text(str(pid))
    return pid, True


def _run(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "cli.main", *args], check=False)
    if result.returncode != 0:
        click.echo(f"error: photostream {' '.join(args)} exited {result.returncode}", err=True)
        sys.exit(result.returncode)


def _wait_http(
    url: str, *, timeout_s: float, headers: dict[str, str] | None = None
) -> httpx.Response | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers=headers, timeout=3)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return None


def _wait_serving(settings: Settings, timeout_s: float = 300.0) -> bool:
    """Wait until the worker has rebuilt its tables and serves; say why when it does not."""
    url = f"http://{settings.worker_web_host}:{settings.worker_web_port}/healthz"
    log = _paths(settings, "worker")[1]
    deadline = time.monotonic() + timeout_s
    shown = ""
    while time.monotonic() < deadline:
        if _running(settings, "worker") is None:
            tail = (
                "\n".join(log.read_text(errors="replace").splitlines()[-5:]) if log.exists() else ""
            )
            click.echo(f"error: the worker exited; see {log}\n{tail}", err=True)
            return False
        try:
            health = httpx.get(url, timeout=3).json()
        except (httpx.HTTPError, ValueError):
            health = {"state": "starting", "detail": "opening its health port"}
        if health["state"] == "serving":
            took = health.get("last_recovery_s")
            click.echo(
                f"worker: serving (recovered {health.get('recovered_records', 0)} changelog "
                f"records{f' in {took} s' if took is not None else ''})"
            )
            return True
        if health["detail"] != shown:
            shown = health["detail"]
            click.echo(f"worker: {health['state']}: {shown}")
        time.sleep(0.5)
    click.echo(f"error: the worker did not serve within {timeout_s:.0f} s; see {log}", err=True)
    return False


@click.command()
@click.option("--stop", is_flag=True, help="Stop the demo's worker and API.")
@click.option("--users", type=int, default=200, show_default=True, help="Synthetic users.")
@click.option(
    "--events",
    type=int,
    default=3000,
    show_default=True,
    help="Synthetic events after the bootstrap.",
)
def demo(stop: bool, users: int, events: int) -> None:
    """Start everything, produce a workload, and print where to look."""
    from launcher.processes import stop_pid

    settings = get_settings()
    if stop:
        for name in PROCESSES:
            pid = _running(settings, name)
            if pid is not None:
                stop_pid(pid, timeout_s=30, name=name)
                click.echo(f"stopped {name} (pid {pid})")
        return

    _run("services", "up")
    _run("db", "migrate")
    _run("topics", "create")
    (settings.data_dir / "demo").mkdir(parents=True, exist_ok=True)
    for name in PROCESSES:
        pid, started = _start(settings, name)
        click.echo(
            f"{name}: {'started' if started else 'already running'} (pid {pid}, log {_paths(settings, name)[1]})"
        )

    if not _wait_serving(settings):
        sys.exit(1)
    base = f"http://{settings.api_host}:{settings.api_port}"
    if _wait_http(f"{base}/healthz", timeout_s=60) is None:
        click.echo(
            f"error: the API did not report healthy; see {_paths(settings, 'api')[1]}", err=True
        )
        sys.exit(1)
    _run("simulate", "--users", str(users), "--events", str(events))

    from api.auth import issue_token, load_secret

    token = issue_token("u1", secret=load_secret(settings), ttl_s=settings.token_ttl_s)
    headers = {"Authorization": f"Bearer {token}"}
    if _wait_http(f"{base}/v1/users/u0", timeout_s=90, headers=headers) is None:
        click.echo(
            f"error: events did not reach the API; see {_paths(settings, 'worker')[1]}", err=True
        )
        sys.exit(1)
    click.echo(
        f"""
photostream demo is running (namespace {settings.namespace}).

  API docs   {base}/docs
  health     {base}/healthz
  a profile  curl -H 'Authorization: Bearer {token}' {base}/v1/users/u0
  the feed   curl -H 'Authorization: Bearer {token}' '{base}/v1/feed?limit=5'
  trending   curl -H 'Authorization: Bearer {token}' '{base}/v1/trending/hashtags?window=24h'
  upload     curl -H 'Authorization: Bearer {token}' -F 'file=@photo.jpg;type=image/jpeg' {base}/v1/media

  token for u1: {token}
  more tokens:  .venv/bin/photostream token USER_ID
  follow events: .venv/bin/photostream tail all
  logs: {settings.data_dir / "demo"}
  stop: make demo-stop  (services: .venv/bin/photostream services down)
"""
    )
