"""``photostream bench recovery``: how long a restarted worker takes to serve again.

The state grows in steps (distinct like marks: one per (post, user)); after each step
the worker is stopped with SIGTERM and started again, and the figures are:
- restart to serving: SIGTERM sent → the new worker's ``/healthz`` says serving;
- the recovery itself as the worker reports it (changelog records read, seconds), and
  its rate beside a plain confluent-kafka consumer reading the same changelog records
  in the same run (the ceiling of any replay).
The memory store replays every table's changelog from the start, so recovery time grows
with the number of live marks (the changelog is compacted to one record per mark).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import click

from bench.engagement import CommitWatch, _encode, _produce, _send_encoded
from bench.harness import BenchNamespace, raw_consume_rate

POSTS = 10_000


def _likes(start_index: int, n: int, posts: int, start: datetime) -> list[dict[str, object]]:
    """``n`` likes, each a new (post, user) mark."""
    rng = random.Random(start_index)
    return [
        {
            "type": "like",
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "occurred_at": (start + timedelta(milliseconds=i)).isoformat(),
            "user_id": f"u{i // posts}",
            "post_id": f"p{i % posts}",
        }
        for i in range(start_index, start_index + n)
    ]


@click.command()
@click.option(
    "--marks",
    default="100000,300000,1000000",
    show_default=True,
    help="Comma-separated state sizes (distinct like marks) to restart at.",
)
def recovery(marks: str) -> None:
    """Restart-to-serving time as the engagement state grows, vs raw changelog consume."""
    from clients.kafka import EventProducer
    from schemas.topics import ENGAGEMENT

    steps = sorted(int(m) for m in marks.split(","))
    rows: list[tuple[int, int, float, float, float, float]] = []
    with BenchNamespace("benchr") as ns:
        producer = EventProducer(ns.settings)
        _produce(
            producer,
            [
                {
                    "type": "post_created",
                    "user_id": f"a{i % 100}",
                    "post_id": f"p{i}",
                    "caption": "",
                    "media": [],
                }
                for i in range(POSTS)
            ],
        )
        click.echo(f"namespace {ns.name}; starting one worker (logs in {ns.logs})")
        worker = ns.start_worker()
        topic = ENGAGEMENT.name(ns.name)
        changelog = f"{ns.name}-engagement_marks-changelog"
        made = 0
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for target in steps:
            click.echo(f"growing the state to {target:,} like marks")
            messages = _encode(producer, _likes(made, target - made, POSTS, start))
            with CommitWatch(ns.settings, topic) as watch:
                _send_encoded(producer, messages)
                while watch.committed() < target:
                    time.sleep(0.5)
            made = target
            time.sleep(2 * ns.settings.counter_flush_interval_s)

            click.echo(f"restarting the worker at {target:,} marks")
            stopped = time.perf_counter()
            worker.stop()
            worker = ns.start_worker(timeout_s=900)
            serving_s = time.perf_counter() - stopped
            assert worker.health_port is not None
            health = worker.wait_serving(worker.health_port, 10)
            records = int(health["recovered_records"])  # type: ignore[call-overload]
            took = float(health["last_recovery_s"])  # type: ignore[arg-type]
            raw = raw_consume_rate(ns.settings, changelog, target)
            rows.append((target, records, serving_s, took, records / took if took else 0.0, raw))

    click.echo("")
    click.echo(
        f"{'marks':>10} {'records':>10} {'restart→serving':>16} {'recovery':>9} "
        f"{'records/s':>10}   reference: raw consume of the marks changelog (same run)"
    )
    for target, records, serving_s, took, rate, raw in rows:
        click.echo(
            f"{target:>10,} {records:>10,} {serving_s:>14.1f} s {took:>7.1f} s {rate:>10,.0f}"
            f"   {raw:,.0f} records/s (ratio {rate / raw if raw else 0:.2f})"
        )
