"""Cassandra adapter: connect, prepare, and await ``execute_async`` on asyncio.

The driver's ``execute`` blocks; agents and routes run on an event loop, so every
query goes through :func:`execute`, which bridges the driver's callback future.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from cassandra.cluster import Cluster, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement

from settings import Settings

logger = logging.getLogger(__name__)


# Rows per unlogged batch; launcher/templates/cassandra.yaml raises the server's
# batch-size and partitions-per-batch warning thresholds to match.
UNLOGGED_BATCH_SIZE = 100


def connect(settings: Settings, *, keyspace: str | None = None, timeout_s: float = 10.0) -> Session:
    cluster = Cluster(
        [settings.cassandra_host],
        port=settings.cassandra_port,
        protocol_version=5,
        connect_timeout=timeout_s,
        load_balancing_policy=DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc),
    )
    session = cluster.connect(keyspace)
    session.default_timeout = timeout_s
    return session


def close(session: Session) -> None:
    session.cluster.shutdown()


def execute(
    session: Session, statement: PreparedStatement | str, params: Sequence[Any] | None = None
) -> asyncio.Future[list[Any]]:
    """Run a query without blocking the loop; resolves to the first page of rows."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[list[Any]] = loop.create_future()
    response: ResponseFuture = session.execute_async(statement, params)

    def _ok(rows: Any) -> None:
        loop.call_soon_threadsafe(_settle, result, list(rows or []), None)

    def _err(exc: BaseException) -> None:
        loop.call_soon_threadsafe(_settle, result, None, exc)

    response.add_callbacks(_ok, _err)
    return result


def _settle(
    fut: asyncio.Future[list[Any]], rows: list[Any] | None, exc: BaseException | None
) -> None:
    if fut.done():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(rows or [])


async def execute_many(
    session: Session,
    statement: PreparedStatement,
    params_list: Sequence[Sequence[Any]],
    *,
    concurrency: int = 64,
) -> None:
    """Run one prepared statement for many parameter sets, ``concurrency`` in flight."""
    sem = asyncio.Semaphore(concurrency)

    async def one(params: Sequence[Any]) -> None:
        async with sem:
            await execute(session, statement, params)

    await asyncio.gather(*(one(p) for p in params_list))


class Db:
    """A session plus a cache of prepared statements, for asyncio callers."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._prepared: dict[str, PreparedStatement] = {}

    async def prepare(self, cql: str) -> PreparedStatement:
        statement = self._prepared.get(cql)
        if statement is None:
            loop = asyncio.get_running_loop()
            statement = await loop.run_in_executor(None, self.session.prepare, cql)
            self._prepared[cql] = statement
        return statement

    async def execute(self, cql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await execute(self.session, await self.prepare(cql), params)

    async def execute_many(
        self, cql: str, params_list: Sequence[Sequence[Any]], *, concurrency: int = 64
    ) -> None:
        await execute_many(
            self.session, await self.prepare(cql), params_list, concurrency=concurrency
        )

    async def scan(self, cql: str | PreparedStatement, params: Sequence[Any] = ()) -> list[Any]:
        """Every row of a query, all pages (rebuilds and full scans; never on a hot path).

        The driver fetches the following pages as iteration advances, which blocks, so
        the whole iteration runs in a thread.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            None, lambda: list(self.session.execute(cql, params or None, timeout=60))
        )

    async def execute_unlogged(
        self,
        cql: str,
        params_list: Sequence[Sequence[Any]],
        *,
        batch_size: int = UNLOGGED_BATCH_SIZE,
        concurrency: int = 8,
    ) -> None:
        """Many single-row writes, ``batch_size`` per request (an UNLOGGED batch).

        Not atomic and not meant to be: each row is still its own absolute write, so a
        replay is harmless. Grouping only spares the driver a request per row, which is
        what bounds a flush of thousands of rows from one Python process.
        """
        if not params_list:
            return
        statement = await self.prepare(cql)
        batches = []
        for start in range(0, len(params_list), batch_size):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for params in params_list[start : start + batch_size]:
                batch.add(statement, params)
            batches.append(batch)
        sem = asyncio.Semaphore(concurrency)

        async def one(batch: BatchStatement) -> None:
            async with sem:
                await execute(self.session, batch)

        await asyncio.gather(*(one(b) for b in batches))

    async def execute_together(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """A few writes of different statements as one request (an UNLOGGED batch).

        For the handful of rows one event touches (a post, its author's index and
        counts): not atomic, each row is still its own idempotent write, but the driver
        spends its per-request Python cost once instead of once per row.
        """
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for cql, params in statements:
            batch.add(await self.prepare(cql), params)
        await execute(self.session, batch)

    def close(self) -> None:
        close(self.session)


async def open_db(settings: Settings) -> Db:
    loop = asyncio.get_running_loop()
    session = await loop.run_in_executor(
        None, lambda: connect(settings, keyspace=settings.cassandra_keyspace)
    )
    return Db(session)
