"""Private, migrated databases beside the stack's own: for tests and benchmarks that must see
no other writer (``<database>_<purpose>_<pid>``, dropped when done)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sqlalchemy.engine import make_url

from cli.stack import migrate
from event_store.connection import connect_raw


def run_sql(url: str, *statements: str) -> None:
    """Run statements on the server of ``url``, outside any database."""

    async def run() -> None:
        conn = await connect_raw(make_url(url).set(database=""), autocommit=True)
        try:
            async with conn.cursor() as cur:
                for statement in statements:
                    await cur.execute(statement)
        finally:
            conn.close()

    asyncio.run(run())


def fresh_database(url: str) -> None:
    """(Re)create the database of ``url``, empty, and migrate it to head."""
    name = make_url(url).database
    run_sql(
        url,
        f"DROP DATABASE IF EXISTS `{name}`",
        f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
    )
    migrate(url)


@contextmanager
def private_database(purpose: str, base_url: str | None = None) -> Iterator[str]:
    """The URL of a fresh database beside ``base_url``'s (default ``EXCHANGE_DATABASE_URL``).

    Works from inside a running event loop too: the SQL and Alembic (which runs a loop of its
    own) run in a worker thread.
    """
    base = make_url(base_url or os.environ["EXCHANGE_DATABASE_URL"])
    name = f"{base.database}_{purpose}_{os.getpid()}"
    url = base.set(database=name).render_as_string(hide_password=False)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(fresh_database, url).result()
    try:
        yield url
    finally:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(run_sql, url, f"DROP DATABASE IF EXISTS `{name}`").result()
