from __future__ import annotations

from clients.migrations import Migration, load_migrations


def test_migrations_are_numbered_in_order_without_gaps() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_statements_split_and_comments_drop() -> None:
    migration = Migration(
        1,
        "x",
        "-- a comment; with a semicolon\nCREATE TABLE a (x int PRIMARY KEY);\n\nCREATE TABLE b (y int PRIMARY KEY);\n",
    )
    assert migration.statements() == [
        "CREATE TABLE a (x int PRIMARY KEY)",
        "CREATE TABLE b (y int PRIMARY KEY)",
    ]


def test_checksum_changes_with_the_text() -> None:
    assert Migration(1, "x", "a").checksum != Migration(1, "x", "b").checksum
