"""``photostream db migrate``."""

from __future__ import annotations

import sys

import click

from clients import cassandra as cassandra_client
from clients.migrations import MigrationError, migrate
from settings import get_settings


@click.group()
def db() -> None:
    """Cassandra schema."""


@db.command("migrate")
def migrate_command() -> None:
    """Create the keyspace and apply pending migrations (safe to run on every start)."""
    settings = get_settings()
    try:
        session = cassandra_client.connect(settings)
    except Exception as exc:
        click.echo(
            f"error: cannot reach Cassandra at {settings.cassandra_host}:{settings.cassandra_port} "
            f"({exc}); is it running? try: photostream services up",
            err=True,
        )
        sys.exit(1)
    try:
        applied = migrate(
            session,
            settings.cassandra_keyspace,
            replication_factor=settings.cassandra_replication_factor,
        )
    except MigrationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        cassandra_client.close(session)
    if applied:
        for m in applied:
            click.echo(f"applied {m.version:04d}_{m.name}")
    else:
        click.echo(f"keyspace {settings.cassandra_keyspace} is up to date")
