from __future__ import annotations

from clients import cassandra as cassandra_client
from clients.migrations import load_migrations, migrate


def test_migrate_is_idempotent_and_records_every_version(namespace, settings) -> None:  # type: ignore[no-untyped-def]
    session = cassandra_client.connect(settings)
    try:
        assert (
            migrate(session, settings.cassandra_keyspace) == []
        )  # the fixture already applied them
        rows = session.execute("SELECT version, checksum FROM schema_migrations")
        recorded = {r.version: r.checksum for r in rows}
        assert recorded == {m.version: m.checksum for m in load_migrations()}
        tables = {
            r.table_name
            for r in session.execute(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s",
                (settings.cassandra_keyspace,),
            )
        }
        assert "users" in tables
    finally:
        cassandra_client.close(session)
