"""Clients of the test stack: straight to both APIs, and through nginx."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from client import ExchangeClient
from client.aiohttp_sender import AiohttpSender
from client.raw_sender import RawSender
from client.transport import Sender, Transport

ADMIN_KEY = os.environ.get("EXCHANGE_ADMIN_KEY", "dev-admin-key")


def unique(prefix: str) -> str:
    """A name no other test run used (the test database is persistent)."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["direct", "nginx", "aiohttp", "raw"])
async def admin(
    request: pytest.FixtureRequest, command_api_url: str, query_api_url: str, nginx_url: str
) -> AsyncIterator[ExchangeClient]:
    """An admin client of the command API on its port and behind nginx, and the load
    generators' aiohttp and raw senders on the APIs' ports (every client test holds for them
    too)."""
    if request.param == "direct":
        exchange = ExchangeClient(command_api_url, query_api_url, ADMIN_KEY)
    elif request.param in ("aiohttp", "raw"):
        sender: Sender = AiohttpSender() if request.param == "aiohttp" else RawSender()
        transport = Transport(command_api_url, query_api_url, sender=sender)
        exchange = ExchangeClient("", "", ADMIN_KEY, transport=transport)
    else:
        exchange = ExchangeClient.through_nginx(nginx_url, ADMIN_KEY)
    async with exchange:
        yield exchange


async def funded_user(
    admin: ExchangeClient, usd: str | None = "10000.00", shares: dict[str, int] | None = None
) -> ExchangeClient:
    """A new user's client on the admin's connections, funded with ``usd`` and ``shares``."""
    created = await admin.create_user(unique("c"))
    assert created["api_key"] is not None
    user = admin.as_user(created["api_key"])
    if usd is not None:
        await user.deposit("USD", usd)
    for symbol, quantity in (shares or {}).items():
        await user.deposit(symbol, quantity)
    return user


async def listed(admin: ExchangeClient) -> str:
    """A fresh symbol, listed."""
    symbol = unique("K").upper()
    await admin.list_instrument(symbol)
    return symbol
