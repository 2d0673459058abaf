"""A batch's ``Idempotency-Key`` records the batch, not its body: a replay rebuilds the body
from the batch's ``BatchPlaced`` and answers exactly what the first request got; a body recorded
whole (before) still replays as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from command_api import idempotency
from command_api.app import create_app
from command_api.idempotency import Outcome
from command_api.routes.common import STATUS_OF
from common.settings import CommandApiSettings
from domain import streams
from event_store.memory import InMemoryEventStore
from event_store.model import NO_STREAM, NewEvent, StreamAppend

ADMIN = {"Authorization": "Bearer admin-key"}


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    app = create_app(CommandApiSettings(admin_key="admin-key"), store=InMemoryEventStore())
    async with app.router.lifespan_context(app):
        yield app


async def test_a_replayed_batch_answers_the_first_status_and_body(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
        await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
        user = (await api.post("/v1/users", json={"username": "twice"}, headers=ADMIN)).json()
        headers = {"Authorization": f"Bearer {user['api_key']}"}
        await api.post("/v1/deposits", json={"asset": "USD", "amount": "10.00"}, headers=headers)
        headers["Idempotency-Key"] = "b"
        leg = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 1}
        batch = {"orders": [{**leg, "client_order_id": "x1"}, leg, {**leg, "post_only": True}]}
        placed, placed_again = [
            await api.post("/v1/orders/batch", json=batch, headers=headers) for _ in range(2)
        ]

    assert (placed.status_code, placed_again.status_code) == (201, 201)
    assert placed_again.content == placed.content
    answer = placed.json()
    assert [o["client_order_id"] for o in answer["orders"]] == ["x1", None, None]
    stored = await app.state.ctx.store.read_all()
    (record,) = [e for e in stored if e.stream_id.startswith("idempotency-")]
    assert record.type == streams.IDEMPOTENT_BATCH_RESPONSE_RECORDED
    assert record.data == {
        "request_hash": record.data["request_hash"],
        "status": 201,
        "batch_id": answer["batch_id"],
    }


async def test_a_batch_response_recorded_whole_before_replays_as_recorded() -> None:
    store = InMemoryEventStore()
    claim = idempotency.claim("7", "k", "POST", "/v1/orders/batch", {"orders": []}, STATUS_OF)
    body = {
        "batch_id": 5,
        "orders": [{"order_id": 6, "client_order_id": "c0", "status": "accepted"}],
        "event_id": "01a23a8d-5ad3-7379-b0af-00000002e10d",
    }
    old = {"request_hash": claim.request_hash, "status": 201, "body": body}
    written = await store.append(
        StreamAppend(claim.stream_id, [NewEvent("IdempotentResponseRecorded", old)], NO_STREAM)
    )

    replayed = await idempotency.replay(store, claim)

    assert replayed is not None and replayed.replayed and replayed.outcome == Outcome.CREATED
    assert list(replayed.body.items()) == [*body.items(), ("position", written.last_position)]
