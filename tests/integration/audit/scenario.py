"""One trading story, told to the store directly or over HTTP, for the audit tests.

A seller rests 10 ACME-like shares at 101.00; a buyer takes 4 of them (one trade); the seller
cancels the remaining 6; the buyer rests a bid of 2 at 100.00. Fees are 0.

* :class:`StoreDriver` appends what the command API would (``OrderPlaced`` and its
  ``FundsReserved`` in one append, ``CancelRequested``, ...) to a database of its own, and
  :class:`~tests.integration.audit.stand_in.StandInWorkers` append the workers' events.
* :class:`HttpDriver` drives the running test command API; the test stack's matching and
  settlement workers answer, or the stand-ins do where the workers are not deployed.

Each step waits until the workers' events of the step are in the store, so the store order is
the same in both tellings.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from domain import streams
from domain.account import Account, Balance
from domain.commands import Side
from domain.folds import fold_account, fold_order
from domain.instrument import Instrument
from domain.order_requests import CancelRequested, OrderPlaced
from domain.registry_events import InstrumentListed, UserRegistered
from domain.values import Money
from event_store import ANY, NO_STREAM, MariaDbEventStore, NewEvent, StreamAppend
from event_store.audit import AuditReader
from event_store.outbox import order_route
from tests.integration.audit.stand_in import StandInWorkers
from tests.integration.command_api.conftest import ADMIN, new_trader, unique

WAIT_S = 30.0


@dataclass(frozen=True)
class Scenario:
    """Who did what: ids to audit, and where the story is stored."""

    telling: str
    database_url: str
    reader: AuditReader
    symbol: str
    seller: int
    buyer: int
    sell: int
    buy: int
    rest: int


class Driver(Protocol):
    """What a trader and the admin do."""

    async def list_symbol(self) -> str: ...
    async def register(self) -> int: ...
    async def deposit(self, user_id: int, asset: str, amount: str | int) -> None: ...
    async def place(self, user_id: int, side: Side, price: str, quantity: int) -> int: ...
    async def cancel(self, user_id: int, order_id: int) -> None: ...


class HttpDriver:
    """Through the test stack's command API."""

    def __init__(self, api: httpx.AsyncClient) -> None:
        self.api = api
        self.headers: dict[int, dict[str, str]] = {}
        self.symbol = ""

    async def list_symbol(self) -> str:
        self.symbol = unique("A").upper()
        resp = await self.api.post("/v1/instruments", json={"symbol": self.symbol}, headers=ADMIN)
        assert resp.status_code == 201, resp.text
        return self.symbol

    async def register(self) -> int:
        trader = await new_trader(self.api, None)
        self.headers[trader.user_id] = trader.headers
        return trader.user_id

    async def deposit(self, user_id: int, asset: str, amount: str | int) -> None:
        body = {"asset": asset, "amount": amount}
        resp = await self.api.post("/v1/deposits", json=body, headers=self.headers[user_id])
        assert resp.status_code == 201, resp.text

    async def place(self, user_id: int, side: Side, price: str, quantity: int) -> int:
        body = {"symbol": self.symbol, "side": side, "type": "limit", "price": price,
                "quantity": quantity, "time_in_force": "GTC"}  # fmt: skip
        resp = await self.api.post("/v1/orders", json=body, headers=self.headers[user_id])
        assert resp.status_code == 201, resp.text
        order_id: int = resp.json()["order_id"]
        return order_id

    async def cancel(self, user_id: int, order_id: int) -> None:
        resp = await self.api.delete(f"/v1/orders/{order_id}", headers=self.headers[user_id])
        assert resp.status_code == 202, resp.text


class StoreDriver:
    """Appends the command API's events itself (the same classes, streams and metadata)."""

    def __init__(self, store: MariaDbEventStore) -> None:
        self.store = store
        self.instrument = Instrument.create(unique("S").upper())

    async def list_symbol(self) -> str:
        listed = InstrumentListed.of(self.instrument, time.time_ns())
        await self._append(streams.instrument(self.instrument.symbol), listed, "admin", NO_STREAM)
        return self.instrument.symbol

    async def register(self) -> int:
        user_id = _new_id()
        registered = UserRegistered(user_id, unique("u"), secrets.token_hex(32), time.time_ns())
        await self._append(streams.user(user_id), registered, "admin", NO_STREAM)
        return user_id

    async def deposit(self, user_id: int, asset: str, amount: str | int) -> None:
        units = Money.parse(amount, asset).minor if isinstance(amount, str) else amount
        account = await self._account(user_id)
        (deposited,) = account.deposit(asset, units, time.time_ns())
        await self._append(streams.account(user_id), deposited, str(user_id), ANY)

    async def place(self, user_id: int, side: Side, price: str, quantity: int) -> int:
        order_id, at, symbol = _new_id(), time.time_ns(), self.instrument.symbol
        ticks = self.instrument.parse_price(price).ticks
        placed = OrderPlaced(symbol, order_id, user_id, side, "limit", ticks, quantity, "GTC",
                             False, None, None, None, at)  # fmt: skip
        account = await self._account(user_id)
        reserved = account.reserve_order(self.instrument, order_id, side, "limit", quantity,
                                         ticks, at)  # fmt: skip
        meta = _request_meta(user_id)
        await self.store.append(
            StreamAppend(
                streams.order(order_id),
                [NewEvent(placed.event_type, placed.to_dict(), {**meta, **order_route(symbol)})],
                NO_STREAM,
            ),
            StreamAppend(
                streams.account(user_id),
                [NewEvent(e.event_type, e.to_dict(), meta) for e in reserved],
                ANY,
            ),
        )
        return order_id

    async def cancel(self, user_id: int, order_id: int) -> None:
        request = CancelRequested(self.instrument.symbol, order_id, user_id, time.time_ns())
        meta = {**_request_meta(user_id), **order_route(self.instrument.symbol)}
        new = NewEvent(request.event_type, request.to_dict(), meta)
        await self.store.append(StreamAppend(streams.order(order_id), [new], ANY))

    async def _append(self, stream: str, event: Any, actor: str, expected: int) -> None:
        new = NewEvent(event.event_type, event.to_dict(), _request_meta(actor))
        await self.store.append(StreamAppend(stream, [new], expected))

    async def _account(self, user_id: int) -> Account:
        account = Account(user_id)
        fold_account(account, await self.store.read_stream(streams.account(user_id)))
        return account


class Pacer:
    """Waits until the workers (real, or the stand-ins it runs) have answered a step."""

    def __init__(self, reader: AuditReader, stand_in: Callable[[str], StandInWorkers] | None):
        self.reader = reader
        self.make_stand_in = stand_in
        self.stand_in: StandInWorkers | None = None

    async def caught_up(self, symbol: str, check: Callable[[], Awaitable[bool]], what: str) -> None:
        """Run the stand-ins (if any), then wait for ``check`` to hold."""
        if self.make_stand_in is not None:
            self.stand_in = self.stand_in or self.make_stand_in(symbol)
            await self.stand_in.run()
        deadline = time.monotonic() + WAIT_S
        while not await check():
            assert time.monotonic() < deadline, f"the workers did not answer: {what}"
            await asyncio.sleep(0.1)


async def tell(driver: Driver, pacer: Pacer, reader: AuditReader) -> dict[str, Any]:
    """Play the story; the ids it made."""
    symbol = await driver.list_symbol()
    seller, buyer = await driver.register(), await driver.register()
    await driver.deposit(seller, "USD", "1000.00")
    await driver.deposit(seller, symbol, 10)
    await driver.deposit(buyer, "USD", "1000.00")

    async def status(order_id: int, wanted: str) -> bool:
        view = fold_order(await reader.read_streams([streams.order(order_id)]))
        return view is not None and view.status == wanted and view.version > 1

    async def balance(user_id: int, asset: str, total: int, held: int) -> bool:
        account = Account(user_id)
        fold_account(account, await reader.read_streams([streams.account(user_id)]))
        return account.balance(asset) == Balance(total, held)

    sell = await driver.place(seller, "sell", "101.00", 10)
    await pacer.caught_up(symbol, lambda: status(sell, "accepted"), "sell accepted")
    buy = await driver.place(buyer, "buy", "101.00", 4)

    async def traded() -> bool:
        return (
            await status(buy, "filled")
            and await status(sell, "partially_filled")
            and await balance(buyer, symbol, 4, 0)
            and await balance(seller, "USD", 140_400, 0)
        )

    await pacer.caught_up(symbol, traded, "trade settled")
    await driver.cancel(seller, sell)

    async def cancelled() -> bool:
        return await status(sell, "cancelled") and await balance(seller, symbol, 6, 0)

    await pacer.caught_up(symbol, cancelled, "sell cancelled and released")
    rest = await driver.place(buyer, "buy", "100.00", 2)
    await pacer.caught_up(symbol, lambda: status(rest, "accepted"), "bid accepted")
    return {"symbol": symbol, "seller": seller, "buyer": buyer, "sell": sell, "buy": buy,
            "rest": rest}  # fmt: skip


def _new_id() -> int:
    return secrets.randbelow(2**52) + 2**40


def _request_meta(actor: int | str) -> dict[str, Any]:
    return {"correlation_id": uuid.uuid4().hex, "actor": str(actor)}
