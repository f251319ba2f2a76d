"""The ``photostream`` command: one lazily loaded module per verb.

Verbs load on use so that ``photostream --help`` and quick verbs such as
``token`` do not pay for importing Faust, the Cassandra driver or Pillow.
"""

from __future__ import annotations

import logging

import click

from cli.lazy import LazyEntries, LazyGroup

# verb -> ("module:attribute", one-line help shown without importing the module).
VERBS: LazyEntries = {
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
    "token": ("cli.token:token", "Print a bearer token for a user (local development only)."),
    "simulate": ("cli.simulate:simulate", "Produce a synthetic, power-law workload."),
    "rebuild": ("cli.rebuild:rebuild", "Rebuild the Redis serving cache from Cassandra."),
    "bench": ("cli.bench:bench", "Benchmarks against the real services."),
    "demo": ("cli.demo:demo", "Run the whole pipeline locally and print where to look."),
}


@click.group(
    cls=LazyGroup,
    entries=VERBS,
    section="Commands",
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
