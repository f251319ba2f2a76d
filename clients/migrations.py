"""Versioned, idempotent Cassandra migrations from ``schemas/cql/NNNN_name.cql``.

Each file is applied once, in order, and recorded with its checksum in
``schema_migrations``; running again applies only what is new, and a recorded file
whose text changed is refused (write a new migration instead).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from cassandra.cluster import Session

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.cql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        # Strip comments, then split on ';' (our CQL files hold no string literals with ';').
        lines = [ln for ln in self.text.splitlines() if not ln.strip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class MigrationError(RuntimeError):
    pass


def load_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("schemas").joinpath("cql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in schemas/cql: {versions}")
    return found


def migrate(session: Session, keyspace: str, *, replication_factor: int = 1) -> list[Migration]:
    """Create the keyspace and apply pending migrations; returns those applied now."""
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}"
    )
    session.set_keyspace(keyspace)
    session.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version int PRIMARY KEY, name text, checksum text, applied_at timestamp)"
    )
    applied = {
        row.version: row
        for row in session.execute("SELECT version, name, checksum FROM schema_migrations")
    }
    done: list[Migration] = []
    for migration in load_migrations():
        previous = applied.get(migration.version)
        if previous is not None:
            if previous.checksum != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} changed after it was "
                    "applied; add a new migration instead of editing an applied one"
                )
            continue
        logger.info("applying migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements():
            session.execute(statement, timeout=60)
        session.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (%s, %s, %s, %s)",
            (migration.version, migration.name, migration.checksum, datetime.now(UTC)),
        )
        done.append(migration)
    return done
