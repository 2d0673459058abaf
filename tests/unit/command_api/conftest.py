"""A service context over the in-memory event store, with a fixed clock."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from command_api.repository import Repository
from command_api.services import admin, funding
from command_api.services.base import Context
from command_api.services.order_rules import OrderTerms
from event_store.memory import InMemoryEventStore

NOW = 1_767_000_000 * 10**9


@pytest.fixture
def store() -> InMemoryEventStore:
    return InMemoryEventStore()


def context_over(store: InMemoryEventStore) -> Context:
    """A context over ``store``: the fixed clock, ids from 1000, retries without sleeping."""
    ids = itertools.count(1000)
    return Context(store, Repository(store), lambda: NOW, lambda: next(ids), backoff_s=(0, 0))


@pytest.fixture
def ctx(store: InMemoryEventStore) -> Context:
    return context_over(store)


async def new_user(ctx: Context, name: str = "alice", usd: str | None = "1000.00") -> int:
    """Register a user (and fund it) through the use cases."""
    written = await admin.register_user(ctx, name, None)
    user_id = int(written.body["user_id"])
    if usd is not None:
        await funding.deposit(ctx, user_id, "USD", usd, None)
    return user_id


async def list_acme(ctx: Context, symbol: str = "ACME", lot_size: int = 1) -> None:
    """List an instrument with a 0.01 tick."""
    await admin.list_instrument(
        ctx, symbol, "0.01", lot_size, "reject_opposite", (0, 0), "USD", None
    )


def buy(price: str | None = "10.00", quantity: int = 5, **changes: object) -> OrderTerms:
    """A limit buy of ACME (override any field with ``changes``)."""
    terms = OrderTerms("ACME", "buy", "limit", price, quantity, None, False, None)
    return replace(terms, **changes)  # type: ignore[arg-type]
