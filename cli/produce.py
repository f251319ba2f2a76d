"""``photostream produce [FILE|-]``: JSON lines in, validated and keyed events out.

Each line is validated; ``event_id`` and ``occurred_at`` are filled when absent. A
rejected line is reported with its number and reason and the valid lines are still
sent. Exit codes: 0 all sent, 1 some lines rejected, 2 delivery failed.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import click
import orjson

from schemas.events import InvalidEvent


@click.command()
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--quiet", "-q", is_flag=True, help="Print only errors and the summary.")
def produce(source: IO[bytes], quiet: bool) -> None:
    """Validate JSON-lines events from SOURCE (a file or - for stdin) and send them."""
    from clients.kafka import EventProducer
    from settings import get_settings

    producer = EventProducer(get_settings())
    sent = rejected = failed = 0

    def delivered(err: Any, msg: Any) -> None:
        nonlocal failed
        if err is not None:
            failed += 1
            click.echo(f"delivery failed for {msg.topic()}: {err}", err=True)

    for number, raw in enumerate(source, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidEvent(f"not JSON: {exc}") from None
            event = producer.prepare(data)
        except InvalidEvent as exc:
            rejected += 1
            click.echo(f"line {number}: rejected: {exc.reason}", err=True)
            continue
        producer.send(event, on_delivery=delivered)
        producer.poll(0)
        sent += 1
        if not quiet:
            click.echo(f"line {number}: {event.type} {event.event_id}")
    undelivered = producer.flush(30)
    failed += undelivered
    click.echo(f"sent {sent - failed}, rejected {rejected}, failed {failed}", err=True)
    if failed:
        sys.exit(2)
    if rejected:
        sys.exit(1)
