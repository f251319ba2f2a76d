"""confluent-kafka adapters for everything outside the Faust worker.

``EventProducer`` validates, keys and sends events (the CLI ``produce``, the API,
the simulator, programs); ``ensure_topics`` creates the registry's topics with their
explicit partition counts; ``open_tail`` assigns a non-committing consumer for
analysts. Keys are partitioned with murmur2, like the Java client and aiokafka, so a
key lands in the same partition whoever produced it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from schemas.events import EventBase, parse_event
from schemas.topics import TopicSpec, all_topics, topic_for
from settings import Settings

logger = logging.getLogger(__name__)


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": f"{settings.namespace}-producer",
        "acks": "all",
        "enable.idempotence": True,
        # Same partition for a key as aiokafka/Faust and Java producers.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "compression.type": "none",
    }
    config.update(overrides)
    return config


class EventProducer:
    """Validate-then-send for programs; one Kafka producer per instance.

    ``send`` is fire-and-forget (call ``flush``); ``send_and_wait`` awaits the broker's
    acknowledgement from asyncio code (the API answers 202 only after it).
    """

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self._namespace = settings.namespace
        self._producer = Producer(producer_config(settings, **overrides))
        self._poller: threading.Thread | None = None
        self._stop = threading.Event()

    # -- building -----------------------------------------------------------------
    @staticmethod
    def prepare(data: Mapping[str, Any]) -> EventBase:
        """Validate a mapping, filling ``event_id``/``occurred_at`` when absent."""
        return parse_event(data, fill_defaults=True)

    def topic_name(self, spec: TopicSpec) -> str:
        return spec.name(self._namespace)

    # -- sending ------------------------------------------------------------------
    def send(self, event: EventBase, *, on_delivery: Any = None) -> None:
        spec = topic_for(event)
        self._produce(
            self.topic_name(spec), spec.key_for(event).encode(), event.to_json(), on_delivery
        )

    def send_raw(
        self, topic: str, key: bytes | None, value: bytes | None, *, on_delivery: Any = None
    ) -> None:
        self._produce(topic, key, value, on_delivery)

    def _produce(
        self, topic: str, key: bytes | None, value: bytes | None, on_delivery: Any
    ) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                return
            except BufferError:
                # Local queue full: serve delivery reports to make room, then retry.
                self._producer.poll(0.05)

    def poll(self, timeout_s: float = 0.0) -> int:
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for outstanding messages; returns how many are still undelivered."""
        return self._producer.flush(timeout_s)

    async def send_and_wait(self, event: EventBase) -> tuple[int, int]:
        """Send and await the broker's ack; returns (partition, offset)."""
        self._ensure_poller()
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[tuple[int, int]] = loop.create_future()

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                loop.call_soon_threadsafe(_settle, fut, None, KafkaException(err))
            else:
                loop.call_soon_threadsafe(_settle, fut, (msg.partition(), msg.offset()), None)

        self.send(event, on_delivery=delivered)
        return await fut

    def _ensure_poller(self) -> None:
        # Delivery callbacks run inside poll(); a daemon thread serves them for asyncio users.
        if self._poller is None:
            self._poller = threading.Thread(
                target=self._poll_forever, name="kafka-poller", daemon=True
            )
            self._poller.start()

    def _poll_forever(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def list_topics(self, timeout: float = 5.0) -> Any:
        """Cluster metadata through the producer's connection (a real broker round trip)."""
        return self._producer.list_topics(timeout=timeout)

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=2)
        self._producer.flush(timeout_s)


def _settle(fut: asyncio.Future[Any], value: Any, exc: BaseException | None) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(value)


# --- topics --------------------------------------------------------------------


def admin(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 3})


def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create missing topics with their explicit partition counts; returns those created.

    An existing topic with a different partition count is an error: co-partitioned
    joins would silently break.
    """
    return ensure_named_topics(
        settings,
        {
            spec.name(settings.namespace): (spec.partitions, spec.configs)
            for spec in (specs or all_topics())
        },
    )


def ensure_named_topics(
    settings: Settings, wanted: Mapping[str, tuple[int, Mapping[str, str]]]
) -> list[str]:
    """``ensure_topics`` for topics named outside the registry (the tables' changelogs):
    name -> (partitions, configs)."""
    client = admin(settings)
    metadata = client.list_topics(timeout=10)
    for name, (partitions, _) in wanted.items():
        existing = metadata.topics.get(name)
        if (
            existing is not None
            and existing.error is None
            and len(existing.partitions) != partitions
        ):
            raise RuntimeError(
                f"topic {name} has {len(existing.partitions)} partitions, the registry says "
                f"{partitions}; recreate it or use another PHOTOSTREAM_NAMESPACE"
            )
    missing = [name for name in wanted if name not in metadata.topics]
    if not missing:
        return []
    futures = client.create_topics(
        [
            NewTopic(
                name,
                num_partitions=wanted[name][0],
                replication_factor=settings.topic_replication_factor,
                config=dict(wanted[name][1]),
            )
            for name in missing
        ]
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def delete_namespace_topics(settings: Settings) -> list[str]:
    """Delete every topic of this namespace, Faust's changelogs included (tests, resets)."""
    client = admin(settings)
    prefixes = (f"{settings.namespace}.", f"{settings.namespace}-")
    names = [n for n in client.list_topics(timeout=10).topics if n.startswith(prefixes)]
    if names:
        for future in client.delete_topics(names, operation_timeout=30).values():
            try:
                future.result()
            except KafkaException as exc:
                logger.warning("could not delete topic: %s", exc)
    return names


def open_tail(settings: Settings, topics: list[str], *, from_beginning: bool) -> Consumer:
    """A consumer assigned to every partition of ``topics``; it commits nothing."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"{settings.namespace}-tail",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    metadata = consumer.list_topics(timeout=10)
    assignment = []
    for name in topics:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            raise KeyError(name)
        offset = OFFSET_BEGINNING if from_beginning else OFFSET_END
        assignment.extend(TopicPartition(name, p, offset) for p in topic.partitions)
    consumer.assign(assignment)
    return consumer
