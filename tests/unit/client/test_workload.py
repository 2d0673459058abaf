"""The load generator's order flow (pure) and its pacing."""

from __future__ import annotations

from collections import Counter

import pytest

from client.loadgen import Pacer, loopback_only
from client.workload import Cancel, Flow, Mix, Place, price_text, price_ticks


def _draw(flow: Flow, n: int) -> list[Place | Cancel]:
    actions: list[Place | Cancel] = []
    for i in range(n):
        action = flow.next()
        if isinstance(action, Place):
            for leg in action.orders:
                flow.accepted(action.user, leg, i)
        actions.append(action)
    return actions


def test_the_same_seed_draws_the_same_flow() -> None:
    first = _draw(Flow(["A", "B"], 10, seed=7), 500)
    again = _draw(Flow(["A", "B"], 10, seed=7), 500)

    assert first == again


def test_buyers_are_even_users_and_sellers_odd_ones() -> None:
    places = [a for a in _draw(Flow(["A"], 10), 2000) if isinstance(a, Place)]

    assert {a.user % 2 for a in places if a.orders[0]["side"] == "buy"} == {0}
    assert {a.user % 2 for a in places if a.orders[0]["side"] == "sell"} == {1}


def test_the_mix_is_mostly_limits_with_cancels_and_market_sells() -> None:
    actions = _draw(Flow(["A"], 10, seed=3), 20_000)
    kinds = Counter("cancel" if isinstance(a, Cancel) else a.orders[0]["type"] for a in actions)

    assert 0.2 < kinds["cancel"] / len(actions) < 0.3
    assert 0.6 < kinds["limit"] / len(actions) < 0.75
    assert kinds["market"] > 0
    market_sides = {a.orders[0]["side"] for a in actions if isinstance(a, Place)
                    and a.orders[0]["type"] == "market"}  # fmt: skip
    assert market_sides == {"sell"}  # (a market buy would hold all the buyer's cash)


def test_a_batch_is_one_user_and_one_symbol_with_unique_client_order_ids() -> None:
    places = [a for a in _draw(Flow(["A", "B", "C"], 4, batch_size=50), 200)
              if isinstance(a, Place)]  # fmt: skip
    ids = [leg["client_order_id"] for a in places for leg in a.orders]

    assert all(len(a.orders) == 50 and len({o["symbol"] for o in a.orders}) == 1 for a in places)
    assert len(ids) == len(set(ids))


def test_cancels_name_orders_the_exchange_acknowledged_as_resting() -> None:
    flow = Flow(["A"], 2, seed=1)
    acknowledged: dict[int, int] = {}
    for i in range(3000):
        action = flow.next()
        if isinstance(action, Cancel):
            assert acknowledged.pop(action.order_id) == action.user
            continue
        for pulled in action.cancels:
            assert acknowledged.pop(pulled) == action.user
        leg = action.orders[0]
        flow.accepted(action.user, leg, i)
        if leg["type"] == "limit" and leg.get("time_in_force") == "GTC":
            acknowledged[i] = action.user


def test_a_trader_pulls_its_orders_the_mid_left_behind_before_placing() -> None:
    flow = Flow(["A"], 2, seed=5, mix=Mix(cancel=0.0, max_open=10**9))
    prices: dict[int, tuple[int, str]] = {}
    pulled = []
    for i in range(20_000):
        action = flow.next()
        assert isinstance(action, Place)
        mid = flow._mids["A"]
        for order_id in action.cancels:
            user, price = prices.pop(order_id)
            assert user == action.user
            pulled.append(abs(price_ticks(price) - mid))
        flow.accepted(action.user, action.orders[0], i)
        if action.orders[0].get("time_in_force") == "GTC":
            prices[i] = (action.user, action.orders[0]["price"])

    assert pulled and min(pulled) > 50  # (only what drifted past the quoting band)


def test_a_trader_keeps_at_most_max_open_earlier_orders_per_symbol() -> None:
    flow = Flow(["A", "B"], 4, seed=2, batch_size=30, mix=Mix(cancel=0.0, max_open=10))
    open_orders: dict[tuple[int, str], set[int]] = {}
    next_id = 0
    for _ in range(400):
        action = flow.next()
        assert isinstance(action, Place)
        key = (action.user, action.orders[0]["symbol"])
        mine = open_orders.setdefault(key, set())
        assert set(action.cancels) <= mine
        mine -= set(action.cancels)
        assert len(mine) <= 10  # (what it keeps before placing the new batch)
        for leg in action.orders:
            next_id += 1
            flow.accepted(action.user, leg, next_id)
            if leg["type"] == "limit" and leg.get("time_in_force") == "GTC":
                mine.add(next_id)


def test_prices_are_decimal_strings_of_ticks() -> None:
    assert [price_text(t) for t in (10_000, 9_987, 5)] == ["100.00", "99.87", "0.05"]
    assert [price_ticks(price_text(t)) for t in (10_000, 9_987, 5)] == [10_000, 9_987, 5]


def test_only_loopback_targets_are_loaded() -> None:
    loopback_only("http://127.0.0.1:8011", "http://localhost:8010/api/query")
    with pytest.raises(ValueError, match="non-loopback"):
        loopback_only("http://192.0.2.1:80")


async def test_the_pacer_spaces_slots_at_the_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(round(seconds, 6))

    monkeypatch.setattr("client.loadgen.time.perf_counter", lambda: 50.0)
    monkeypatch.setattr("client.loadgen.asyncio.sleep", sleep)
    pacer = Pacer(rate=1000)
    for _ in range(5):
        await pacer.wait(20)

    assert pacer.granted == 100
    assert pauses == [0.02, 0.04, 0.06, 0.08]  # (the first slot is due at once)


async def test_without_a_rate_the_pacer_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    pacer = Pacer(rate=0)
    await pacer.wait(1_000_000)

    assert pacer.granted == 0
