"""What a person does on the trading page, as Playwright steps (shared by the browser tests)."""

from __future__ import annotations

from playwright.async_api import Locator, Page, expect


async def demo_user(page: Page, nginx_url: str, symbol: str) -> str:
    """Open the page on ``symbol``, create a demo user and wait for the live market; its name."""
    await page.goto(f"{nginx_url}/#{symbol}")
    await page.get_by_role("button", name="Create a demo user").click()
    await expect(page.locator("#trading")).to_be_visible()
    await expect(page.locator("#symbol")).to_have_value(symbol)
    await expect(page.locator("#feed-status")).to_have_text("Market data: live")
    return await page.locator("#who-name").inner_text()


def balance(page: Page, asset: str, column: str) -> Locator:
    """One cell (``total``, ``available`` or ``held``) of the balances table."""
    return page.locator(f'#balances tr[data-asset="{asset}"] td.{column}')


def level(page: Page, side: str, price: str) -> Locator:
    """The quantity of a book level (``bids`` or ``asks``) at ``price``."""
    return page.locator(f'#{side} tr[data-price="{price}"] td.qty')


async def deposit(page: Page, asset: str, amount: str) -> None:
    """Deposit through the form and wait for the confirmation."""
    await page.get_by_label("Asset").select_option(asset)
    await page.get_by_label("Amount").fill(amount)
    await page.get_by_role("button", name="Deposit", exact=True).click()
    await expect(page.locator("#deposit-message")).to_have_text(f"Deposited {amount} {asset}.")


async def place(page: Page, side: str, quantity: str, price: str | None = None) -> None:
    """Fill the order ticket (a limit order when ``price`` is given) and send it."""
    await page.get_by_label("Buy" if side == "buy" else "Sell", exact=True).check()
    await page.get_by_label("Type").select_option("limit" if price is not None else "market")
    if price is not None:
        await page.get_by_label("Limit price").fill(price)
    await page.get_by_label("Quantity (shares)").fill(quantity)
    await page.get_by_role("button", name="Place order").click()
