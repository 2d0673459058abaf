"""The settlement worker's wire formats, without the intermediate objects: settlement-topic
message bytes → inputs, a batch's bookings → the store's encoded rows.

The reference path, which stays the spec, is the domain's and the store's own
(:func:`book_reference`): a message becomes a :class:`~event_store.model.RecordedEvent`
(``event_from_message``), a fill an ``OrderFilled`` (``event_from_dict``); ``Account.settle_fill``
and ``Account.release_order`` return the account events, which become ``to_dict()`` +
``NewEvent`` (a UUID, a frozen dataclass) and are encoded by ``encode_append``; the batch's fees
are netted by ``Account.net_fees``. About ten objects per input, most of the worker's Python
time. Here:

* :func:`input_from_message` keeps only what the worker uses of a message (position, stream,
  type, data, event id and correlation id as text);
* :class:`Bookings` reads the fill's fields from its data, prices it with the domain's
  :func:`~domain.account.settlement_terms`, applies the effect to the cached account through the
  same primitives ``Account.apply`` uses (``settled``, ``released``) and encodes each account
  event straight into the row tuple ``encode_append`` would have made (same type, same JSON
  bytes of ``to_dict()``, same metadata), grouped by account stream like the reference's
  appends, with text-only event ids.

``tests/unit/workers/test_settlement_codec.py`` holds both against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from domain import streams
from domain.account import Account, settlement_terms
from domain.account_events import (
    FEE_ACCOUNT,
    RELEASED_ORDER_CLOSED,
    FeesNetted,
    FundsReleased,
    TradeSettled,
)
from domain.errors import DomainError
from domain.events import Event, event_from_dict
from domain.instrument import Instrument
from domain.order_events import OrderFilled
from event_store.ids import new_event_id_text
from event_store.model import ANY, NewEvent, RecordedEvent, StreamAppend
from event_store.planning import (
    NEW_SCHEMA_VERSION,
    EncodedAppend,
    EncodedEvent,
    EncodedStream,
    encode_append,
    json_bytes,
)
from workers.settlement_resume import ACTOR

SCHEMA_VERSION: Final = NEW_SCHEMA_VERSION
"""The schema version of every event the worker appends (``NewEvent``'s default)."""
FILLED: Final = OrderFilled.__name__
_SETTLED: Final = TradeSettled.__name__
_RELEASED: Final = FundsReleased.__name__
_NETTED: Final = FeesNetted.__name__
_FILL_FIELDS: Final = frozenset(OrderFilled.FIELDS)
_ENTRY: Final = 6
"""Items per entry of :attr:`Bookings._journal`."""
FEE_METADATA: Final = {"actor": ACTOR}
"""A batch's ``FeesNetted`` has many causes: each side's ``TradeSettled`` names its own."""
_dumps: Final = json_bytes
_loads: Final = orjson.loads


class SettlementError(Exception):
    """An input the account rules refuse even on fresh state: a bug, never skipped."""


class SettlementInput(NamedTuple):
    """What the worker uses of one settlement-topic message."""

    position: int
    stream_id: str
    type: str
    data: dict[str, Any]
    event_id: str
    """The input's event id as text: the ``causation_id`` of its bookings."""
    correlation_id: Any


def input_from_message(value: bytes) -> SettlementInput:
    """A settlement-topic message value (``event_store.outbox``'s format) as an input."""
    raw = _loads(value)
    return SettlementInput(
        raw["position"],
        raw["stream_id"],
        raw["type"],
        raw["data"],
        raw["event_id"],
        raw["metadata"].get("correlation_id"),
    )


def input_from_event(event: RecordedEvent) -> SettlementInput:
    """A stored event as an input (what :func:`input_from_message` gives for its message)."""
    return SettlementInput(
        event.position,
        event.stream_id,
        event.type,
        event.data,
        str(event.event_id),
        event.metadata.get("correlation_id"),
    )


def metadata_of(item: SettlementInput) -> dict[str, Any]:
    """The metadata of an input's bookings."""
    return {"correlation_id": item.correlation_id, "causation_id": item.event_id, "actor": ACTOR}


@dataclass(slots=True)
class _Stream:
    """One account's rows of the batch and the version they were decided on."""

    account: Account
    expected_version: int
    rows: list[EncodedEvent]


class Bookings:
    """One batch's account events as encoded rows: per account stream, in order of first
    booking, then the netted fees. Each booking is applied to the cached account at once (the
    next input of the batch sees it), as the reference's decisions are."""

    __slots__ = ("_fees", "_instruments", "_journal", "_streams")

    def __init__(self, instruments: Mapping[str, Instrument]) -> None:
        self._instruments = instruments
        self._streams: dict[int, _Stream] = {}
        self._fees: dict[tuple[str, str], list[int]] = {}
        self._journal: list[Any] = []
        """What each booking did to an account, to take it back (:meth:`undo`), flat in
        entries of ``_ENTRY`` items (account, asset, amount, order id, symbol, side): a hold
        consumed or released, or a total moved (order id ``None``). Flat: a tuple per entry
        was ~10^4 tracked containers per batch, and the collector's runs over the account
        cache cost more than the journal itself."""

    def book(
        self, account: Account, version: int, item: SettlementInput, *, net: bool = True
    ) -> None:
        """The account's events of one input: a fill's ``TradeSettled`` (and the release of
        the leftover when the order is filled), a close's release of the rest. ``version``: the
        version of the account's stream that ``account`` reflects. ``net=False``: an input
        booked again after :meth:`take_back`, whose fee is netted already."""
        stream = self._streams.get(account.user_id)
        if stream is None:  # (the version before the batch's first booking)
            stream = self._streams[account.user_id] = _Stream(account, version, [])
        data = item.data
        if item.type == FILLED:
            if data.keys() != _FILL_FIELDS:
                raise SettlementError(f"bad fields for {FILLED} at {item.position}: {sorted(data)}")
            stream.rows += self._fill(account, data, item, net)
        else:
            stream.rows += self._release(account, data["order_id"], data["at"], item)

    def append(
        self, fence_stream: str, fence_version: int, checkpoint: EncodedEvent
    ) -> EncodedAppend:
        """The batch's append: every account stream with rows (at its version as read), the
        fee account (``ANY``), then ``fence_stream`` with the checkpoint at ``fence_version``."""
        encoded: list[EncodedStream] = []
        ids: list[str] = []
        account_stream = streams.account
        for user_id, stream in self._streams.items():
            if stream.rows:
                encoded.append(
                    EncodedStream(
                        account_stream(user_id), stream.expected_version, tuple(stream.rows), None
                    )
                )
                ids.extend(row[0] for row in stream.rows)
        fees = self._fee_rows()
        if fees:
            encoded.append(EncodedStream(account_stream(FEE_ACCOUNT), ANY, fees, None))
            ids.extend(row[0] for row in fees)
        encoded.append(EncodedStream(fence_stream, fence_version, (checkpoint,), None))
        ids.append(checkpoint[0])
        # Fresh: every id was drawn for this batch and never recorded (an attempt that met a
        # conflict recorded nothing; the accounts booked again get new ones), so the store
        # answers a conflict without looking the ids up as a retry's.
        return EncodedAppend(tuple(encoded), tuple(ids), None, fresh=True)

    def undo(self) -> dict[int, tuple[Account, int]]:
        """Take every booking back out of its account (a batch that will never be durable):
        :meth:`take_back` of every account booked."""
        return self.take_back(list(self._streams))

    def take_back(self, users: Collection[int]) -> dict[int, tuple[Account, int]]:
        """Take the bookings of these accounts back out of them, latest first; per account
        taken back, the account and the stream version it was decided on. The other accounts'
        bookings and rows stand, and so do the netted fees (a fee depends on the fill alone: an
        input taken back is booked again with ``net=False``).

        A consumed or released hold is reserved again (re-opened if it was closed), a moved
        total moved back, and the account's event count goes back by the events booked.
        """
        taken = {id(self._streams[u].account) for u in users if u in self._streams}
        if not taken:
            return {}
        journal = self._journal
        kept: list[Any] = []
        for at in range(len(journal) - _ENTRY, -1, -_ENTRY):
            entry = journal[at : at + _ENTRY]
            account, asset, amount, order_id, symbol, side = entry
            if id(account) not in taken:
                kept.append(entry)
            elif order_id is None:
                account.credited(asset, amount)
            else:
                account.reserved(asset, amount, order_id, symbol, side)
        self._journal = [item for entry in reversed(kept) for item in entry]
        undone: dict[int, tuple[Account, int]] = {}
        for user_id in users:
            stream = self._streams.pop(user_id, None)
            if stream is not None:
                stream.account.version -= len(stream.rows)
                undone[user_id] = (stream.account, stream.expected_version)
        return undone

    def expected_versions(self) -> dict[int, int]:
        """Per account the batch appends to: the stream version its bookings were decided on."""
        return {user: s.expected_version for user, s in self._streams.items() if s.rows}

    def booked(self) -> dict[int, int]:
        """Per account with bookings: how many events the batch appends to its stream."""
        return {user: len(s.rows) for user, s in self._streams.items() if s.rows}

    def _fill(
        self, account: Account, d: dict[str, Any], item: SettlementInput, net: bool
    ) -> list[EncodedEvent]:
        symbol, order_id, side, at = d["symbol"], d["order_id"], d["side"], d["at"]
        instrument = self._instruments.get(symbol)
        if instrument is None:
            raise SettlementError(f"a fill in the unlisted {symbol}")
        price, quantity, liquidity = d["price"], d["quantity"], d["liquidity"]
        cash_delta, fee, shares_delta, hold_used = settlement_terms(
            instrument, side, price, quantity, liquidity == "maker"
        )
        hold = account.holds.get(order_id)
        if hold is None or hold.amount < hold_used:
            raise SettlementError(
                f"{item.type} at position {item.position} cannot be settled:"
                f" order {order_id} holds too little to settle this trade"
            )
        currency = instrument.currency
        account.settled(currency, symbol, side, order_id, hold_used, cash_delta, shares_delta)
        held = currency if side == "buy" else symbol
        self._journal += (
            account, held, hold_used, order_id, hold.symbol, hold.side,
            account, currency, -cash_delta, None, "", "",
            account, symbol, -shares_delta, None, "", "",
        )  # fmt: skip
        account.version += 1
        metadata = _dumps(metadata_of(item))
        settled = {
            "user_id": account.user_id, "symbol": symbol, "trade_id": d["trade_id"],
            "order_id": order_id, "side": side, "price": price, "quantity": quantity,
            "liquidity": liquidity, "currency": currency, "cash_delta": cash_delta, "fee": fee,
            "shares_delta": shares_delta, "hold_used": hold_used, "at": at,
        }  # fmt: skip
        rows = [(new_event_id_text(), _SETTLED, SCHEMA_VERSION, _dumps(settled), metadata)]
        if fee and net:
            self._net(currency, symbol, fee, at)
        if not d["remaining"]:
            rows += self._release(account, order_id, at, item, metadata)
        return rows

    def _release(
        self,
        account: Account,
        order_id: int,
        at: int,
        item: SettlementInput,
        metadata: bytes | None = None,
    ) -> list[EncodedEvent]:
        hold = account.holds.get(order_id)
        if hold is None:
            return []
        asset, amount = hold.asset, hold.amount
        account.released(asset, amount, order_id)
        self._journal += (account, asset, amount, order_id, hold.symbol, hold.side)
        account.version += 1
        released = {
            "user_id": account.user_id, "asset": asset, "amount": amount, "order_id": order_id,
            "reason": RELEASED_ORDER_CLOSED, "at": at,
        }  # fmt: skip
        if metadata is None:
            metadata = _dumps(metadata_of(item))
        return [(new_event_id_text(), _RELEASED, SCHEMA_VERSION, _dumps(released), metadata)]

    def _net(self, currency: str, symbol: str, fee: int, at: int) -> None:
        found = self._fees.get((currency, symbol))
        if found is None:
            self._fees[(currency, symbol)] = [fee, 1, at]
        else:
            found[0] += fee
            found[1] += 1
            if at > found[2]:
                found[2] = at

    def _fee_rows(self) -> tuple[EncodedEvent, ...]:
        """One ``FeesNetted`` per (currency, symbol) with fees, as ``Account.net_fees``."""
        metadata = _dumps(FEE_METADATA)
        rows = []
        for (currency, symbol), (amount, fills, at) in self._fees.items():
            data = {
                "user_id": FEE_ACCOUNT, "asset": currency, "amount": amount, "symbol": symbol,
                "fills": fills, "at": at,
            }  # fmt: skip
            rows.append((new_event_id_text(), _NETTED, SCHEMA_VERSION, _dumps(data), metadata))
        return tuple(rows)


# --- the reference ------------------------------------------------------------------------------


def book_reference(
    accounts: Callable[[int], Account],
    versions: Callable[[int], int],
    instruments: Mapping[str, Instrument],
    inputs: Sequence[SettlementInput],
    fence: StreamAppend,
) -> EncodedAppend:
    """The batch's append through the domain's objects and ``encode_append`` (the spec of
    :class:`Bookings`): ``accounts(user)`` is the cached account, ``versions(user)`` the stream
    version it reflects before the batch."""
    decided: dict[int, list[NewEvent]] = {}
    expected: dict[int, int] = {}
    settled: list[TradeSettled] = []
    for item in inputs:
        user_id = int(item.data["user_id"])
        account = accounts(user_id)
        expected.setdefault(user_id, versions(user_id))
        meta = metadata_of(item)
        booked = decided.setdefault(user_id, [])
        for produced in _settle_reference(account, item, instruments):
            booked.append(NewEvent(produced.event_type, produced.to_dict(), meta))
            if type(produced) is TradeSettled:
                settled.append(produced)
    appends = [
        StreamAppend(streams.account(user), events, expected[user])
        for user, events in decided.items()
        if events
    ]
    fees = [
        NewEvent(fee.event_type, fee.to_dict(), FEE_METADATA)
        for fee in Account(FEE_ACCOUNT).net_fees(settled)
    ]
    if fees:
        appends.append(StreamAppend(streams.account(FEE_ACCOUNT), fees, ANY))
    appends.append(fence)
    return encode_append(appends, None)


def _settle_reference(
    account: Account, item: SettlementInput, instruments: Mapping[str, Instrument]
) -> list[Event]:
    data = item.data
    try:
        if item.type == FILLED:
            fill: Any = event_from_dict(FILLED, data)
            instrument = instruments.get(fill.symbol)
            if instrument is None:
                raise SettlementError(f"a fill in the unlisted {fill.symbol}")
            return account.settle_fill(fill, instrument)
        return account.release_order(int(data["order_id"]), RELEASED_ORDER_CLOSED, int(data["at"]))
    except DomainError as exc:
        raise SettlementError(
            f"{item.type} at position {item.position} cannot be settled: {exc}"
        ) from exc
