"""``photostream bench ...``: each scenario lives in ``bench/`` and prints its figures."""

from __future__ import annotations

import importlib

import click

# scenario -> "module:attribute" of a click command; loaded on use.
SCENARIOS: dict[str, tuple[str, str]] = {
    "media": ("bench.media:media", "Photo variants per 12 MP upload vs decode floor and naive."),
}


class _Scenarios(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SCENARIOS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = SCENARIOS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Scenarios"):
            formatter.write_dl([(name, SCENARIOS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=_Scenarios)
def bench() -> None:
    """Benchmarks against the real services; every figure is printed beside a reference."""
