"""``photostream tail TOPIC|all``: decode and follow events, as an analyst would."""

from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console
from rich.markup import escape

from schemas.dead_letters import DeadLetter
from schemas.events import InvalidEvent, decode_event
from schemas.topics import DLQ, all_topics

ENVELOPE = ("event_id", "type", "v", "occurred_at", "user_id")


def resolve_topics(namespace: str, topic: str) -> list[str]:
    names = {spec.name(namespace): spec for spec in all_topics()}
    if topic == "all":
        return list(names)
    for candidate in (topic, f"{namespace}.{topic}"):
        if candidate in names:
            return [candidate]
    raise click.BadParameter(
        f"unknown topic {topic!r}; one of: all, " + ", ".join(s.entity for s in all_topics()),
        param_hint="TOPIC",
    )


@click.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained event.")
@click.option("--type", "event_types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--user", "user_id", help="Only events whose acting user is USER.")
@click.option("--limit", type=int, default=None, help="Stop after printing N events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (for jq).")
@click.option("--idle-exit", type=float, default=None, help="Stop after N seconds without events.")
def tail(
    topic: str,
    from_beginning: bool,
    event_types: tuple[str, ...],
    user_id: str | None,
    limit: int | None,
    as_json: bool,
    idle_exit: float | None,
) -> None:
    """Print events of TOPIC (an entity such as posts, a full name, or all) and keep following."""
    import time

    from clients.kafka import open_tail
    from settings import get_settings

    settings = get_settings()
    names = resolve_topics(settings.namespace, topic)
    dlq_name = DLQ.name(settings.namespace)
    console = Console(highlight=False)
    try:
        consumer = open_tail(settings, names, from_beginning=from_beginning)
    except KeyError as exc:
        click.echo(
            f"error: topic {exc.args[0]} does not exist yet (photostream topics create)", err=True
        )
        sys.exit(1)
    except Exception as exc:
        click.echo(f"error: cannot reach Kafka at {settings.kafka_bootstrap}: {exc}", err=True)
        sys.exit(1)
    printed = 0
    last_seen = time.monotonic()
    try:
        while limit is None or printed < limit:
            msg = consumer.poll(0.5)
            if msg is None:
                if idle_exit is not None and time.monotonic() - last_seen > idle_exit:
                    break
                continue
            if msg.error():
                click.echo(f"error: {msg.error()}", err=True)
                continue
            last_seen = time.monotonic()
            where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
            if msg.topic() == dlq_name:
                record = _dead_letter(msg.value())
                if event_types or user_id:
                    continue
                if as_json:
                    click.echo(
                        orjson.dumps(
                            {"topic": msg.topic(), "offset": msg.offset(), "dead_letter": record}
                        )
                    )
                else:
                    console.print(f"[red]DLQ[/] {escape(where)} {escape(str(record))}")
                printed += 1
                continue
            try:
                event = decode_event(msg.value())
            except InvalidEvent as exc:
                if event_types or user_id:
                    continue
                if as_json:
                    click.echo(
                        orjson.dumps(
                            {"topic": msg.topic(), "offset": msg.offset(), "invalid": exc.reason}
                        )
                    )
                else:
                    console.print(f"[red]INVALID[/] {escape(where)} {escape(exc.reason)}")
                printed += 1
                continue
            if event_types and event.type not in event_types:
                continue
            if user_id and event.user_id != user_id:
                continue
            data = event.model_dump(mode="json")
            if as_json:
                click.echo(
                    orjson.dumps(
                        {
                            "topic": msg.topic(),
                            "partition": msg.partition(),
                            "offset": msg.offset(),
                            **data,
                        }
                    )
                )
            else:
                rest = " ".join(f"{k}={v}" for k, v in data.items() if k not in ENVELOPE)
                console.print(
                    f"[dim]{data['occurred_at']}[/] [bold]{event.type}[/] user={escape(event.user_id)} "
                    f"{escape(rest)} [dim]{escape(where)}[/]"
                )
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def _dead_letter(raw: bytes | None) -> dict[str, object]:
    try:
        return DeadLetter.model_validate(orjson.loads(raw or b"null")).model_dump(mode="json")
    except Exception:
        return {"unreadable": True}
