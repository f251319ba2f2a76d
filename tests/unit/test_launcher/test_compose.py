"""docker/compose.yml must run the versions and ports the local launcher runs."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from cli.services import services
from launcher.versions import CASSANDRA_VERSION, KAFKA_VERSION, REDIS_DOCKER_TAG, REDIS_MAJOR
from settings import Settings

COMPOSE = Path(__file__).resolve().parents[3] / "docker" / "compose.yml"


def image_tag(text: str, image: str) -> str:
    match = re.search(rf"^\s*image:\s*{re.escape(image)}:(\S+)\s*$", text, re.MULTILINE)
    assert match, f"no {image} image in {COMPOSE}"
    return match.group(1)


def test_compose_images_match_pinned_versions() -> None:
    text = COMPOSE.read_text()
    assert image_tag(text, "apache/kafka") == KAFKA_VERSION
    assert image_tag(text, "cassandra") == CASSANDRA_VERSION
    assert image_tag(text, "redis") == REDIS_DOCKER_TAG
    assert REDIS_DOCKER_TAG.split(".")[0] == REDIS_MAJOR


def test_compose_ports_match_settings_defaults() -> None:
    text = COMPOSE.read_text()
    defaults = Settings()
    for port in (defaults.kafka_port, defaults.cassandra_port, defaults.redis_port):
        assert f'"127.0.0.1:{port}:{port}"' in text


def test_compose_kafka_matches_broker_settings() -> None:
    text = COMPOSE.read_text()
    assert 'KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false"' in text
    assert 'KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: "1"' in text
    assert 'KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: "1"' in text
    assert 'KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: "0"' in text


def test_help_documents_exit_codes() -> None:
    result = CliRunner().invoke(services, ["--help"])
    assert result.exit_code == 0
    for code in ("0", "1", "2", "3", "4"):
        assert re.search(rf"^\s+{code}\s+\w", result.output, re.MULTILINE)
