"""The Faust app: one per namespace, aiokafka transport, at-least-once.

Why these settings:
- ``kafka://`` (aiokafka): the ``confluent://`` driver of faust-streaming 0.15 swaps
  keys and values and never creates changelog topics.
- at-least-once with idempotent effects: Kafka transactions never cover the Redis and
  Cassandra writes, so every sink writes absolute values or upserts instead.
- the web server serves only the worker's own health (``streams.health``) on loopback:
  reads are served by the API from Redis and Cassandra, and table pages stay off.
- the consumer hands messages to the streams without four tasks per message
  (``streams.transport``).
- a stopping worker waits a bounded time for the events in flight, commits what is
  done and nothing after (``streams.transport``), so SIGTERM ends it in seconds and
  whatever was still running is replayed (every effect is idempotent).
- records fetched while a recovery completes wait for it (``hold_streams_until_seeked``).
- a dead worker's partitions move after ``broker_session_timeout`` (10 s), so a worker
  restarted after a kill -9 joins in seconds, not the minute of Faust's default.
"""

from __future__ import annotations

import faust

from schemas.topics import PARTITIONS
from settings import get_settings
from streams.health import MonitoredTopic
from streams.transport import Transport

settings = get_settings()


class App(faust.App):
    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)


app = App(
    settings.namespace,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    processing_guarantee="at_least_once",
    topic_replication_factor=settings.topic_replication_factor,
    topic_partitions=PARTITIONS,
    topic_allow_declare=True,
    # A small linger batches changelog writes; the buffer lets one partition run ahead.
    producer_linger=0.005,
    producer_acks=-1,
    stream_buffer_maxsize=16384,
    broker_commit_interval=1.0,
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=settings.worker_session_timeout_s,
    broker_heartbeat_interval=settings.worker_session_timeout_s / 5,
    Topic=MonitoredTopic,
    web_enabled=True,
    web_bind=settings.worker_web_host,
    web_host=settings.worker_web_host,
    web_port=settings.worker_web_port,
    web_tables_enabled=False,
    web_router_enabled=False,
    table_cleanup_interval=30.0,
    datadir=str(settings.data_dir / "worker" / settings.namespace),
)


@app.on_rebalance_complete.connect
async def hold_streams_until_seeked(sender: faust.App, **_: object) -> None:
    """Stop handing fetched records to the streams until the recovery has finished.

    When a recovery completes, Faust resumes the stream partitions, seeks them to their
    committed offsets, then clears the streams' buffers and resumes flow. Records
    fetched in between were put in the buffers, thrown away by the clear, and their
    copies fetched again after the seek dropped as already read: events lost on a
    plain restart, committed past. Suspended here (this signal opens that sequence),
    they wait for the resume instead, and Faust's own resume lets them through.
    """
    sender.flow_control.suspend()


def changelog_topics() -> dict[str, tuple[int, dict[str, str]]]:
    """Every declared table's changelog: name -> (partitions, configs), compacted as
    Faust declares them. Created before the worker starts, so the first write to a
    table on a fresh namespace never races the topic's creation (Faust would otherwise
    find the changelog with no partitions and refuse the table)."""
    return {
        table.changelog_topic.get_topic_name(): (
            table.partitions or PARTITIONS,
            {"cleanup.policy": "compact"},
        )
        for table in app.tables.values()
    }
