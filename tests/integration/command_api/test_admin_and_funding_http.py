"""Users, instruments, deposits and withdrawals over HTTP against the real store."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.command_api.conftest import (
    ADMIN,
    assert_problem,
    new_symbol,
    new_trader,
    unique,
)

pytestmark = pytest.mark.integration


async def test_admin_creates_a_user_whose_key_works_once_shown(api: httpx.AsyncClient) -> None:
    name = unique("u")

    resp = await api.post("/v1/users", json={"username": name}, headers=ADMIN)

    body = resp.json()
    assert resp.status_code == 201
    assert body["username"] == name and isinstance(body["user_id"], int)
    assert isinstance(body["position"], int)
    headers = {"Authorization": f"Bearer {body['api_key']}"}
    deposit = await api.post("/v1/deposits", json={"asset": "USD", "amount": "1.00"},
                             headers=headers)  # fmt: skip
    assert deposit.status_code == 201


async def test_a_taken_username_is_409(api: httpx.AsyncClient) -> None:
    name = unique("u")
    await api.post("/v1/users", json={"username": name}, headers=ADMIN)

    resp = await api.post("/v1/users", json={"username": name.upper()}, headers=ADMIN)

    assert_problem(resp, 409, "USERNAME_TAKEN")


async def test_admin_lists_an_instrument_once(api: httpx.AsyncClient) -> None:
    symbol = unique("I").upper()
    payload = {"symbol": symbol, "tick_size": "0.05", "lot_size": 10,
               "self_trade": "reject_opposite"}  # fmt: skip

    first = await api.post("/v1/instruments", json=payload, headers=ADMIN)
    second = await api.post("/v1/instruments", json=payload, headers=ADMIN)

    assert first.status_code == 201
    assert first.json()["tick_size"] == "0.05" and first.json()["lot_size"] == 10
    assert_problem(second, 409, "DUPLICATE_SYMBOL")


async def test_an_invalid_instrument_is_422(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/v1/instruments", json={"symbol": unique("I").upper(), "tick_size": "0.001"},
        headers=ADMIN,
    )  # fmt: skip

    assert_problem(resp, 422, "INVALID_INSTRUMENT")


async def test_admin_routes_need_the_admin_key(api: httpx.AsyncClient) -> None:
    trader = await new_trader(api, usd=None)

    anonymous = await api.post("/v1/users", json={"username": unique("u")})
    wrong = await api.post("/v1/users", json={"username": unique("u")},
                           headers={"Authorization": "Bearer nope"})  # fmt: skip
    as_user = await api.post("/v1/users", json={"username": unique("u")}, headers=trader.headers)

    assert_problem(anonymous, 401, "UNAUTHORIZED")
    assert_problem(wrong, 401, "UNAUTHORIZED")
    assert_problem(as_user, 403, "FORBIDDEN")


async def test_user_routes_refuse_the_admin_key(api: httpx.AsyncClient) -> None:
    resp = await api.post("/v1/deposits", json={"asset": "USD", "amount": "1.00"}, headers=ADMIN)

    assert_problem(resp, 403, "FORBIDDEN")


async def test_cash_and_shares_are_deposited_and_withdrawn(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api, usd="100.00")

    shares = await api.post("/v1/deposits", json={"asset": symbol, "amount": 10},
                            headers=trader.headers)  # fmt: skip
    cash_out = await api.post("/v1/withdrawals", json={"asset": "USD", "amount": "40.00"},
                              headers=trader.headers)  # fmt: skip
    shares_out = await api.post("/v1/withdrawals", json={"asset": symbol, "amount": 4},
                                headers=trader.headers)  # fmt: skip

    assert [shares.status_code, cash_out.status_code, shares_out.status_code] == [201] * 3
    assert shares_out.json() == {"asset": symbol, "amount": 4,
                                 "position": shares_out.json()["position"]}  # fmt: skip
    assert cash_out.json()["position"] < shares_out.json()["position"]


async def test_withdrawing_more_than_available_is_422(api: httpx.AsyncClient) -> None:
    symbol = await new_symbol(api)
    trader = await new_trader(api, usd="10.00")

    cash = await api.post("/v1/withdrawals", json={"asset": "USD", "amount": "10.01"},
                          headers=trader.headers)  # fmt: skip
    shares = await api.post("/v1/withdrawals", json={"asset": symbol, "amount": 1},
                            headers=trader.headers)  # fmt: skip

    assert_problem(cash, 422, "INSUFFICIENT_FUNDS")
    assert_problem(shares, 422, "INSUFFICIENT_HOLDINGS")


@pytest.mark.parametrize(
    ("amount", "code"),
    [(10.5, "VALIDATION_ERROR"), ("-1.00", "INVALID_AMOUNT"), ("1.001", "INVALID_AMOUNT"),
     ("abc", "INVALID_AMOUNT"), (True, "VALIDATION_ERROR")],
)  # fmt: skip
async def test_a_bad_amount_is_422(api: httpx.AsyncClient, amount: object, code: str) -> None:
    trader = await new_trader(api, usd=None)

    resp = await api.post("/v1/deposits", json={"asset": "USD", "amount": amount},
                          headers=trader.headers)  # fmt: skip

    assert_problem(resp, 422, code)


async def test_malformed_json_unknown_routes_and_methods_are_problems(
    api: httpx.AsyncClient,
) -> None:
    trader = await new_trader(api, usd=None)

    malformed = await api.post("/v1/deposits", content=b"{nope", headers={
        **trader.headers, "content-type": "application/json"})  # fmt: skip
    unknown = await api.get("/v1/nowhere")
    method = await api.put("/v1/deposits", headers=trader.headers)
    too_big = await api.post("/v1/orders/batch", content=b"x" * 2_000_000, headers={
        **trader.headers, "content-type": "application/json"})  # fmt: skip

    assert_problem(malformed, 400, "MALFORMED_JSON")
    assert_problem(unknown, 404, "NOT_FOUND")
    assert_problem(method, 405, "METHOD_NOT_ALLOWED")
    assert too_big.status_code == 413
