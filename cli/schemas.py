"""``photostream schemas export DIR``."""

from __future__ import annotations

from pathlib import Path

import click

from schemas.export import export_schemas


@click.group()
def schemas() -> None:
    """Event contracts (v1) for producers in other languages."""


@schemas.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write one JSON Schema file per event type into DIRECTORY."""
    written = export_schemas(directory)
    click.echo(f"wrote {len(written)} schemas to {directory}")
