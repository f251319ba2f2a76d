"""A click group whose subcommands are imported on use and listed in help without importing.

``photostream`` and ``photostream bench`` both use it, so ``--help`` and quick verbs do not
pay for importing Faust, the Cassandra driver or Pillow.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

# name -> ("module:attribute" of a click command, one-line help shown without importing it).
LazyEntries = Mapping[str, tuple[str, str]]


class LazyGroup(click.Group):
    """A group built from ``entries``; ``section`` titles the list in its help.

    Use as ``@click.group(cls=LazyGroup, entries=VERBS, section="Commands")``.
    """

    def __init__(
        self, *args: Any, entries: LazyEntries, section: str = "Commands", **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.entries = entries
        self.section = section

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.entries)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.entries.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section(self.section):
            formatter.write_dl([(name, self.entries[name][1]) for name in self.list_commands(ctx)])
