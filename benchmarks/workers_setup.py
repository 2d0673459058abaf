"""What the command API would have appended for a workload file: the seed of ``benchmarks.workers``.

Pure (no I/O): :func:`plan` turns the rows of a ``../shared/bench/workload.py`` file into the
store appends, in order, that the command API makes for them, with real holds from the domain's
``Account`` rules:

* the listing, ``InstrumentListed`` on ``instrument-<SYMBOL>`` (``Instrument.to_dict()`` + ``at``);
* one ``FundsDeposited`` per user: cash for buyers (even workload ids), shares for sellers (odd
  ones), as much as all of the user's orders hold (user id = workload id + 1; 0 is the fee
  account);
* per ``new`` row, ``FundsReserved`` on ``account-<user>`` (``Account.reserve_order``; a market
  buy holds all the cash available, with ``max_notional = market_buy_max_notional(cash)``) and
  ``OrderPlaced`` on ``order-<id>`` with the ``order_symbol`` route; per ``cancel`` row,
  ``CancelRequested`` on the order's stream. A market buy takes every cash unit the user has, so
  the user's next buy first deposits what its remaining orders hold (a top-up, as a user would).

Appends are large (``chunk_commands`` commands each, thousands of events over as many streams)
with exact expected versions. The engine's inputs keep the file's order: each order's stream
appears once per append, and an append ends before a cancel of an order placed in it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from domain import streams
from domain.account import Account
from domain.events import Event
from domain.instrument import Instrument
from domain.order_requests import CancelRequested, OrderPlaced
from event_store.model import NO_STREAM, NewEvent, StreamAppend
from event_store.outbox import order_route

Row = Mapping[str, Any]
CHUNK_COMMANDS: Final = 2000
DEPOSITS_PER_APPEND: Final = 5000
MARKET_BUY_QUANTITY_PRICE: Final = 2
"""A market buy holds at least this many times the cost of its quantity at the file's highest
limit price: enough that ``max_notional`` never binds, so the worker's engine trades exactly as
the in-process engine (which gets no ``max_notional``) on the same file."""


def user_id(row: Row) -> int:
    """The exchange's user id of a workload user (0 is the fee account)."""
    return int(row["user"]) + 1


@dataclass(slots=True)
class Plan:
    """What :func:`plan` appended, counted as it goes (complete once the chunks are consumed)."""

    instrument: Instrument
    new_orders: int = 0
    cancels: int = 0
    events: int = 0
    deposits: int = 0
    top_ups: int = 0
    accounts: dict[int, Account] = field(default_factory=dict)


def needs(instrument: Instrument, rows: Sequence[Row]) -> tuple[dict[int, list[int]], int]:
    """Per user, what each of its orders must hold, in order; and a market buy's amount."""
    top = max((int(r["price"]) for r in rows if r["op"] == "new" and "price" in r), default=1)
    top_quantity = max((int(r["qty"]) for r in rows if r["op"] == "new"), default=1)
    market_buy = instrument.buy_hold(top * MARKET_BUY_QUANTITY_PRICE, top_quantity)
    per_user: dict[int, list[int]] = {}
    for r in rows:
        if r["op"] != "new":
            continue
        if r["side"] == "sell":
            amount = int(r["qty"])
        elif r["type"] == "market":
            amount = market_buy
        else:
            amount = instrument.buy_hold(int(r["price"]), int(r["qty"]))
        per_user.setdefault(user_id(r), []).append(amount)
    return per_user, market_buy


def plan(
    instrument: Instrument,
    rows: Sequence[Row],
    at: int,
    result: Plan,
    chunk_commands: int = CHUNK_COMMANDS,
) -> Iterator[list[StreamAppend]]:
    """The appends (each a list of ``StreamAppend``, one store transaction), in order."""
    symbol = instrument.symbol
    listed = {**instrument.to_dict(), "at": at}
    yield [StreamAppend(streams.instrument(symbol), [NewEvent("InstrumentListed", listed)], 0)]
    result.events += 1
    per_user, _ = needs(instrument, rows)
    remaining = {user: sum(amounts) for user, amounts in per_user.items()}
    next_need = {user: iter(amounts) for user, amounts in per_user.items()}
    sides = {user_id(r): r["side"] for r in rows if r["op"] == "new"}
    accounts = result.accounts
    deposits: list[StreamAppend] = []
    for user in sorted(per_user):
        account = accounts[user] = Account(user)
        asset = symbol if sides[user] == "sell" else instrument.currency
        events = account.deposit(asset, remaining[user], at)
        deposits.append(StreamAppend(streams.account(user), [_event(events[0], {})], NO_STREAM))
        result.deposits += 1
        if len(deposits) == DEPOSITS_PER_APPEND:
            result.events += len(deposits)
            yield deposits
            deposits = []
    if deposits:
        result.events += len(deposits)
        yield deposits

    owners: dict[int, int] = {}
    chunk = _Chunk(accounts)
    for index, r in enumerate(rows, start=1):
        when = at + index
        order_id = int(r["id"])
        meta_route = {"correlation_id": f"bench-{index}", **order_route(symbol)}
        if r["op"] == "cancel":
            if chunk.has_order(order_id):  # keep the engine's inputs in the file's order
                result.events += chunk.events
                yield chunk.appends()
                chunk = _Chunk(accounts)
            owner = owners[order_id]
            cancel = CancelRequested(symbol, order_id, owner, when)
            chunk.order(order_id, 1, _event(cancel, {**meta_route, "actor": str(owner)}))
            result.cancels += 1
        else:
            user = user_id(r)
            owners[order_id] = user
            account = accounts[user]
            side, kind, quantity = r["side"], r["type"], int(r["qty"])
            price = int(r["price"]) if kind == "limit" else None
            asset = symbol if side == "sell" else instrument.currency
            need = next(next_need[user])
            meta = {"correlation_id": f"bench-{index}", "actor": str(user)}
            if account.available(asset) < need:  # after a market buy took every cash unit
                top_up = account.deposit(asset, remaining[user] - account.available(asset), when)
                chunk.account(user, _event(top_up[0], meta))
                result.top_ups += 1
            remaining[user] -= need
            cash = max_notional = None
            if side == "buy" and kind == "market":
                cash = account.available(asset)
                max_notional = instrument.market_buy_max_notional(cash)
            reserved = account.reserve_order(
                instrument, order_id, side, kind, quantity, price, when, cash
            )
            chunk.account(user, _event(reserved[0], meta))
            placed = OrderPlaced(
                symbol, order_id, user, side, kind, price, quantity, r["tif"], False,
                max_notional, None, None, when,
            )  # fmt: skip
            chunk.order(order_id, NO_STREAM, _event(placed, {**meta, **order_route(symbol)}))
            result.new_orders += 1
        if chunk.commands >= chunk_commands:
            result.events += chunk.events
            yield chunk.appends()
            chunk = _Chunk(accounts)
    if chunk.commands:
        result.events += chunk.events
        yield chunk.appends()


def _event(event: Event, meta: dict[str, Any]) -> NewEvent:
    return NewEvent(event.event_type, event.to_dict(), meta)


class _Chunk:
    """One append under construction: each stream once, in the order first touched."""

    def __init__(self, accounts: dict[int, Account]) -> None:
        self._accounts = accounts
        self._streams: dict[str, tuple[int, list[NewEvent]]] = {}
        self._orders: set[int] = set()
        self.commands = 0
        self.events = 0

    def has_order(self, order_id: int) -> bool:
        return order_id in self._orders

    def order(self, order_id: int, expected: int, event: NewEvent) -> None:
        self._orders.add(order_id)
        self._streams[streams.order(order_id)] = (expected, [event])
        self.commands += 1
        self.events += 1

    def account(self, user: int, event: NewEvent) -> None:
        stream_id = streams.account(user)
        found = self._streams.get(stream_id)
        if found is None:
            # The account already applied this event: its version before the chunk is one less.
            found = self._streams[stream_id] = (self._accounts[user].version - 1, [])
        found[1].append(event)
        self.events += 1

    def appends(self) -> list[StreamAppend]:
        return [StreamAppend(s, events, v) for s, (v, events) in self._streams.items()]
