"""The SQLAlchemy async engine for MariaDB (asyncmy driver)."""

from __future__ import annotations

from typing import Final

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ENGINE_DB_ERRORS: Final[tuple[type[BaseException], ...]] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
)
"""What a lost, refused or timed-out MariaDB connection raises through the engine (beside
``event_store.connection.DB_ERRORS``, the raw driver's)."""


def make_engine(database_url: str, pool_size: int = 16, connect_timeout_s: int = 2) -> AsyncEngine:
    """An engine with a bounded pool that fails fast when MariaDB is unreachable."""
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=5,
        connect_args={"connect_timeout": connect_timeout_s},
    )
