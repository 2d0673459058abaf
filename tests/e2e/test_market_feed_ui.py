"""The page's market feed notices a gap in ``seq`` and resubscribes to a fresh snapshot."""

from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import WebSocketRoute, expect

from tests.e2e.conftest import NewPage
from tests.e2e.trader import demo_user, level, place

pytestmark = pytest.mark.e2e


async def test_a_lost_update_makes_the_page_resubscribe_and_show_the_whole_book(
    new_page: NewPage, nginx_url: str, symbol: str
) -> None:
    page = await new_page()
    connections: list[WebSocketRoute] = []
    dropped = asyncio.Event()

    def lose_the_first_update(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        first_connection = not connections
        connections.append(socket)

        def relay(message: str | bytes) -> None:
            if first_connection and not dropped.is_set() and '"type":"update"' in str(message):
                dropped.set()  # (this delta never reaches the page: the next one has a gap)
                return
            socket.send(message)

        server.on_message(relay)

    await page.route_web_socket(re.compile(r"/ws/market/"), lose_the_first_update)
    await demo_user(page, nginx_url, symbol)

    await place(page, "buy", "5", "9.00")
    await asyncio.wait_for(dropped.wait(), 20)
    await expect(page.locator("#bids tbody")).to_contain_text("No bids")  # (it was lost)
    await place(page, "buy", "7", "8.00")

    await expect(level(page, "bids", "8.00")).to_have_text("7")
    await expect(level(page, "bids", "9.00")).to_have_text("5")  # from the new snapshot
    await expect(page.locator("#feed-status")).to_have_text("Market data: live")
    assert len(connections) == 2
