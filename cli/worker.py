"""``photostream worker``: every Faust agent in one worker process; ``worker status``.

Exit codes of ``photostream worker``: 0 stopped cleanly (SIGTERM or SIGINT), 1 crashed
or Kafka unreachable, 4 the health port is held by another process, 5 the worker could
not rebuild its state (an unreadable changelog record, or a recovery without progress
for ``PHOTOSTREAM_RECOVERY_STALL_TIMEOUT_S``); the log says which.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import sys

import click
import httpx
import orjson

from settings import Settings, get_settings

logger = logging.getLogger(__name__)

EXIT_PORT_HELD = 4


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


@click.group(invoke_without_command=True)
@click.option("--loglevel", default="info", show_default=True, help="Faust/worker log level.")
@click.pass_context
def worker(ctx: click.Context, loglevel: str) -> None:
    """Run every agent until interrupted (SIGINT/SIGTERM stop it cleanly).

    The worker serves its health at GET /healthz on PHOTOSTREAM_WORKER_WEB_PORT (6066).
    Exit codes: 0 stopped cleanly, 1 crashed or Kafka unreachable, 4 health port held,
    5 could not rebuild its state (the log names the table, partition and offset).
    """
    if ctx.invoked_subcommand is None:
        run_worker(get_settings(), loglevel)


def run_worker(settings: Settings, loglevel: str) -> None:
    import uvloop

    from clients.kafka import ensure_topics

    try:
        created = ensure_topics(settings)
    except Exception as exc:
        click.echo(f"error: cannot prepare topics on {settings.kafka_bootstrap}: {exc}", err=True)
        sys.exit(1)
    if created:
        logger.info("created topics: %s", ", ".join(created))
    if not _port_free(settings.worker_web_host, settings.worker_web_port):
        click.echo(
            f"error: the worker's health port {settings.worker_web_host}:"
            f"{settings.worker_web_port} is held by another process "
            "(another worker? set PHOTOSTREAM_WORKER_WEB_PORT)",
            err=True,
        )
        sys.exit(EXIT_PORT_HELD)

    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)
    # uvloop roughly +30 % events/s for Faust agents; set before the worker makes its loop.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.set_event_loop(asyncio.new_event_loop())
    # The tables keep millions of small objects alive, and with the default young-
    # generation threshold (700 allocations) the cyclic GC took ~13 % of the worker's
    # time at 10k events/s; 50,000 brings it to ~2 %.
    gc.set_threshold(50_000, 20, 20)

    import faust

    import agents  # noqa: F401  (registers every agent with the app)
    from clients.kafka import ensure_named_topics
    from streams import health
    from streams.app import app, changelog_topics

    try:
        created = ensure_named_topics(settings, changelog_topics())
    except Exception as exc:
        click.echo(f"error: cannot prepare changelog topics: {exc}", err=True)
        sys.exit(1)
    if created:
        logger.info("created changelog topics: %s", ", ".join(created))
    monitor = health.install(
        app, namespace=settings.namespace, stall_timeout_s=settings.recovery_stall_timeout_s
    )
    logger.info(
        "starting worker for namespace %s on %s (health: http://%s:%d/healthz)",
        settings.namespace,
        settings.kafka_bootstrap,
        settings.worker_web_host,
        settings.worker_web_port,
    )
    try:
        faust.Worker(
            app, monitor, loglevel=loglevel, quiet=True, redirect_stdouts=False
        ).execute_from_commandline()
    finally:
        if monitor.failed:
            click.echo(f"error: the worker cannot serve: {monitor.health.reason}", err=True)
            sys.exit(health.EXIT_CANNOT_SERVE)


@worker.command()
@click.option("--port", type=int, default=None, help="Health port (PHOTOSTREAM_WORKER_WEB_PORT).")
@click.option("--json", "as_json", is_flag=True, help="Print the health document as JSON.")
def status(port: int | None, as_json: bool) -> None:
    """Show a running worker's state: recovering, serving or failed.

    Exit codes: 0 serving, 1 starting, recovering or failed, 3 no worker answers.
    """
    settings = get_settings()
    url = f"http://{settings.worker_web_host}:{port or settings.worker_web_port}/healthz"
    try:
        response = httpx.get(url, timeout=5)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        click.echo(f"no worker answers at {url}: {exc}", err=True)
        sys.exit(3)
    if as_json:
        click.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(
            f"{body['state']}: {body['detail']} (namespace {body['namespace']}, pid {body['pid']})"
        )
        click.echo(
            f"  recovered {body['recovered_records']} changelog records"
            + (f" in {body['last_recovery_s']} s" if body["last_recovery_s"] is not None else "")
            + f", {body['remaining_records']} remaining; {body['recoveries']} recoveries"
        )
        if body["reason"]:
            click.echo(f"  reason: {body['reason']}")
    sys.exit(0 if body["state"] == "serving" else 1)
