"""``photostream topics``: list the registry; ``topics create``: create what is missing."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table

from schemas.topics import all_topics
from settings import get_settings


@click.group(invoke_without_command=True)
@click.pass_context
def topics(ctx: click.Context) -> None:
    """List every topic with its key, partition count and event types."""
    if ctx.invoked_subcommand is not None:
        return
    settings = get_settings()
    table = Table(title=f"topics (namespace {settings.namespace})")
    for column in ("topic", "key", "partitions", "event types", "description"):
        table.add_column(column)
    for spec in all_topics():
        table.add_row(
            spec.name(settings.namespace),
            spec.key_field,
            str(spec.partitions),
            ", ".join(spec.event_types) or "-",
            spec.description,
        )
    Console().print(table)


@topics.command("create")
def create() -> None:
    """Create every missing topic with its explicit partition count."""
    from clients.kafka import ensure_topics

    try:
        created = ensure_topics(get_settings())
    except Exception as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
