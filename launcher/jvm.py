"""The Java side of Kafka and Cassandra: Java 17 and Maven, their jars, and JvmService.

Jars come from Maven Central through a rendered pom; a fingerprint of that pom marks a
lib directory as complete, so a changed pin downloads again and an unchanged one never does.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

from launcher.errors import PrerequisiteError, ServiceError
from launcher.logs import tail_text
from launcher.rendering import fingerprint
from launcher.service import Progress, Service
from launcher.versions import JAVA_DEBIAN_PACKAGE, JAVA_MAJOR


def java_major_version(release_file_text: str) -> int | None:
    """Major version from a JDK's ``release`` file (``JAVA_VERSION="17.0.15"``)."""
    match = re.search(r'^JAVA_VERSION="(\d+)(?:\.(\d+))?', release_file_text, re.MULTILINE)
    if match is None:
        return None
    major = int(match.group(1))
    # Java 8 and older spell themselves "1.8.0_x".
    return int(match.group(2) or 0) if major == 1 else major


# --------------------------------------------------------------------------- prerequisites


def find_java(java_home: Path) -> Path:
    """The Java 17 binary under ``java_home``, or a PrerequisiteError saying how to get it."""
    java = java_home / "bin" / "java"
    hint = (
        f"install it with `apt-get install -y {JAVA_DEBIAN_PACKAGE}` "
        "or point PHOTOSTREAM_JAVA_HOME at a Java 17 home"
    )
    if not os.access(java, os.X_OK):
        raise PrerequisiteError(f"Java {JAVA_MAJOR} not found: looked for {java}; {hint}")
    release = java_home / "release"
    major = java_major_version(release.read_text()) if release.is_file() else None
    if major is not None and major != JAVA_MAJOR:
        raise PrerequisiteError(
            f"{java_home} is Java {major}, but Cassandra 5.0 needs Java {JAVA_MAJOR}; {hint}"
        )
    return java


def find_maven() -> Path:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteError(
            "Maven (mvn) not found on PATH: it downloads the Kafka and Cassandra jars; "
            "install it with `apt-get install -y maven`"
        )
    return Path(mvn)


# --------------------------------------------------------------------------- jars


def lib_is_complete(lib_dir: Path, expected: str) -> bool:
    """True when ``lib_dir`` was filled by a successful copy of the pom with this fingerprint."""
    marker = lib_dir / ".complete"
    return marker.is_file() and marker.read_text().strip() == expected


def copy_dependencies(
    pom: Path, lib_dir: Path, expected: str, *, what: str, progress: Progress
) -> None:
    """Fill ``lib_dir`` from Maven Central unless it already holds this pom's jars."""
    if lib_is_complete(lib_dir, expected):
        return
    mvn = find_maven()
    # A stale or half-copied lib would put two versions of a jar on the classpath.
    shutil.rmtree(lib_dir, ignore_errors=True)
    progress(f"downloading {what} jars from Maven Central (first run only)")
    started = time.monotonic()
    log_file = pom.parent / "maven.log"
    with log_file.open("w") as log:
        result = subprocess.run(
            [str(mvn), "-B", "-f", str(pom), "dependency:copy-dependencies"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    if result.returncode != 0:
        raise ServiceError(
            f"Maven failed to download the {what} jars (exit {result.returncode}); "
            f"see {log_file}:\n{tail_text(log_file)}"
        )
    (lib_dir / ".complete").write_text(expected + "\n")
    size_mb = sum(p.stat().st_size for p in lib_dir.glob("*.jar")) / 1e6
    progress(f"{what}: {size_mb:.0f} MB of jars in {lib_dir} ({time.monotonic() - started:.0f} s)")


class JvmService(Service):
    """A Java 17 service whose jars Maven copies from Maven Central into ``home/lib``."""

    # Shown in progress lines, e.g. "Kafka 3.9.1: 58 MB of jars".
    title: ClassVar[str]

    @property
    def lib_dir(self) -> Path:
        return self.home / "lib"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @abstractmethod
    def render_pom(self) -> str:
        """The pom whose dependencies are the service's runtime classpath."""

    def check_prerequisites(self) -> None:
        find_java(self.settings.java_home)

    def install(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        pom_text = self.render_pom()
        pom = self.home / "pom.xml"
        pom.write_text(pom_text)
        copy_dependencies(
            pom,
            self.lib_dir,
            fingerprint(pom_text),
            what=f"{self.title} {self.version}",
            progress=self.progress,
        )
