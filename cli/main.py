"""The ``photostream`` command: one lazily loaded module per verb.

Verbs load on use so that ``photostream --help`` and quick verbs such as
``token`` do not pay for importing Faust, the Cassandra driver or Pillow.
"""

from __future__ import annotations

import importlib
import logging

import click

# verb -> ("module:attribute", one-line help shown without importing the module).
VERBS: dict[str, tuple[str, str]] = {
    "services": (
        "cli.services:services",
        "Install, start, stop and check Kafka, Cassandra and Redis.",
    ),
    "db": ("cli.db:db", "Cassandra schema migrations."),
    "topics": ("cli.topics:topics", "List (or create) every topic with its key and partitions."),
    "schemas": ("cli.schemas:schemas", "Export the event contracts as JSON Schema."),
    "produce": ("cli.produce:produce", "Validate JSON-lines events and send them to their topics."),
    "tail": ("cli.tail:tail", "Decode and follow the events of a topic."),
    "worker": ("cli.worker:worker", "Run every Faust agent."),
    "api": ("cli.api:api", "Serve the HTTP API."),
    "token": ("cli.token:token", "Print a bearer token for a user."),
    "simulate": ("cli.simulate:simulate", "Produce a synthetic, power-law workload."),
    "rebuild": ("cli.rebuild:rebuild", "Rebuild the Redis serving cache from Cassandra."),
    "bench": ("cli.bench:bench", "Benchmarks against the real services."),
    "demo": ("cli.demo:demo", "Run the whole pipeline locally and print where to look."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = VERBS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, VERBS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """photostream: a photo-and-video social backend as a Kafka + Faust dataflow."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Per-request lines from HTTP and driver internals drown the ones that say what happened.
    for noisy in ("httpx", "httpcore", "cassandra.policies"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
