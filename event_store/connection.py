"""Raw asyncmy connections: the store's writer, reads and small writes, and the relay's.

SQLAlchemy's pool and result processing cost more per event than the work itself there. None
of it imports SQLAlchemy (~0.3 s of CPU at a worker's start): the URL is parsed here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import asyncmy
from asyncmy.constants import CLIENT

from event_store.errors import EventStoreUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

DB_ERRORS: tuple[type[BaseException], ...] = (
    asyncmy.errors.OperationalError,
    asyncmy.errors.InterfaceError,
    asyncmy.errors.InternalError,
    ConnectionError,
    OSError,
    TimeoutError,
)
"""What a lost, refused or timed-out MariaDB connection raises on a raw connection (through
SQLAlchemy's engine: ``common.db.ENGINE_DB_ERRORS``)."""


class DatabaseAddress(NamedTuple):
    """What :func:`connect_raw` reads of a database URL."""

    host: str
    port: int
    user: str | None
    password: str
    database: str | None
    unix_socket: str | None


def database_address(url: str | URL) -> DatabaseAddress:
    """The parts of ``mysql+asyncmy://user:password@host:port/db?unix_socket=/path`` (a string,
    or a SQLAlchemy ``URL``), user and password unquoted as SQLAlchemy's ``make_url`` does."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    parts = urlsplit(text)
    socket = parse_qs(parts.query).get("unix_socket")
    return DatabaseAddress(
        parts.hostname or "127.0.0.1",
        parts.port or 3306,
        unquote(parts.username) if parts.username is not None else None,
        unquote(parts.password) if parts.password is not None else "",
        unquote(parts.path.lstrip("/")) or None,
        socket[-1] if socket else None,
    )


async def connect_raw(url: str | URL, *, autocommit: bool, connect_timeout_s: int = 2) -> Any:
    """An asyncmy connection in UTC and READ COMMITTED, for ``url`` (a SQLAlchemy URL or its
    string).

    ``?unix_socket=/path`` in the URL connects through the socket (as SQLAlchemy does too), which
    costs less CPU per round trip than TCP on loopback.

    READ COMMITTED lets every statement of the append transaction see what other appenders
    committed before we took the sequence lock. Returns an ``asyncmy.Connection``.
    """
    parsed = database_address(url)
    try:
        return await asyncmy.connect(
            host=parsed.host,
            port=parsed.port,
            unix_socket=parsed.unix_socket,
            user=parsed.user,
            password=parsed.password,
            database=parsed.database,
            autocommit=autocommit,
            charset="utf8mb4",
            client_flag=CLIENT.FOUND_ROWS,
            connect_timeout=connect_timeout_s,
            init_command=("SET time_zone = '+00:00', SESSION tx_isolation = 'READ-COMMITTED'"),
        )
    except DB_ERRORS as exc:
        raise EventStoreUnavailable(f"cannot connect to MariaDB: {exc}") from exc


_Statement = Callable[[Any, str, tuple[Any, ...] | None], Awaitable[list[Any]]]


async def _text_statement(conn: Any, sql: str, params: tuple[Any, ...] | None) -> list[Any]:
    async with conn.cursor() as cur:
        await cur.execute(sql, params)
        rows: list[Any] = await cur.fetchall()
    return rows


async def _prepared_statement(conn: Any, sql: str, params: tuple[Any, ...] | None) -> list[Any]:
    prepared = await conn.prepare(sql)  # (a failure closes the connection, and the statement)
    await prepared.execute(params)
    await prepared.close()
    return []


class ReadPool:
    """Autocommit asyncmy connections for the store's reads, reused without a round trip.

    Through SQLAlchemy's pool a read cost three round trips (the checkout's ping, the
    statement, the rollback on return) and ~0.3 ms of client CPU: in the full pipeline the
    command API reads an account tail after each of settlement's fills and an order stream for
    each cancel. Here a read is its statement alone. A pooled connection that died while idle
    (MariaDB restarted) is dropped and the read retried once on a new one: reads change
    nothing, so retrying them is always safe. At most ``size`` reads run at once (the bound
    SQLAlchemy's pool had, with its overflow), and as many connections stay open: a connection
    opened per read past a smaller idle limit cost more than the read.
    """

    def __init__(self, url: str | URL, size: int = 16) -> None:
        self._url = url
        self._size = size
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def fetch(self, sql: str, params: tuple[Any, ...] | None) -> list[Any]:
        """All rows of ``sql`` (asyncmy placeholders; ``None``: no parameters, the text is sent
        as it is); ``EventStoreUnavailable`` if MariaDB is unreachable or the read fails on a
        new connection."""
        async with self._slots:
            return await self._on_a_connection(_text_statement, sql, params)

    async def execute_prepared(self, sql: str, params: tuple[Any, ...]) -> None:
        """Run ``sql`` (``?`` placeholders) once as a server-side prepared statement: its
        parameters travel in the binary protocol, not escaped into SQL text. For statements with
        a large parameter (a snapshot of megabytes): escaping 1.5 MB of JSON cost the client
        ~40 ms of CPU and MariaDB ~120 ms of parsing; prepared, ~4 and ~25 (two round trips
        more, negligible there). Retried like a read, so only for idempotent statements."""
        async with self._slots:
            await self._on_a_connection(_prepared_statement, sql, params)

    async def _on_a_connection(
        self, statement: _Statement, sql: str, params: tuple[Any, ...] | None
    ) -> list[Any]:
        if self._idle:
            try:
                return await self._run(self._idle.pop(), statement, sql, params)
            except DB_ERRORS:
                self._drop_idle()  # (MariaDB restarted: the other idle ones died too)
        conn = await connect_raw(self._url, autocommit=True)
        try:
            return await self._run(conn, statement, sql, params)
        except DB_ERRORS as exc:
            raise EventStoreUnavailable(f"MariaDB statement failed: {exc}") from exc

    async def _run(
        self, conn: Any, statement: _Statement, sql: str, params: tuple[Any, ...] | None
    ) -> list[Any]:
        """The rows, the connection back in the pool; closed if the statement failed or was
        cancelled mid-way (its state is unknown then)."""
        try:
            rows = await statement(conn, sql, params)
        except BaseException:
            conn.close()
            raise
        self._release(conn)
        return rows

    def _release(self, conn: Any) -> None:
        if self._closed or len(self._idle) >= self._size:
            conn.close()
        else:
            self._idle.append(conn)

    async def close(self) -> None:
        """Close the idle connections with a goodbye to MariaDB (it logs an aborted connection
        for each dropped one); those in use close as they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.ensure_closed()
            except DB_ERRORS:
                conn.close()

    def _drop_idle(self) -> None:
        while self._idle:
            self._idle.pop().close()
