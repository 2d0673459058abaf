"""The edge alone turns outcomes and errors into statuses; replays answer the first status."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from command_api.app import create_app
from command_api.errors import APPLICATION_STATUS, application_error_status
from command_api.idempotency import Outcome, Written
from command_api.routes.common import STATUS_OF
from command_api.services import base
from command_api.services.base import Context
from command_api.services.errors import (
    ApplicationError,
    ConflictRetryExhausted,
    DuplicateClientOrderId,
    DuplicateSymbol,
    IdempotencyKeyReused,
    NotFound,
    UsernameTaken,
)
from common.settings import CommandApiSettings
from domain import streams
from event_store.errors import WrongExpectedVersion
from event_store.memory import InMemoryEventStore

ADMIN = {"Authorization": "Bearer admin-key"}


def _subclasses(cls: type[ApplicationError]) -> list[type[ApplicationError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_outcome_has_a_status_of_its_own() -> None:
    assert set(STATUS_OF) == set(Outcome)
    assert len(set(STATUS_OF.values())) == len(Outcome)


@pytest.mark.parametrize("error", _subclasses(ApplicationError))
def test_every_application_error_has_a_status(error: type[ApplicationError]) -> None:
    assert application_error_status(error("detail")) in APPLICATION_STATUS.values()


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    app = create_app(CommandApiSettings(admin_key="admin-key"), store=InMemoryEventStore())
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize(
    ("error", "status", "title", "retry_after"),
    [
        (NotFound, 404, "Not found", None),
        (UsernameTaken, 409, "Conflict", None),
        (DuplicateSymbol, 409, "Conflict", None),
        (DuplicateClientOrderId, 409, "Conflict", None),
        (IdempotencyKeyReused, 409, "Conflict", None),
        (ConflictRetryExhausted, 503, "Service unavailable", "1"),
    ],
)
async def test_an_application_error_is_a_problem_with_its_status(
    app: FastAPI, error: type[ApplicationError], status: int, title: str, retry_after: str | None
) -> None:
    async def fail() -> None:
        raise error("what went wrong")

    app.add_api_route("/fail", fail)
    async with _client(app) as api:
        resp = await api.get("/fail")

    assert resp.status_code == status
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.headers.get("retry-after") == retry_after
    slug = error.code.lower().replace("_", "-")
    assert resp.json() == {
        "type": f"https://exchange.local/problems/{slug}",
        "title": title,
        "status": status,
        "detail": "what went wrong",
        "code": error.code,
    }


async def test_an_idempotent_replay_answers_the_first_status_and_body(app: FastAPI) -> None:
    async with _client(app) as api:
        await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
        user = (await api.post("/v1/users", json={"username": "again"}, headers=ADMIN)).json()
        headers = {"Authorization": f"Bearer {user['api_key']}"}
        await api.post("/v1/deposits", json={"asset": "USD", "amount": "10.00"}, headers=headers)
        order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 1}
        placed, placed_again = [
            await api.post("/v1/orders", json=order, headers={**headers, "Idempotency-Key": "o"})
            for _ in range(2)
        ]
        path = f"/v1/orders/{placed.json()['order_id']}"
        cancel, cancel_again = [
            await api.delete(path, headers={**headers, "Idempotency-Key": "c"}) for _ in range(2)
        ]

    assert (placed.status_code, placed_again.status_code) == (201, 201)
    assert (cancel.status_code, cancel_again.status_code) == (202, 202)
    assert placed_again.content == placed.content and cancel_again.content == cancel.content
    store = app.state.ctx.store
    records = [e for e in await store.read_all() if e.type == streams.IDEMPOTENT_RESPONSE_RECORDED]
    assert [r.data["status"] for r in records] == [201, 202]


async def test_conflicts_beyond_the_attempts_exhaust_the_retries(ctx: Context) -> None:
    attempts = 0

    async def always_conflicting() -> Written:
        nonlocal attempts
        attempts += 1
        raise WrongExpectedVersion("account-1", 3, 4)

    with pytest.raises(ConflictRetryExhausted) as raised:
        await base.run(ctx, None, always_conflicting)

    assert attempts == ctx.max_attempts
    assert raised.value.code == "CONFLICT_RETRY_EXHAUSTED"
