"""Test session setup.

Every session gets its own namespace (topics ``<ns>.*``, Cassandra keyspace ``<ns>``,
Redis keys ``<ns>:*``, Faust group ``<ns>``), so tests never see the demo's data or
another run's, and everything is dropped at the end. Integration and end-to-end tests
need the real services (``photostream services up``); when they are down those tests
fail with the reason instead of being skipped.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Before any project module reads settings.
NAMESPACE = f"t{uuid.uuid4().hex[:10]}"
os.environ["PHOTOSTREAM_NAMESPACE"] = NAMESPACE
# Small intervals so tests observe flushes quickly; production defaults stay untouched.
os.environ.setdefault("PHOTOSTREAM_COUNTER_FLUSH_INTERVAL_S", "0.5")
# A handful of follows makes a celebrity, so tests exercise fan-out on read cheaply.
os.environ.setdefault("PHOTOSTREAM_CELEBRITY_THRESHOLD", "6")
os.environ.setdefault("PHOTOSTREAM_STORY_SWEEP_INTERVAL_S", "1")
os.environ.setdefault("PHOTOSTREAM_ERASURE_SWEEP_INTERVAL_S", "1")
os.environ.setdefault("PHOTOSTREAM_TRENDING_FLUSH_INTERVAL_S", "0.5")

from settings import Settings, get_settings  # noqa: E402
from tests.support import Api, Worker  # noqa: E402

pytest_plugins = ["tests.factories"]

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts[0] == "integration":
            item.add_marker(pytest.mark.integration)
        elif parts[0] == "e2e":
            item.add_marker(pytest.mark.e2e)
    # Tests that stop a service run last, so no other test sees the outage.
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def test_env(settings: Settings) -> dict[str, str]:
    """Environment for child processes (worker, API, CLI) of this session.

    The shared API's rate limits are far above what one test user sends, so tests
    that act quickly as one user are not refused; the rate-limit tests start their own
    API processes with small limits.
    """
    env = {k: v for k, v in os.environ.items() if k.startswith("PHOTOSTREAM_")}
    for name in ("READS", "WRITES", "LIKES", "UPLOADS"):
        env.setdefault(f"PHOTOSTREAM_RATE_{name}_PER_MIN", "1000000")
    return env


def _check_services(settings: Settings) -> list[str]:
    from launcher.manager import status

    return [f"{s.name}: {s.detail or s.state}" for s in status(settings) if not s.answering]


@pytest.fixture(scope="session")
def services(settings: Settings) -> Settings:
    down = _check_services(settings)
    if down:
        pytest.fail(
            "the real services are not answering (run `make test` or `photostream services up`): "
            + "; ".join(down),
            pytrace=False,
        )
    return settings


@pytest.fixture(scope="session")
def namespace(services: Settings) -> Iterator[str]:
    """Keyspace migrated and topics created for this session; all dropped afterwards."""
    from clients import cassandra as cassandra_client
    from clients.kafka import delete_namespace_topics, ensure_topics
    from clients.migrations import migrate

    session = cassandra_client.connect(services)
    migrate(session, services.cassandra_keyspace, replication_factor=1)
    ensure_topics(services)
    yield services.namespace
    delete_namespace_topics(services)
    session.execute(f"DROP KEYSPACE IF EXISTS {services.cassandra_keyspace}", timeout=60)
    cassandra_client.close(session)
    asyncio.run(_drop_redis(services))


async def _drop_redis(settings: Settings) -> None:
    from clients.redis import connect
    from schemas.redis_keys import RedisKeys

    redis = connect(settings)
    async for key in redis.scan_iter(match=RedisKeys(settings.namespace).all_pattern(), count=1000):
        await redis.delete(key)
    await redis.aclose()


@pytest.fixture
def namespace_factory(services: Settings) -> Iterator[Callable[[str], Settings]]:
    """Namespaces of their own (topics, keyspace, Redis prefix, group), dropped afterwards.

    For tests that kill or restart a worker: nothing they do reaches the session's.
    """
    from clients import cassandra as cassandra_client
    from clients.kafka import delete_namespace_topics, ensure_topics
    from clients.migrations import migrate

    made: list[Settings] = []
    session = cassandra_client.connect(services)

    def make(prefix: str) -> Settings:
        settings = Settings(namespace=f"{prefix}{uuid.uuid4().hex[:8]}")
        migrate(session, settings.cassandra_keyspace, replication_factor=1)
        ensure_topics(settings)
        made.append(settings)
        return settings

    yield make
    for settings in made:
        delete_namespace_topics(settings)
        session.execute(f"DROP KEYSPACE IF EXISTS {settings.cassandra_keyspace}", timeout=60)
        asyncio.run(_drop_redis(settings))
    cassandra_client.close(session)


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def worker(namespace: str, test_env: dict[str, str], logs_dir: Path) -> Iterator[Worker]:
    """One worker running every agent for the session's namespace."""
    proc = Worker(env=test_env, log_file=logs_dir / "worker.log").start_and_wait()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def api(namespace: str, test_env: dict[str, str], logs_dir: Path) -> Iterator[Api]:
    proc = Api(env=test_env, log_file=logs_dir / "api.log").start_and_wait()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def producer(namespace: str, services: Settings) -> Iterator[object]:
    from clients.kafka import EventProducer

    p = EventProducer(services)
    yield p
    p.close()


@pytest.fixture(scope="session")
def token_for(services: Settings):  # type: ignore[no-untyped-def]
    from api.auth import issue_token, load_secret

    secret = load_secret(services)

    def make(user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(user_id, secret=secret, ttl_s=3600)}"}

    return make
