"""Two people trade through the web UI in two browsers; everything updates without a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.conftest import NewPage
from tests.e2e.trader import balance, demo_user, deposit, level, place

pytestmark = pytest.mark.e2e


async def test_two_users_trade_and_both_see_book_and_balances_change_live(
    new_page: NewPage, nginx_url: str, symbol: str, artifacts: Path
) -> None:
    seller, buyer = await new_page(), await new_page()
    await demo_user(seller, nginx_url, symbol)
    await demo_user(buyer, nginx_url, symbol)
    await deposit(seller, symbol, "100")
    await expect(balance(seller, symbol, "total")).to_have_text("100")

    await place(seller, "sell", "10", "10.00")
    await expect(seller.locator("#order-message")).to_contain_text("accepted")
    await expect(balance(seller, symbol, "held")).to_have_text("10")
    await expect(level(buyer, "asks", "10.00")).to_have_text("10")  # the buyer's page, live

    await place(buyer, "buy", "4", "10.00")
    for page in (buyer, seller):
        await expect(level(page, "asks", "10.00")).to_have_text("6")
        await expect(page.locator("#trades tbody tr").first).to_contain_text("10.00")
    await expect(balance(buyer, symbol, "total")).to_have_text("4")
    await expect(balance(buyer, "USD", "total")).to_have_text("99960.00")
    await expect(balance(buyer, "USD", "held")).to_have_text("0.00")
    await expect(balance(seller, "USD", "total")).to_have_text("100040.00")
    await expect(balance(seller, symbol, "total")).to_have_text("96")
    await expect(balance(seller, symbol, "held")).to_have_text("6")
    await expect(seller.locator("#open-orders tbody tr td.filled")).to_have_text("4")
    await expect(seller.locator("#chart-summary")).to_contain_text("last close 10.00")

    filled = buyer.locator('#past-orders tr[data-status="filled"]')
    await filled.get_by_role("button", name="Events").click()
    events = buyer.locator("#lifecycle-events li")
    await expect(events).to_have_count(3)
    types = [await item.get_attribute("data-type") for item in await events.all()]
    assert types == ["OrderPlaced", "OrderAccepted", "OrderFilled"]
    await expect(buyer.locator("#lifecycle-title")).to_be_focused()

    await place(buyer, "buy", "2")  # a market order (IOC) takes from the rest of the sell
    for page in (buyer, seller):
        await expect(level(page, "asks", "10.00")).to_have_text("4")
    await expect(balance(buyer, symbol, "total")).to_have_text("6")
    await expect(balance(seller, symbol, "held")).to_have_text("4")

    await seller.screenshot(path=artifacts / "trade-seller.png", full_page=True)
    await buyer.screenshot(path=artifacts / "trade-buyer.png", full_page=True)


async def test_a_cancel_releases_the_hold_and_an_amend_changes_the_book(
    new_page: NewPage, nginx_url: str, symbol: str, artifacts: Path
) -> None:
    page = await new_page()
    await demo_user(page, nginx_url, symbol)

    await place(page, "buy", "10", "9.50")
    await expect(balance(page, "USD", "held")).to_have_text("95.00")
    await expect(level(page, "bids", "9.50")).to_have_text("10")
    row = page.locator("#open-orders tbody tr").first
    await row.get_by_role("button", name="Amend").click()
    await page.get_by_label("New total quantity").fill("6")
    await page.get_by_role("button", name="Send amendment").click()
    await expect(level(page, "bids", "9.50")).to_have_text("6")
    await expect(row.locator("td").nth(5)).to_have_text("6")
    # (a smaller order keeps its hold until it ends: workers/settlement_worker.py says why)
    await expect(balance(page, "USD", "held")).to_have_text("95.00")

    await row.get_by_role("button", name="Cancel").click()
    await expect(page.locator("#bids tbody")).to_contain_text("No bids")
    await expect(balance(page, "USD", "held")).to_have_text("0.00")
    await expect(balance(page, "USD", "available")).to_have_text("100000.00")
    await expect(page.locator('#past-orders tr[data-status="cancelled"]')).to_have_count(1)
    await page.screenshot(path=artifacts / "cancelled.png", full_page=True)


async def test_a_bad_price_is_explained_by_the_page_or_by_the_server(
    new_page: NewPage, nginx_url: str, symbol: str, artifacts: Path
) -> None:
    page = await new_page()
    await demo_user(page, nginx_url, symbol)
    message = page.locator("#order-message")

    await place(page, "buy", "1", "10.003")  # off the tick: the page refuses to send it
    await expect(message).to_have_text("Not sent: 10.003 is not a multiple of the tick 0.01.")

    await place(page, "buy", "1", "99999999999999.00")  # on the tick, but above the maximum
    await expect(message).to_contain_text("The exchange refused the price")
    await expect(message).to_contain_text("above the maximum (INVALID_PRICE)")
    await page.screenshot(path=artifacts / "bad-price.png", full_page=True)
    await expect(page.locator("#open-orders tbody")).to_contain_text("None")
