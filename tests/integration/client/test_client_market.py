"""The client's market-data subscription against the running query API."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from client import ExchangeClient, MarketSubscription, NotFound, order
from tests.integration.client.conftest import funded_user, listed

pytestmark = pytest.mark.integration


async def _next(subscription: MarketSubscription) -> dict[str, Any]:
    return await asyncio.wait_for(anext(subscription), 15)


async def test_updates_follow_the_snapshot_with_consecutive_seq(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)
    await trader.book(symbol)  # (the listing is visible before subscribing)

    async with admin.subscribe(symbol) as feed:
        snapshot = await _next(feed)
        for price in ("1.00", "2.00", "3.00"):
            await trader.place_order(order(symbol, "buy", 1, price, time_in_force="GTC"))
        levels: dict[str, int] = {}
        seqs = []
        while len(levels) < 3:
            update = await _next(feed)
            seqs.append(update["seq"])
            levels |= {row["price"]: row["quantity"] for row in update["book"]}

    assert snapshot["type"] == "snapshot"
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    assert levels == {"1.00": 1, "2.00": 1, "3.00": 1} and feed.resubscribes == 0


async def test_a_seq_gap_resubscribes_and_yields_a_fresh_snapshot(admin: ExchangeClient) -> None:
    symbol = await listed(admin)
    trader = await funded_user(admin)
    await trader.place_order(order(symbol, "buy", 2, "1.50", time_in_force="GTC"))
    await trader.book(symbol)

    async with admin.subscribe(symbol) as feed:
        first = await _next(feed)
        feed.seq = first["seq"] - 1  # as if an update had been lost
        await trader.place_order(order(symbol, "buy", 1, "1.25", time_in_force="GTC"))
        fresh = await _next(feed)

    assert (feed.gaps, feed.resubscribes) == (1, 1)
    assert fresh["type"] == "snapshot"
    assert fresh["bids"][0] == ["1.50", 2] and fresh["seq"] >= first["seq"]


async def test_an_unlisted_symbol_is_not_found(admin: ExchangeClient) -> None:
    with pytest.raises(NotFound) as unknown:
        async with admin.subscribe("NOTLISTEDX") as feed:
            await _next(feed)

    assert unknown.value.code == "UNKNOWN_SYMBOL"
    assert unknown.value.detail == "No instrument is listed as 'NOTLISTEDX'."  # the server's
