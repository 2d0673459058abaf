"""A batch is one engine command on one shard: every leg's symbol must be on that shard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from command_api.app import create_app
from command_api.idempotency import Outcome
from command_api.services import orders
from command_api.services.base import Context
from common.settings import CommandApiSettings
from domain.errors import DomainError, ErrorCode
from event_store.memory import InMemoryEventStore
from event_store.outbox import partition_of
from tests.unit.command_api.conftest import buy, list_acme, new_user

ADMIN = {"Authorization": "Bearer admin-key"}
SHARDS = 4
OTHER_SHARD = "BOLT"
"""On another of 4 partitions than ACME (checked by each test that relies on it)."""
SAME_SHARD = "CRAB"
"""On ACME's partition of 4."""


def _shard(symbol: str, partitions: int = SHARDS) -> int:
    return partition_of(symbol.encode(), partitions)


async def test_a_batch_whose_symbols_are_on_two_engine_shards_is_refused_and_appends_nothing(
    ctx: Context, store: InMemoryEventStore
) -> None:
    assert _shard("ACME") != _shard(OTHER_SHARD)
    await list_acme(ctx)
    await list_acme(ctx, OTHER_SHARD)
    user_id = await new_user(ctx)
    before = await store.last_position()
    legs = [buy(), buy(symbol="ACME"), buy(symbol=OTHER_SHARD)]

    with pytest.raises(DomainError) as raised:
        await orders.place_batch(ctx, user_id, legs, True, None)

    assert raised.value.code == ErrorCode.BATCH_SPANS_SHARDS
    assert raised.value.message.startswith(f"orders[2]: {OTHER_SHARD} is on another engine shard")
    assert await store.last_position() == before
    assert ctx.repo.account_entry(user_id).account.balance("USD").held == 0


async def test_symbols_on_the_same_shard_share_a_batch(ctx: Context) -> None:
    assert _shard("ACME") == _shard(SAME_SHARD)
    await list_acme(ctx)
    await list_acme(ctx, SAME_SHARD)
    user_id = await new_user(ctx)

    written = await orders.place_batch(ctx, user_id, [buy(), buy(symbol=SAME_SHARD)], True, None)

    assert written.outcome == Outcome.CREATED and len(written.body["orders"]) == 2


async def test_the_shard_count_is_the_contexts(ctx: Context) -> None:
    single_shard = replace(ctx, orders_partitions=1)
    await list_acme(ctx)
    await list_acme(ctx, OTHER_SHARD)
    user_id = await new_user(ctx)

    written = await orders.place_batch(
        single_shard, user_id, [buy(), buy(symbol=OTHER_SHARD)], True, None
    )

    assert written.outcome == Outcome.CREATED


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    settings = CommandApiSettings(admin_key="admin-key", orders_partitions=SHARDS)
    app = create_app(settings, store=InMemoryEventStore())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield client


async def test_a_batch_across_shards_is_a_422_through_both_http_paths(
    api: httpx.AsyncClient,
) -> None:
    for symbol in ("ACME", OTHER_SHARD):
        await api.post("/v1/instruments", json={"symbol": symbol}, headers=ADMIN)
    user = (await api.post("/v1/users", json={"username": "spread"}, headers=ADMIN)).json()
    headers = {"Authorization": f"Bearer {user['api_key']}"}
    await api.post("/v1/deposits", json={"asset": "USD", "amount": "100.00"}, headers=headers)
    legs = [{"symbol": s, "side": "buy", "price": "1.00", "quantity": 1} for s in ("ACME", "BOLT")]
    batch = {"orders": legs}

    fast = await api.post("/v1/orders/batch", json=batch, headers=headers)
    keyed = await api.post(
        "/v1/orders/batch", json=batch, headers={**headers, "Idempotency-Key": "k"}
    )

    for resp in (fast, keyed):
        assert resp.status_code == 422
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["code"] == "BATCH_SPANS_SHARDS"
        assert resp.json()["title"] == "Request rejected"
    assert fast.content == keyed.content
