"""``photostream simulate``: a power-law social graph and a mix of events, produced."""

from __future__ import annotations

import sys
import time

import click
import orjson
from rich.progress import Progress

from simulator.workload import DEFAULT_MIX, Workload, parse_mix


@click.command()
@click.option("--users", type=int, default=200, show_default=True, help="How many users.")
@click.option(
    "--events",
    "count",
    type=int,
    default=2000,
    show_default=True,
    help="Events after the bootstrap.",
)
@click.option(
    "--follows-per-user", type=int, default=20, show_default=True, help="Mean follows per user."
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same workload)."
)
@click.option(
    "--mix",
    default=",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items()),
    show_default=True,
    help="Relative weights of event kinds.",
)
@click.option(
    "--celebrities", type=int, default=0, show_default=True, help="Top users made celebrities."
)
@click.option(
    "--celebrity-followers",
    type=int,
    default=0,
    show_default=True,
    help="Followers each celebrity gets at least (set above PHOTOSTREAM_CELEBRITY_THRESHOLD).",
)
@click.option("--rate", type=float, default=0.0, help="Events per second (0: as fast as possible).")
@click.option("--no-bootstrap", is_flag=True, help="Skip profiles and the follow graph.")
@click.option(
    "--stdout",
    "to_stdout",
    is_flag=True,
    help="Print JSON lines instead of producing (pipe to produce).",
)
def simulate(
    users: int,
    count: int,
    follows_per_user: int,
    seed: int,
    mix: str,
    celebrities: int,
    celebrity_followers: int,
    rate: float,
    no_bootstrap: bool,
    to_stdout: bool,
) -> None:
    """Produce profiles, a power-law follow graph, then a mix of posts, likes, stories..."""
    try:
        weights = parse_mix(mix)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--mix") from exc
    workload = Workload(
        users=users,
        seed=seed,
        follows_per_user=follows_per_user,
        mix=weights,
        celebrities=celebrities,
        celebrity_followers=celebrity_followers,
    )
    stream = [] if no_bootstrap else list(workload.bootstrap())
    if to_stdout:
        for data in [*stream, *workload.events(count)]:
            sys.stdout.buffer.write(orjson.dumps(data) + b"\n")
        return

    from clients.kafka import EventProducer, ensure_topics
    from settings import get_settings

    settings = get_settings()
    ensure_topics(settings)
    producer = EventProducer(settings)
    total = len(stream) + count
    started = time.monotonic()
    with Progress(transient=False) as progress:
        task = progress.add_task("producing", total=total)
        for i, data in enumerate([*stream, *workload.events(count)], start=1):
            producer.send(producer.prepare(data))
            if rate > 0:
                # Pace against the start time so the average rate holds despite jitter.
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if i % 500 == 0:
                producer.poll(0)
                progress.update(task, completed=i)
        progress.update(task, completed=total)
    left = producer.flush(60)
    elapsed = time.monotonic() - started
    click.echo(
        f"produced {total - left} events in {elapsed:.1f} s ({(total - left) / elapsed:,.0f}/s)"
    )
    if left:
        click.echo(f"error: {left} events were not delivered", err=True)
        sys.exit(2)
