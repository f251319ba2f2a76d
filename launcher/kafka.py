"""Apache Kafka in KRaft combined mode (broker + controller), one node, from Maven jars."""

from __future__ import annotations

import base64
import logging
import subprocess
import uuid
from pathlib import Path
from typing import ClassVar

from launcher.errors import ServiceError
from launcher.jvm import JvmService, find_java
from launcher.ports import port_open
from launcher.rendering import load_template, render
from launcher.versions import (
    KAFKA_VERSION,
    MAVEN_DEPENDENCY_PLUGIN_VERSION,
    RELOAD4J_VERSION,
    SCALA_BINARY_VERSION,
    SLF4J_VERSION,
)
from settings import Settings

logger = logging.getLogger(__name__)

# Storage formatter and tools are short-lived JVMs: keep them small.
TOOL_HEAP = "-Xmx256m"
# Kafka's own JVM performance flags (bin/kafka-run-class.sh).
KAFKA_JVM_FLAGS = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
]


def render_pom(lib_dir: Path) -> str:
    return render(
        load_template("kafka-pom.xml"),
        {
            "kafka_version": KAFKA_VERSION,
            "scala_version": SCALA_BINARY_VERSION,
            "slf4j_version": SLF4J_VERSION,
            "reload4j_version": RELOAD4J_VERSION,
            "plugin_version": MAVEN_DEPENDENCY_PLUGIN_VERSION,
            "lib_dir": lib_dir,
        },
    )


def render_server_properties(settings: Settings, data_dir: Path) -> str:
    return render(
        load_template("kafka-server.properties"),
        {
            "kafka_version": KAFKA_VERSION,
            "host": settings.kafka_host,
            "port": settings.kafka_port,
            "controller_port": settings.kafka_controller_port,
            "data_dir": data_dir,
        },
    )


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's Uuid.randomUuid() makes it (url-safe base64, no '-' first)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def broker_command(
    java: Path, home: Path, heap_mb: int, *, lib_dir: Path, config_dir: Path, log_dir: Path
) -> list[str]:
    tmp = home / "tmp"
    return [
        str(java),
        f"-Xms{min(heap_mb, 256)}m",
        f"-Xmx{heap_mb}m",
        *KAFKA_JVM_FLAGS,
        # zstd-jni and snappy unpack native code into tmp; /tmp may be noexec.
        f"-Djava.io.tmpdir={tmp}",
        f"-DZstdTempFolder={tmp}",
        f"-Dorg.xerial.snappy.tempdir={tmp}",
        f"-Dkafka.logs.dir={log_dir}",
        f"-Dlog4j.configuration=file:{config_dir / 'log4j.properties'}",
        "-cp",
        f"{lib_dir}/*",
        "kafka.Kafka",
        str(config_dir / "server.properties"),
    ]


class Kafka(JvmService):
    title: ClassVar[str] = "Kafka"
    name: ClassVar[str] = "kafka"
    version: ClassVar[str] = KAFKA_VERSION

    @property
    def host(self) -> str:
        return self.settings.kafka_host

    @property
    def ports(self) -> dict[str, int]:
        return {
            "client": self.settings.kafka_port,
            "controller": self.settings.kafka_controller_port,
        }

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "server.log"

    def render_pom(self) -> str:
        return render_pom(self.lib_dir)

    def configure(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "tmp").mkdir(exist_ok=True)
        (self.config_dir / "server.properties").write_text(
            render_server_properties(self.settings, self.data_dir)
        )
        (self.config_dir / "log4j.properties").write_text(load_template("kafka-log4j.properties"))
        (self.config_dir / "tools-log4j.properties").write_text(
            load_template("kafka-tools-log4j.properties")
        )

    def prepare(self) -> None:
        """Format the KRaft log dir once, with a cluster id kept beside it."""
        if (self.data_dir / "meta.properties").is_file():
            return
        id_file = self.home / "cluster.id"
        if not id_file.is_file():
            id_file.write_text(new_cluster_id() + "\n")
        self.progress("formatting Kafka storage (first start only)")
        java = find_java(self.settings.java_home)
        result = subprocess.run(
            [
                str(java),
                TOOL_HEAP,
                f"-Dlog4j.configuration=file:{self.config_dir / 'tools-log4j.properties'}",
                "-cp",
                f"{self.lib_dir}/*",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                id_file.read_text().strip(),
                "-c",
                str(self.config_dir / "server.properties"),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(
                f"formatting Kafka storage in {self.data_dir} failed "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def command(self) -> list[str]:
        return broker_command(
            find_java(self.settings.java_home),
            self.home,
            self.settings.kafka_heap_mb,
            lib_dir=self.lib_dir,
            config_dir=self.config_dir,
            log_dir=self.log_dir,
        )

    def probe(self) -> str:
        # A closed port fails fast here instead of librdkafka retrying until the timeout.
        if not port_open(self.host, self.settings.kafka_port):
            raise ConnectionRefusedError(f"nothing listens on {self.settings.kafka_bootstrap}")
        from confluent_kafka.admin import AdminClient  # heavy import, only when probing

        admin = AdminClient(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "socket.timeout.ms": 5000,
                # librdkafka would print connection errors on stderr while the broker boots
                "log_level": 0,
            }
        )
        metadata = admin.list_topics(timeout=5)
        if not metadata.brokers:
            raise ConnectionError("metadata response lists no broker")
        return self.installed_version()

    def installed_version(self) -> str:
        """The broker jar on the classpath, which is what runs (metadata carries no version)."""
        prefix = f"kafka_{SCALA_BINARY_VERSION}-"
        for jar in self.lib_dir.glob(f"{prefix}*.jar"):
            return jar.name.removeprefix(prefix).removesuffix(".jar")
        return KAFKA_VERSION
