"""`photostream services up|down|status|logs`: the local Kafka, Cassandra and Redis."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table

from launcher import manager
from launcher.errors import EXIT_FAILED, ServiceError
from launcher.logs import tail_lines
from launcher.service import Progress
from settings import get_settings

console = Console(stderr=True)
out = Console()

ONLY = click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(manager.SERVICE_NAMES),
    help="Act on this service only (repeatable). Default: all three.",
)


@click.group()
def services() -> None:
    """Run real Apache Kafka, Apache Cassandra and Redis locally, without Docker.

    Jars come from Maven Central on first use; jars, data and logs live under
    PHOTOSTREAM_DATA_DIR/services (default ./.data/services). Processes keep running
    after the command exits.

    \b
    Exit codes:
      0  all selected services answer / the action succeeded
      1  a service is down, or failed to start or stop
      2  usage error
      3  missing prerequisite (Java 17, Maven, redis-server)
      4  a port is held by another process
    """


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a ServiceError into a red message and its exit code instead of a traceback."""
    try:
        yield
    except ServiceError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)


@contextmanager
def spinner(initial: str) -> Iterator[Progress]:
    """A rich spinner on a terminal; plain lines otherwise (CI logs, pipes)."""
    started = time.monotonic()

    def line(message: str) -> None:
        console.print(
            f"[dim]{time.monotonic() - started:6.1f}s[/dim] {message}",
            highlight=False,
            soft_wrap=True,
        )

    if not console.is_terminal:
        yield line
        return
    with console.status(initial) as status:

        def update(message: str) -> None:
            line(message)
            status.update(message + " ...")

        yield update


def quiet_client_logs() -> None:
    # Driver chatter during readiness polling is expected and not the user's concern.
    for name in ("cassandra", "kafka", "redis"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@services.command()
@ONLY
@click.option(
    "--timeout",
    type=float,
    default=None,
    help="Seconds to wait for each service to answer (default: PHOTOSTREAM_SERVICES_START_TIMEOUT_S).",
)
def up(only: tuple[str, ...], timeout: float | None) -> None:
    """Install on first use, start what is not running, wait until each answers."""
    quiet_client_logs()
    settings = get_settings()
    with reported_errors(), spinner("starting services") as progress:
        reports = manager.up(settings, only or None, progress, timeout)
    for report in reports:
        how = f"started in {report.seconds:.1f} s" if report.spawned else "already running"
        out.print(f"[green]✓[/green] {report.name} {report.version}: {how}", highlight=False)


@services.command()
@ONLY
def down(only: tuple[str, ...]) -> None:
    """Stop the services started from this data dir (SIGTERM, then SIGKILL after a timeout)."""
    quiet_client_logs()
    with reported_errors(), spinner("stopping services") as progress:
        stopped = manager.down(get_settings(), only or None, progress)
    out.print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@services.command()
@ONLY
def status(only: tuple[str, ...]) -> None:
    """Show each service; exit 0 only when every selected service answers a real request."""
    quiet_client_logs()
    settings = get_settings()
    statuses = manager.status(settings, only or None)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in ("service", "state", "pid", "ports", "version"):
        table.add_column(column, no_wrap=True)
    colours = {"answering": "green", "starting": "yellow", "stopped": "red"}
    for item in statuses:
        table.add_row(
            item.name,
            f"[{colours[item.state]}]{item.state}[/]",
            str(item.pid or "-"),
            " ".join(str(port) for port in item.ports.values()),
            item.version or "-",
        )
    out.print(table)
    for item in statuses:
        if item.detail:
            out.print(f"  {item.name}: {item.detail}", highlight=False, soft_wrap=True)
    out.print(f"data and logs: {settings.services_dir}", highlight=False, soft_wrap=True)
    down_names = [item.name for item in statuses if not item.answering]
    if down_names:
        console.print(
            f"[red]not answering:[/red] {', '.join(down_names)} "
            "(start with `photostream services up`)",
            highlight=False,
        )
        sys.exit(EXIT_FAILED)


@services.command()
@click.argument("name", type=click.Choice(manager.SERVICE_NAMES))
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines to show.")
def logs(name: str, lines: int) -> None:
    """Print the end of a service's log (and say where the log is)."""
    service = manager.build(get_settings(), [name])[name]
    console.print(f"[dim]{service.log_file}[/dim]", highlight=False)
    for text in tail_lines(service.log_file, lines):
        click.echo(text)
