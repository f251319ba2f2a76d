"""JVM command lines, cluster ids, prerequisite checks and the service selection."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from launcher import cassandra, kafka, manager
from launcher.errors import PrerequisiteError
from launcher.jvm import find_java, java_major_version, lib_is_complete
from settings import Settings

JAVA = Path("/jdk/bin/java")


def test_kafka_command_uses_heap_setting_and_private_tmp(tmp_path: Path) -> None:
    cmd = kafka.broker_command(
        JAVA,
        tmp_path,
        768,
        lib_dir=tmp_path / "lib",
        config_dir=tmp_path / "config",
        log_dir=tmp_path / "logs",
    )
    assert cmd[0] == str(JAVA)
    assert "-Xmx768m" in cmd
    assert f"-Djava.io.tmpdir={tmp_path / 'tmp'}" in cmd
    assert cmd[-4:] == [
        "-cp",
        f"{tmp_path / 'lib'}/*",
        "kafka.Kafka",
        str(tmp_path / "config" / "server.properties"),
    ]


def test_cassandra_command(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, cassandra_heap_mb=512, cassandra_jmx_port=17199)
    cmd = cassandra.daemon_command(
        JAVA,
        tmp_path,
        settings,
        jamm=tmp_path / "lib" / "jamm-0.4.0.jar",
        lib_dir=tmp_path / "lib",
        conf_dir=tmp_path / "conf",
        data_dir=tmp_path / "data",
        log_dir=tmp_path / "logs",
    )
    assert cmd[1] == f"@{tmp_path / 'conf' / 'jvm17-server.options'}"
    assert {"-Xms512m", "-Xmx512m", "-Dcassandra-foreground=yes"} <= set(cmd)
    assert f"-javaagent:{tmp_path / 'lib' / 'jamm-0.4.0.jar'}" in cmd
    assert f"-Dcassandra.config=file://{tmp_path / 'conf' / 'cassandra.yaml'}" in cmd
    assert "-Dcassandra.jmx.local.port=17199" in cmd
    assert cmd[-1] == "org.apache.cassandra.service.CassandraDaemon"


def test_cluster_id_is_kafka_shaped() -> None:
    for _ in range(200):
        cluster_id = kafka.new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('JAVA_VERSION="17.0.15"\n', 17),
        ('IMPLEMENTOR="Eclipse"\nJAVA_VERSION="25"\n', 25),
        ('JAVA_VERSION="1.8.0_402"\n', 8),
        ("nothing here", None),
    ],
)
def test_java_major_version(text: str, major: int | None) -> None:
    assert java_major_version(text) == major


def test_find_java_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(PrerequisiteError, match=rf"{tmp_path}/bin/java.*openjdk-17-jre-headless"):
        find_java(tmp_path)


def test_find_java_refuses_another_major(tmp_path: Path) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\n")
    java.chmod(0o755)
    (tmp_path / "release").write_text('JAVA_VERSION="25"\n')
    with pytest.raises(PrerequisiteError, match="Java 25"):
        find_java(tmp_path)
    (tmp_path / "release").write_text('JAVA_VERSION="17.0.15"\n')
    assert find_java(tmp_path) == java


def test_lib_is_complete_only_for_the_same_pom(tmp_path: Path) -> None:
    assert not lib_is_complete(tmp_path, "abc")
    (tmp_path / ".complete").write_text("abc\n")
    assert lib_is_complete(tmp_path, "abc")
    assert not lib_is_complete(tmp_path, "def")


def test_select_keeps_a_stable_order_and_rejects_unknown_names() -> None:
    assert manager.select(None) == ["kafka", "cassandra", "redis"]
    assert manager.select(["redis", "kafka"]) == ["kafka", "redis"]
    with pytest.raises(ValueError, match="zookeeper"):
        manager.select(["zookeeper"])


def test_every_service_is_started_and_awaited() -> None:
    assert sorted(manager.START_ORDER) == sorted(manager.SERVICE_NAMES)
    assert sorted(manager.WAIT_ORDER) == sorted(manager.SERVICE_NAMES)
