"""The raw connections read a database URL as SQLAlchemy's ``make_url`` does (without importing
SQLAlchemy), from a string or from a SQLAlchemy ``URL``."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from event_store.connection import DatabaseAddress, database_address

URLS = [
    "mysql+asyncmy://exchange:exchange@127.0.0.1:3306/exchange",
    "mysql+asyncmy://exchange:p%40ss%2Fw%3Ard@db.local/exchange_test",
    "mysql+asyncmy://root@localhost:3507/",
    "mysql+asyncmy://u:pw@127.0.0.1:3506/bench?unix_socket=/run/mysqld/test.sock",
    "mysql+asyncmy://u:pw@127.0.0.1:3506/bench?charset=utf8mb4&unix_socket=/tmp/m.sock",
]


def as_sqlalchemy_reads_it(url: str) -> DatabaseAddress:
    parsed = make_url(url)
    socket = parsed.query.get("unix_socket")
    return DatabaseAddress(
        parsed.host or "127.0.0.1",
        parsed.port or 3306,
        parsed.username,
        parsed.password or "",
        parsed.database or None,
        socket if isinstance(socket, str) else None,
    )


@pytest.mark.parametrize("url", URLS)
def test_a_url_string_gives_what_sqlalchemy_reads_in_it(url: str) -> None:
    assert database_address(url) == as_sqlalchemy_reads_it(url)


@pytest.mark.parametrize("url", URLS)
def test_a_sqlalchemy_url_gives_the_same_as_its_string(url: str) -> None:
    assert database_address(make_url(url)) == database_address(url)


def test_a_url_without_host_or_port_means_the_local_default() -> None:
    address = database_address("mysql+asyncmy://u:pw@/exchange")

    assert (address.host, address.port, address.database) == ("127.0.0.1", 3306, "exchange")
