"""The order hot path: accepts only what pydantic accepts, answers like FastAPI does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.requests import Request

from command_api.app import create_app
from command_api.fastpath import (
    _url_path,
    batch_dump,
    batch_terms,
    cancel_ids,
    order_dump,
    order_terms,
)
from command_api.schemas import BatchRequest, CancelBatchRequest, NewOrderRequest
from common.settings import CommandApiSettings
from event_store.memory import InMemoryEventStore

ADMIN = {"Authorization": "Bearer admin-key"}

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.sampled_from(["ACME", "buy", "sell", "limit", "market", "GTC", "IOC", "DAY", "1.00"]),
    st.text(max_size=70),
    st.lists(st.integers(), max_size=2),
)
_FIELDS = ("symbol", "side", "type", "price", "quantity", "time_in_force", "post_only")
_bodies = st.dictionaries(st.sampled_from([*_FIELDS, "client_order_id", "extra"]), _values)


@settings(max_examples=400, deadline=None)
@given(_bodies)
def test_the_fast_parser_accepts_nothing_pydantic_refuses(body: dict[str, Any]) -> None:
    terms = order_terms(body)
    try:
        model = NewOrderRequest.model_validate(body)
    except ValidationError:
        assert terms is None
        return
    if terms is not None:
        assert (terms.symbol, terms.side, terms.order_type, terms.price) == (
            model.symbol,
            model.side,
            model.type,
            model.price,
        )
        assert (terms.quantity, terms.time_in_force, terms.post_only) == (
            model.quantity,
            model.time_in_force,
            model.post_only,
        )
        assert terms.client_order_id == model.client_order_id
        assert order_dump(terms) == model.model_dump(mode="json")  # (a keyed one's fingerprint)


_ids = st.one_of(st.integers(min_value=-1, max_value=2**63), st.booleans(), st.text(max_size=3))
_cancel_bodies = st.one_of(
    st.dictionaries(st.sampled_from(["order_ids", "extra"]), st.lists(_ids, max_size=3)),
    st.fixed_dictionaries({"order_ids": st.lists(st.integers(1, 9), min_size=999, max_size=1001)}),
    st.fixed_dictionaries({"order_ids": _values}),
)


@settings(max_examples=300, deadline=None)
@given(_cancel_bodies)
def test_the_fast_cancel_parser_accepts_nothing_pydantic_refuses(body: dict[str, Any]) -> None:
    ids = cancel_ids(body)
    try:
        model = CancelBatchRequest.model_validate(body)
    except ValidationError:
        assert ids is None
        return
    assert ids is None or ids == model.order_ids


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["/v1/orders", "/v1/orders/batch", "/v1/orders/batch/cancel", "/v1/orders/7"]),
    st.one_of(st.none(), st.binary(max_size=30), st.sampled_from([b"a/b", b"h:1?x", b"[::1]:8"])),
)
def test_the_fingerprinted_path_is_the_one_the_route_sees(path: str, host: bytes | None) -> None:
    headers = [] if host is None else [(b"host", host), (b"host", b"second")]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers,
             "server": ("127.0.0.1", 8000), "query_string": b"a=1"}  # fmt: skip

    assert _url_path(scope) == Request(scope).url.path


def test_a_well_formed_order_and_batch_take_the_fast_path() -> None:
    order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 3}
    assert order_terms(order) is not None
    assert order_terms({**order, "client_order_id": "a\n"}) is None  # pydantic refuses it too
    assert order_terms({**order, "quantity": True}) is None
    assert batch_terms({"orders": [order] * 2, "all_or_nothing": False}) is not None
    assert batch_terms({"orders": [order, {**order, "x": 1}]}) is None
    BatchRequest.model_validate({"orders": [order] * 2, "all_or_nothing": False})


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(CommandApiSettings(admin_key="admin-key"), store=InMemoryEventStore())
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        yield client


async def test_orders_answer_the_same_through_fastapi_and_the_fast_path(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
    user = (await api.post("/v1/users", json={"username": "fast"}, headers=ADMIN)).json()
    headers = {"Authorization": f"Bearer {user['api_key']}"}
    await api.post("/v1/deposits", json={"asset": "USD", "amount": "696.25"}, headers=headers)
    order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 2}

    first = await api.post("/v1/orders", json=order, headers=headers)  # key now cached
    second = await api.post("/v1/orders", json=order, headers=headers)
    batch = await api.post("/v1/orders/batch", json={"orders": [order] * 3}, headers=headers)
    refused = await api.post("/v1/orders", json={**order, "quantity": 9_999}, headers=headers)
    invalid = await api.post("/v1/orders", json={**order, "quantity": 1.5}, headers=headers)

    assert (first.status_code, second.status_code, batch.status_code) == (201, 201, 201)
    assert first.json().keys() == second.json().keys()
    assert second.json()["position"] > first.json()["position"]
    assert len(batch.json()["orders"]) == 3
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "USD available 686.25, needed 9999.00"
    assert (invalid.status_code, invalid.json()["code"]) == (422, "VALIDATION_ERROR")


async def test_a_keyed_order_answers_the_same_whichever_path_each_send_takes(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
    user = (await api.post("/v1/users", json={"username": "keyed"}, headers=ADMIN)).json()
    auth = {"Authorization": f"Bearer {user['api_key']}"}
    await api.post("/v1/deposits", json={"asset": "USD", "amount": "10.00"}, headers=auth)
    order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 2}
    batch = {"orders": [order], "all_or_nothing": False}
    keyed, batch_keyed = {**auth, "Idempotency-Key": "k"}, {**auth, "Idempotency-Key": "b"}
    # FastAPI reads any application/*+json body; the fast path takes application/json only.
    slow = {"content-type": "application/x+json"}

    first = await api.post("/v1/orders", content=orjson.dumps(order), headers={**keyed, **slow})
    resent = await api.post("/v1/orders", json=order, headers=keyed)
    changed = await api.post("/v1/orders", json={**order, "quantity": 3}, headers=keyed)
    batched = await api.post("/v1/orders/batch", json=batch, headers=batch_keyed)
    rebatched = await api.post(
        "/v1/orders/batch", content=orjson.dumps(batch), headers={**batch_keyed, **slow}
    )

    assert (first.status_code, resent.status_code) == (201, 201)
    assert resent.json() == first.json()
    assert (changed.status_code, changed.json()["code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert (batched.status_code, rebatched.status_code) == (201, 201)
    assert rebatched.json() == batched.json()


async def test_cancels_answer_the_same_through_fastapi_and_the_fast_path(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
    owner = (await api.post("/v1/users", json={"username": "owner"}, headers=ADMIN)).json()
    other = (await api.post("/v1/users", json={"username": "other"}, headers=ADMIN)).json()
    auth = {"Authorization": f"Bearer {owner['api_key']}"}
    others = {"Authorization": f"Bearer {other['api_key']}"}
    await api.post("/v1/deposits", json={"asset": "USD", "amount": "10.00"}, headers=auth)
    order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 2}
    order_id = (await api.post("/v1/orders", json=order, headers=auth)).json()["order_id"]

    # The first request of a key goes through FastAPI (the key is not cached yet), the next
    # ones take the fast path.
    not_theirs = [await api.delete(f"/v1/orders/{order_id}", headers=others) for _ in range(2)]
    keyed = {**auth, "Idempotency-Key": "cancel-1"}
    cancelled = await api.delete(f"/v1/orders/{order_id}", headers=keyed)
    resent = await api.delete(f"/v1/orders/{order_id}", headers=keyed)
    again = await api.delete(f"/v1/orders/{order_id}", headers=auth)
    unknown = await api.delete(f"/v1/orders/{order_id + 10**6}", headers=auth)
    invalid = [
        await api.delete(f"/v1/orders/{bad}", headers=auth) for bad in ("0", "x1", str(2**63))
    ]

    assert [r.status_code for r in not_theirs] == [404, 404]
    assert not_theirs[0].json() == not_theirs[1].json()
    assert cancelled.status_code == resent.status_code == again.status_code == 202
    assert cancelled.json()["status"] == "cancel_requested"
    assert resent.json() == cancelled.json()
    assert again.json()["event_id"] == cancelled.json()["event_id"]
    assert (unknown.status_code, unknown.json()["code"]) == (404, not_theirs[0].json()["code"])
    assert [r.status_code for r in invalid] == [422, 422, 422]


async def test_batch_cancels_answer_the_same_through_fastapi_and_the_fast_path(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/v1/instruments", json={"symbol": "ACME"}, headers=ADMIN)
    user = (await api.post("/v1/users", json={"username": "puller"}, headers=ADMIN)).json()
    auth = {"Authorization": f"Bearer {user['api_key']}"}
    await api.post("/v1/deposits", json={"asset": "USD", "amount": "10.00"}, headers=auth)
    order = {"symbol": "ACME", "side": "buy", "price": "1.00", "quantity": 1}
    placed = await api.post("/v1/orders/batch", json={"orders": [order] * 3}, headers=auth)
    ids = [leg["order_id"] for leg in placed.json()["orders"]]
    keyed = {**auth, "Idempotency-Key": "pull-1"}
    slow = {"content-type": "application/x+json"}  # (FastAPI's path: see above)

    fast = await api.post("/v1/orders/batch/cancel", json={"order_ids": ids[:2]}, headers=keyed)
    resent = await api.post(
        "/v1/orders/batch/cancel",
        content=orjson.dumps({"order_ids": ids[:2]}),
        headers={**keyed, **slow},
    )
    both = [
        await api.post("/v1/orders/batch/cancel", content=orjson.dumps(body), headers=headers)
        for headers in ({**auth, **slow}, {**auth, "content-type": "application/json"})
        for body in ({"order_ids": [ids[0], 10**9]}, {"order_ids": [10**9]}, {"order_ids": []})
    ]

    assert fast.status_code == resent.status_code == 202
    assert resent.json() == fast.json()
    assert [leg["status"] for leg in fast.json()["orders"]] == ["cancel_requested"] * 2
    assert [r.status_code for r in both] == [202, 409, 422] * 2
    assert [r.json().get("orders") for r in both[:3]] == [r.json().get("orders") for r in both[3:]]
    assert both[0].json()["orders"] == [
        {"order_id": ids[0], "status": "cancel_requested"},
        {"order_id": 10**9, "status": "not_found"},
    ]
    assert both[1].json()["code"] == both[4].json()["code"] == "ORDER_NOT_OPEN"


_legs = st.fixed_dictionaries(
    {"symbol": st.sampled_from(["ACME", "B.1"]), "side": st.sampled_from(["buy", "sell"])},
    optional={
        "type": st.sampled_from(["limit", "market"]),
        "price": st.one_of(st.none(), st.sampled_from(["1.00", "0.5", "1e3", " 2", "10."])),
        "quantity": st.integers(-5, 10**6),
        "time_in_force": st.one_of(st.none(), st.sampled_from(["GTC", "IOC", "FOK", "DAY"])),
        "post_only": st.booleans(),
        "client_order_id": st.one_of(
            st.none(), st.from_regex(r"[A-Za-z0-9_.:-]{1,8}", fullmatch=True)
        ),
    },
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_legs, min_size=1, max_size=4), st.one_of(st.none(), st.booleans()))
def test_a_fast_batch_is_fingerprinted_from_the_same_dump_as_pydantics(
    legs: list[dict[str, Any]], all_or_nothing: bool | None
) -> None:
    body: dict[str, Any] = {"orders": legs}
    if all_or_nothing is not None:
        body["all_or_nothing"] = all_or_nothing
    parsed = batch_terms(body)
    if parsed is None:  # (a leg the fast checks leave to FastAPI: quantity required)
        return
    assert batch_dump(*parsed) == BatchRequest.model_validate(body).model_dump(mode="json")
