"""Config rendering: pure functions from settings to file text, checked without starting anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from launcher import cassandra, kafka, redis
from launcher.rendering import load_template, render
from launcher.versions import CASSANDRA_VERSION, KAFKA_VERSION, RELOAD4J_VERSION
from settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        kafka_port=19092,
        kafka_controller_port=19093,
        cassandra_port=19042,
        cassandra_storage_port=17000,
        redis_port=16379,
    )


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def test_render_fills_placeholders_and_leaves_other_dollar_syntax() -> None:
    assert render("${x} {{ a }}/{{b}}", {"a": 1, "b": "two"}) == "${x} 1/two"


def test_render_refuses_a_missing_value() -> None:
    with pytest.raises(KeyError, match="missing"):
        render("{{missing}}", {})


def test_kafka_server_properties(settings: Settings, tmp_path: Path) -> None:
    props = properties(kafka.render_server_properties(settings, tmp_path / "data"))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "data")
    # transactions on one broker, explicit topics only, no rebalance delay
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_kafka_pom_pins_broker_and_logging_backend(tmp_path: Path) -> None:
    pom = kafka.render_pom(tmp_path / "lib")
    assert f"<version>{KAFKA_VERSION}</version>" in pom
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert "<artifactId>reload4j</artifactId>" in pom
    assert RELOAD4J_VERSION in pom
    assert f"<outputDirectory>{tmp_path / 'lib'}</outputDirectory>" in pom


def test_cassandra_yaml(settings: Settings, tmp_path: Path) -> None:
    text = cassandra.render_yaml(settings, tmp_path / "data")
    assert "native_transport_port: 19042" in text
    assert "storage_port: 17000" in text
    assert 'seeds: "127.0.0.1:17000"' in text
    assert f"commitlog_directory: {tmp_path / 'data'}/commitlog" in text
    assert 'initial_token: "0"' in text
    # Cassandra 5.0 rejects the pre-4.1 unit-suffixed names.
    assert not re.search(r"^\s*\w+_in_(kb|mb|ms):", text, re.MULTILINE)


def test_cassandra_pom_pins_version(tmp_path: Path) -> None:
    assert f"<version>{CASSANDRA_VERSION}</version>" in cassandra.render_pom(tmp_path)


def test_redis_conf_is_loopback_and_unpersisted(settings: Settings, tmp_path: Path) -> None:
    text = redis.render_conf(settings, tmp_path / "data", tmp_path / "redis.log")
    assert "bind 127.0.0.1\n" in text
    assert "port 16379\n" in text
    assert 'save ""\n' in text
    assert "appendonly yes\n" in text
    # daemonize would fork away from the pid the launcher records
    assert "daemonize no\n" in text


@pytest.mark.parametrize(
    "name",
    [
        "kafka-pom.xml",
        "kafka-server.properties",
        "cassandra-pom.xml",
        "cassandra.yaml",
        "redis.conf",
    ],
)
def test_templates_render_completely(name: str) -> None:
    values = dict.fromkeys(re.findall(r"\{\{\s*(\w+)\s*\}\}", load_template(name)), "x")
    assert "{{" not in render(load_template(name), values)


def test_cassandra_argfile_has_the_jdk17_module_flags() -> None:
    lines = [
        line
        for line in load_template("cassandra-jvm17-server.options").splitlines()
        if line and not line.startswith("#")
    ]
    assert sum(line.startswith(("--add-exports", "--add-opens")) for line in lines) == 25
    # heap is set on the command line from Settings, never in the argfile
    assert not any(line.startswith(("-Xmx", "-Xms")) for line in lines)
