"""Raw asyncmy connections for the hot paths (the group-commit writer and the relay's reads).

SQLAlchemy's pool and result processing cost more per event than the work itself there; the
rest of the store goes through the SQLAlchemy engine.
"""

from __future__ import annotations

from typing import Any

import asyncmy
from asyncmy.constants import CLIENT
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from event_store.errors import EventStoreUnavailable

DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncmy.errors.OperationalError,
    asyncmy.errors.InterfaceError,
    asyncmy.errors.InternalError,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    OSError,
    TimeoutError,
)
"""What a lost, refused or timed-out MariaDB connection raises."""


async def connect_raw(url: str | URL, *, autocommit: bool, connect_timeout_s: int = 2) -> Any:
    """An asyncmy connection in UTC and READ COMMITTED, for ``url`` (a SQLAlchemy URL).

    ``?unix_socket=/path`` in the URL connects through the socket (as SQLAlchemy does too), which
    costs less CPU per round trip than TCP on loopback.

    READ COMMITTED lets every statement of the append transaction see what other appenders
    committed before we took the sequence lock. Returns an ``asyncmy.Connection``.
    """
    parsed = make_url(url)
    socket = parsed.query.get("unix_socket")
    try:
        return await asyncmy.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            unix_socket=socket if isinstance(socket, str) else None,
            user=parsed.username,
            password=parsed.password or "",
            database=parsed.database,
            autocommit=autocommit,
            charset="utf8mb4",
            client_flag=CLIENT.FOUND_ROWS,
            connect_timeout=connect_timeout_s,
            init_command=("SET time_zone = '+00:00', SESSION tx_isolation = 'READ-COMMITTED'"),
        )
    except DB_ERRORS as exc:
        raise EventStoreUnavailable(f"cannot connect to MariaDB: {exc}") from exc
