"""Browser tests: Debian's headless Chromium, driven by Playwright, against the test stack's nginx.

Playwright downloads no browser here: it launches the ``chromium`` that ``deploy/bootstrap.sh``
installs (or ``EXCHANGE_CHROMIUM``). Screenshots go to ``.run/test/artifacts/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from cli.profiles import ROOT
from tests.integration.query_api.helpers import listed_symbol

ARTIFACTS = ROOT / ".run" / "test" / "artifacts"
WAIT_MS = 20_000
"""How long an expectation waits for the page to show something (the stack may be loaded)."""

expect.set_options(timeout=WAIT_MS)


def chromium_path() -> str:
    """The Chromium binary to drive: ``EXCHANGE_CHROMIUM`` or Debian's ``chromium``."""
    found = os.environ.get("EXCHANGE_CHROMIUM") or shutil.which("chromium")
    if found is None:
        raise RuntimeError("chromium is not installed: run deploy/bootstrap.sh")
    return found


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where the screenshots of a run are saved."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium for the session; each test opens its own contexts."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        await launched.close()


def _note_csp_violation(message: ConsoleMessage, errors: list[str]) -> None:
    if message.type == "error" and "Content Security Policy" in message.text:
        errors.append(message.text)


NewPage = Callable[[], Coroutine[Any, Any, Page]]


@pytest.fixture
async def new_page(browser: Browser) -> AsyncIterator[NewPage]:
    """Opens pages in fresh browser contexts (separate storage: separate users); fails the test
    if any page raised a script error or broke the Content-Security-Policy nginx sends."""
    contexts = []
    errors: list[str] = []

    async def open_page() -> Page:
        context = await browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda message: _note_csp_violation(message, errors))
        return page

    yield open_page
    for context in contexts:
        await context.close()
    assert errors == [], errors


@pytest.fixture
async def symbol(command_api_url: str, query_api_url: str) -> str:
    """A freshly listed instrument (tick 0.01, lot 1), so no other test's orders are in its book."""
    async with (
        httpx.AsyncClient(base_url=command_api_url, timeout=10) as command,
        httpx.AsyncClient(base_url=query_api_url, timeout=15) as query,
    ):
        return await listed_symbol(command, query)
