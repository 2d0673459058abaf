"""Demo users for the dev and test stacks: a new user with starting deposits, in one call.

The web UI offers "create a demo user" so a person can try the exchange without the admin key
ever reaching the browser. The route is mounted only where the settings allow it (see
``command_api/routes/demo.py``); here are the use case and what a demo user receives.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Final

from command_api.idempotency import Outcome, Written
from command_api.services import admin, funding
from command_api.services.base import Context
from command_api.services.errors import DuplicateSymbol

DEMO_SYMBOL: Final = "DEMO"
"""Listed on first use, so a fresh stack has something to trade."""
DEMO_CASH: Final = "100000.00"
DEMO_SHARES: Final = 1000
DEMO_CURRENCY: Final = "USD"
DEMO_ACTOR: Final = "demo"
"""The ``actor`` of demo registrations and listings: anyone on a local stack, not the admin."""


def offer() -> dict[str, object]:
    """What a demo user receives (``GET /v1/demo``)."""
    return {
        "symbol": DEMO_SYMBOL,
        "deposits": {DEMO_CURRENCY: DEMO_CASH, DEMO_SYMBOL: DEMO_SHARES},
    }


async def ensure_demo_symbol(ctx: Context) -> None:
    """List the demo instrument unless it is listed (by anyone, even concurrently)."""
    if await ctx.repo.instrument(DEMO_SYMBOL) is not None:
        return
    with contextlib.suppress(DuplicateSymbol):  # (another request listed it first: fine)
        await admin.list_instrument(
            ctx, DEMO_SYMBOL, "0.01", 1, "reject_opposite", (0, 0), DEMO_CURRENCY, None, DEMO_ACTOR
        )


async def create_demo_user(ctx: Context, username: str | None) -> Written:
    """Register a user (``demo-<random>`` unless named) and deposit the demo cash and shares.

    ``UsernameTaken`` when a given name is in use. The answer carries the API key (shown once)
    and the ``position`` of the last deposit, for a first read with ``min_position``.
    """
    await ensure_demo_symbol(ctx)
    name = username or f"demo-{secrets.token_hex(5)}"
    registered = await admin.register_user(ctx, name, None, DEMO_ACTOR)
    user_id = int(registered.body["user_id"])
    await funding.deposit(ctx, user_id, DEMO_CURRENCY, DEMO_CASH, None)
    last = await funding.deposit(ctx, user_id, DEMO_SYMBOL, DEMO_SHARES, None)
    body = {**registered.body, **offer(), "position": last.body["position"]}
    return Written(Outcome.CREATED, body)
