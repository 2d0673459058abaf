"""Properties that hold after any sequence of commands, in every self-trade mode.

A small reference model is rebuilt from the events alone (never from the engine's internals) and
checked against the engine's book: the book is never crossed, every order's quantity is conserved,
nobody trades with itself, trades print at the resting order's price, the resting order that
trades is always the best in price-time priority, and a snapshot taken anywhere and fed the rest
of the commands ends in the same events and hash as the uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import (
    AmendOrder,
    CancelOrder,
    Command,
    Event,
    ExpireOrders,
    MatchingEngine,
    NewOrder,
    OrderAccepted,
    OrderAmended,
    OrderCancelled,
    OrderExpired,
    OrderReduced,
    SubmitBatch,
    TradeExecuted,
)
from domain.commands import TimeInForce
from domain.instrument import SELF_TRADE_MODES

from .builders import SYMBOL, engine

USERS = st.integers(1, 4)
PRICES = st.integers(96, 104)
QTYS = st.integers(1, 8)
new_spec = st.tuples(
    st.just("new"),
    USERS,
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["limit"] * 4 + ["market"]),
    PRICES,
    QTYS,
    st.sampled_from(["GTC", "GTC", "GTC", "IOC", "FOK", "DAY"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 3_000)),
)
spec = st.one_of(
    new_spec,
    new_spec,
    new_spec,
    st.tuples(st.just("cancel"), st.integers(1, 60), st.booleans()),
    st.tuples(
        st.just("amend"),
        st.integers(1, 60),
        st.one_of(st.none(), QTYS),
        st.one_of(st.none(), PRICES),
    ),
    st.tuples(st.just("expire"), st.integers(0, 30)),
    st.tuples(st.just("batch"), st.booleans(), st.lists(new_spec, min_size=1, max_size=3)),
)


def build(specs: list[tuple[Any, ...]]) -> list[Command]:
    """Turn drawn specs into commands with unique ids, increasing time and real owners."""
    commands: list[Command] = []
    owner: dict[int, int] = {}
    next_id = 1

    def new_order(s: tuple[Any, ...], at: int, user: int | None = None) -> NewOrder:
        nonlocal next_id
        _, drawn_user, side, kind, price, qty, tif, post_only, budget = s
        user_id = drawn_user if user is None else user
        order_id, next_id = next_id, next_id + 1
        owner[order_id] = user_id
        if kind == "market":
            market_tif: TimeInForce = "FOK" if tif == "FOK" else "IOC"
            return NewOrder(
                SYMBOL, order_id, user_id, side, kind, None, qty, market_tif, at, False, budget
            )
        expires = at + 1 + qty * 3 if tif == "DAY" else None
        return NewOrder(
            SYMBOL, order_id, user_id, side, kind, price, qty, tif, at, post_only, None, expires
        )

    for at, s in enumerate(specs, start=1):
        if s[0] == "new":
            commands.append(new_order(s, at))
        elif s[0] == "cancel":
            user = owner.get(s[1], 1) if s[2] else 9
            commands.append(CancelOrder(SYMBOL, s[1], user, at))
        elif s[0] == "amend":
            commands.append(AmendOrder(SYMBOL, s[1], owner.get(s[1], 1), s[2], s[3], at))
        elif s[0] == "expire":
            commands.append(ExpireOrders(at + s[1]))
        else:
            user = s[2][0][1]
            legs = tuple(new_order(leg, at, user) for leg in s[2])
            commands.append(SubmitBatch(at, user, legs, s[1], at))
    return commands


@dataclass
class Model:
    """What the events say about every order."""

    quantity: dict[int, int] = field(default_factory=dict)
    done: dict[int, int] = field(default_factory=dict)  # filled + cancelled + reduced + expired
    price: dict[int, int | None] = field(default_factory=dict)
    arrival: dict[int, int] = field(default_factory=dict)  # time priority of resting orders
    clock: int = 0

    def apply(self, eng: MatchingEngine, events: list[Event]) -> None:
        """Check and absorb one command's events."""
        for event in events:
            if isinstance(event, OrderAccepted):
                self.quantity[event.order_id] = event.quantity
                self.done[event.order_id] = 0
                self.price[event.order_id] = event.price
                self._arrive(event.order_id)
            elif isinstance(event, TradeExecuted):
                self._check_trade(eng, event)
                self.done[event.taker_order_id] += event.quantity
                self.done[event.maker_order_id] += event.quantity
            elif isinstance(event, OrderCancelled | OrderExpired | OrderReduced):
                self.done[event.order_id] += event.quantity
            elif isinstance(event, OrderAmended):
                self.quantity[event.order_id] = event.quantity
                self.price[event.order_id] = event.price
                if not event.priority_kept:
                    self._arrive(event.order_id)

    def _arrive(self, order_id: int) -> None:
        self.clock += 1
        self.arrival[order_id] = self.clock

    def _check_trade(self, eng: MatchingEngine, trade: TradeExecuted) -> None:
        assert trade.taker_user_id != trade.maker_user_id, "self-trade"
        assert trade.price == self.price[trade.maker_order_id], "not at the resting price"
        limit = self.price[trade.taker_order_id]
        if limit is not None:
            assert trade.price <= limit if trade.taker_side == "buy" else trade.price >= limit


def check_book(eng: MatchingEngine, model: Model) -> None:
    """Book-wide invariants after a command."""
    book = eng.book(SYMBOL)
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is None or ask is None or bid < ask, "crossed book"
    open_orders = {o.order_id: o for o in book.open_orders()}
    for order_id, quantity in model.quantity.items():
        remaining = open_orders[order_id].remaining if order_id in open_orders else 0
        assert quantity == model.done[order_id] + remaining, f"order {order_id} not conserved"
    for side in ("buy", "sell"):
        listed = [o.order_id for o in book.open_orders(side)]
        sign = -1 if side == "buy" else 1
        ranked = sorted(listed, key=lambda i: (sign * open_orders[i].price, model.arrival[i]))
        assert listed == ranked, "queue is not in price-time priority"
    for level_side in (book.bids, book.asks):
        for price, qty in level_side.depth():
            assert qty == sum(o.remaining for o in open_orders.values() if o.price == price)


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(spec, min_size=1, max_size=60),
    mode=st.sampled_from(SELF_TRADE_MODES),
)
def test_invariants_hold_after_every_command(specs: list[tuple[Any, ...]], mode: Any) -> None:
    eng = engine(mode)
    model = Model()

    for command in build(specs):
        events = eng.process(command)
        model.apply(eng, events)
        check_book(eng, model)
        check_cash_bound(command, events)


def check_cash_bound(command: Command, events: list[Event]) -> None:
    """A market buy never spends more than its ``max_notional``."""
    legs = command.orders if isinstance(command, SubmitBatch) else (command,)
    for leg in legs:
        if isinstance(leg, NewOrder) and leg.side == "buy" and leg.price is None:
            if leg.max_notional is None:
                continue
            spent = sum(
                e.price * e.quantity
                for e in events
                if isinstance(e, TradeExecuted) and e.taker_order_id == leg.order_id
            )
            assert spent <= leg.max_notional, "market buy overspent its cash"


@settings(max_examples=100, deadline=None)
@given(
    specs=st.lists(spec, min_size=1, max_size=50),
    mode=st.sampled_from(SELF_TRADE_MODES),
    cut=st.floats(0, 1),
)
def test_snapshot_then_replay_of_the_rest_equals_the_uninterrupted_run(
    specs: list[tuple[Any, ...]], mode: Any, cut: float
) -> None:
    commands = build(specs)
    split = int(len(commands) * cut)
    live = engine(mode)
    head = live.process_many(commands[:split])
    restored = MatchingEngine.restore(live.snapshot())

    tail_live = live.process_many(commands[split:])
    tail_restored = restored.process_many(commands[split:])

    assert tail_restored == tail_live
    assert restored.state_hash() == live.state_hash()
    assert head + tail_live == engine(mode).process_many(commands)


@settings(max_examples=100, deadline=None)
@given(
    specs=st.lists(spec, min_size=1, max_size=60),
    mode=st.sampled_from(SELF_TRADE_MODES),
)
def test_fast_paths_answer_exactly_like_the_reference_handlers(
    specs: list[tuple[Any, ...]], mode: Any
) -> None:
    commands = build(specs)
    fast, reference = engine(mode), engine(mode)

    fast_events = fast.process_many(commands)
    reference_events = [e for c in commands for e in reference.process_reference(c)]

    assert fast_events == reference_events
    assert fast.state_hash() == reference.state_hash()
