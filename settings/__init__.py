"""One frozen settings object, read from PHOTOSTREAM_* environment variables.

This package is the only reader of ``os.environ``; everything else receives a
``Settings`` (or values from it) as an argument.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PHOTOSTREAM_", frozen=True, env_ignore_empty=True, extra="ignore"
    )

    # Where local services keep jars, data and logs, plus the media store and dev secret.
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / ".data")
    # Names topics (<namespace>.<entity>), the Faust app / consumer group, the Cassandra
    # keyspace and the Redis key prefix, so a test run and the demo can share one machine.
    namespace: str = Field(default="photostream", pattern=r"^[a-z][a-z0-9_]{0,40}$")

    # Kafka
    kafka_host: str = "127.0.0.1"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap_mb: int = 768
    # 1 on the single local broker; 3 in production.
    topic_replication_factor: int = 1

    # Cassandra
    cassandra_host: str = "127.0.0.1"
    cassandra_port: int = 9042
    cassandra_storage_port: int = 7000
    cassandra_heap_mb: int = 1024
    # JMX for nodetool; bound to loopback only.
    cassandra_jmx_port: int = 7199
    cassandra_replication_factor: int = 1
    cassandra_local_dc: str = "datacenter1"

    # Redis
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379

    # Java 17 (Cassandra 5.0 cannot run on JDK 24+).
    java_home: Path = Path("/usr/lib/jvm/java-17-openjdk-amd64")
    # Local services launcher: a first Cassandra boot takes about a minute on 2 cores.
    services_start_timeout_s: float = 240.0
    services_stop_timeout_s: float = 60.0

    # Worker / Faust: the worker's health page (GET /healthz) on loopback.
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = 6066
    # A worker not serving that makes no recovery progress this long exits (code 5).
    recovery_stall_timeout_s: float = 60.0
    # A worker silent this long leaves its group and its partitions move (kill -9 case).
    worker_session_timeout_s: float = 10.0

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # HMAC secret for bearer tokens; a development default is generated in data_dir.
    secret_key: str | None = None
    token_ttl_s: int = 7 * 24 * 3600

    # Accounts: access tokens from login are short-lived; refresh tokens rotate on every
    # use, and reusing a spent one revokes its whole family (every device's session of it).
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # A deleted account's username stays reserved this long before anyone may take it.
    username_grace_s: int = 14 * 24 * 3600
    # How often the worker looks for deleted accounts due a recheck or a final sweep.
    erasure_sweep_interval_s: float = 30.0

    # Rate limits per (user or client address, route class), over a sliding minute,
    # shared by every API process through Redis. 0 turns a class off.
    rate_limits_enabled: bool = True
    rate_reads_per_min: int = 600
    rate_writes_per_min: int = 120
    rate_likes_per_min: int = 60  # likes, saves, shares, comments, follows
    rate_uploads_per_min: int = 20
    rate_per_ip_factor: int = 5  # an address may carry this many users' worth of requests
    # Failed logins per username and per address before back-off starts; each failure
    # past it doubles the wait, from login_backoff_base_s up to login_backoff_max_s.
    login_free_failures: int = 5
    login_backoff_base_s: int = 1
    login_backoff_max_s: int = 15 * 60

    # Feeds
    celebrity_threshold: int = 10_000
    feed_cap: int = 500
    inactive_after_days: int = 30
    ranking_budget_ms: float = 15.0
    # Only the newest candidates are ranked by engagement (bounded work per read).
    feed_rank_window: int = 100
    # Newest posts merged at read time from each celebrity followee (fan-out on read).
    feed_pull_tail: int = 100
    # A first page fixes the ranked order of one scroll for this long (no dups, no gaps).
    feed_session_ttl_s: int = 1800
    # How often changed feeds are copied to Cassandra (one absolute write per feed).
    feed_snapshot_interval_s: float = 5.0
    # Newest posts kept per author in Redis (profile grid, pull tails, rebuilds).
    author_posts_cap: int = 1000
    # Post events (and media outcomes) per batch, or fewer after this long: a batch's
    # post projections, audiences and pushes each go out as one pipelined call.
    posts_batch_max: int = 2_000
    posts_batch_within_s: float = 0.05
    # The same for profile changes and feed openings (the users agent).
    users_batch_max: int = 2_000
    users_batch_within_s: float = 0.05

    # Engagement
    counter_flush_interval_s: float = 2.0
    # Events the counter takes per batch (or fewer after this long): the table is written
    # once per changed mark per batch and the batch is acked only after that write.
    engagement_batch_max: int = 10_000
    engagement_batch_within_s: float = 0.1
    # The same for the hashtag re-key and counter, and for story views (seen marks and
    # receipts): a batch's Redis, Cassandra and re-keyed writes go out together.
    trending_batch_max: int = 10_000
    trending_batch_within_s: float = 0.1
    story_views_batch_max: int = 10_000
    story_views_batch_within_s: float = 0.1
    # How long an API like/unlike answers for itself while the stream catches up.
    like_pending_ttl_s: int = 30

    # Stories: how often the sweeper looks for stories past 24 h (it emits story_expired).
    story_sweep_interval_s: float = 10.0

    # Trending: how often per-window counts are recomputed into the trending lists.
    trending_flush_interval_s: float = 2.0

    # Media
    media_max_pixels: int = 50_000_000
    media_max_upload_bytes: int = 50 * 1024 * 1024
    media_max_video_s: float = 90.0
    media_job_timeout_s: float = 600.0
    # Photo jobs run in their own processes: 0 = one per core. A job past the timeout, or
    # past the address-space cap (MB), kills only its process.
    media_photo_workers: int = 0
    media_photo_timeout_s: float = 60.0
    media_job_memory_mb: int = 1024
    # Reels run in a separate pool at a lower CPU priority, so photos are never starved.
    media_video_workers: int = 1
    media_video_nice: int = 10

    @property
    def cassandra_keyspace(self) -> str:
        return self.namespace

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def services_dir(self) -> Path:
        return self.data_dir / "services"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
