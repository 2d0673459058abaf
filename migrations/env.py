"""Alembic environment: runs migrations on the async engine from ``EXCHANGE_DATABASE_URL``."""

from __future__ import annotations

import asyncio
import logging

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from common.settings import InfraSettings

config = context.config


def _not_the_version_table_note(record: logging.LogRecord) -> bool:
    """MariaDB notes that a primary key's name is ignored (alembic names the version table's);
    asyncmy logs every note as a warning, which printed a stray line on a fresh ``up``."""
    return "ignored for PRIMARY key" not in record.getMessage()


logging.getLogger("asyncmy").addFilter(_not_the_version_table_note)


def _url() -> str:
    return config.attributes.get("database_url") or InfraSettings().database_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=None, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
