"""Apache Cassandra 5.0, one node on loopback, from Maven jars, run with Java 17."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

from launcher.errors import PrerequisiteError
from launcher.jvm import JvmService, find_java
from launcher.ports import port_open
from launcher.rendering import load_template, render
from launcher.versions import CASSANDRA_VERSION, MAVEN_DEPENDENCY_PLUGIN_VERSION
from settings import Settings

logger = logging.getLogger(__name__)


def render_pom(lib_dir: Path) -> str:
    return render(
        load_template("cassandra-pom.xml"),
        {
            "cassandra_version": CASSANDRA_VERSION,
            "plugin_version": MAVEN_DEPENDENCY_PLUGIN_VERSION,
            "lib_dir": lib_dir,
        },
    )


def render_yaml(settings: Settings, data_dir: Path) -> str:
    return render(
        load_template("cassandra.yaml"),
        {
            "cassandra_version": CASSANDRA_VERSION,
            "host": settings.cassandra_host,
            "port": settings.cassandra_port,
            "storage_port": settings.cassandra_storage_port,
            "data_dir": data_dir,
        },
    )


def daemon_command(
    java: Path,
    home: Path,
    settings: Settings,
    *,
    jamm: Path,
    lib_dir: Path,
    conf_dir: Path,
    data_dir: Path,
    log_dir: Path,
) -> list[str]:
    """The java command line that bin/cassandra would build, minus the tarball."""
    heap = settings.cassandra_heap_mb
    tmp = home / "tmp"
    return [
        str(java),
        f"@{conf_dir / 'jvm17-server.options'}",
        f"-Xms{heap}m",
        f"-Xmx{heap}m",
        f"-XX:HeapDumpPath={log_dir}",
        # ObjectSizes measures memtables with jamm; cassandra-env.sh always adds the agent.
        f"-javaagent:{jamm}",
        # JNA and the compressors unpack native code into tmp; /tmp may be noexec.
        f"-Djava.io.tmpdir={tmp}",
        f"-Djna.tmpdir={tmp}",
        f"-Dcassandra.config=file://{conf_dir / 'cassandra.yaml'}",
        f"-Dcassandra.storagedir={data_dir}",
        f"-Dcassandra.logdir={log_dir}",
        f"-Dlogback.configurationFile={conf_dir / 'logback.xml'}",
        # Without it the daemon closes stdout/stderr after setup.
        "-Dcassandra-foreground=yes",
        # JMX only for nodetool; a local port binds to loopback.
        f"-Dcassandra.jmx.local.port={settings.cassandra_jmx_port}",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        # One node: nothing to wait for (default: at least 8 s of gossip polling).
        "-Dcassandra.skip_wait_for_gossip_to_settle=0",
        "-cp",
        f"{conf_dir}:{lib_dir}/*",
        "org.apache.cassandra.service.CassandraDaemon",
    ]


class Cassandra(JvmService):
    title: ClassVar[str] = "Cassandra"
    name: ClassVar[str] = "cassandra"
    version: ClassVar[str] = CASSANDRA_VERSION

    @property
    def host(self) -> str:
        return self.settings.cassandra_host

    @property
    def ports(self) -> dict[str, int]:
        return {
            "cql": self.settings.cassandra_port,
            "storage": self.settings.cassandra_storage_port,
            "jmx": self.settings.cassandra_jmx_port,
        }

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "system.log"

    def render_pom(self) -> str:
        return render_pom(self.lib_dir)

    def configure(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.home / "tmp").mkdir(exist_ok=True)
        (self.conf_dir / "cassandra.yaml").write_text(render_yaml(self.settings, self.data_dir))
        (self.conf_dir / "logback.xml").write_text(load_template("cassandra-logback.xml"))
        (self.conf_dir / "jvm17-server.options").write_text(
            load_template("cassandra-jvm17-server.options")
        )

    def jamm_jar(self) -> Path:
        jars = sorted(self.lib_dir.glob("jamm-*.jar"))
        if not jars:
            raise PrerequisiteError(
                f"no jamm-*.jar in {self.lib_dir}; delete that folder and run `services up` again"
            )
        return jars[-1]

    def command(self) -> list[str]:
        return daemon_command(
            find_java(self.settings.java_home),
            self.home,
            self.settings,
            jamm=self.jamm_jar(),
            lib_dir=self.lib_dir,
            conf_dir=self.conf_dir,
            data_dir=self.data_dir,
            log_dir=self.log_dir,
        )

    def environment(self) -> dict[str, str]:
        # cassandra-env.sh: glibc arenas otherwise grow RSS with the thread count.
        return {"MALLOC_ARENA_MAX": "4"}

    def probe(self) -> str:
        if not port_open(self.host, self.settings.cassandra_port):
            raise ConnectionRefusedError(
                f"nothing listens on {self.host}:{self.settings.cassandra_port}"
            )
        from cassandra.cluster import Cluster  # heavy import, only when probing
        from cassandra.policies import RoundRobinPolicy

        # The driver logs every failed attempt at WARNING/ERROR; readiness polling expects them.
        driver_logger = logging.getLogger("cassandra")
        level = driver_logger.level
        driver_logger.setLevel(logging.CRITICAL)
        cluster = Cluster(
            [self.host],
            port=self.settings.cassandra_port,
            protocol_version=5,
            connect_timeout=5,
            load_balancing_policy=RoundRobinPolicy(),
        )
        try:
            session = cluster.connect()
            row = session.execute("SELECT release_version FROM system.local", timeout=5).one()
            return str(row.release_version)
        finally:
            cluster.shutdown()
            driver_logger.setLevel(level)
