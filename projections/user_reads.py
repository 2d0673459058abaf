"""A user's reads: orders (state, filters, lifecycle), account balances and ledger.

Every helper takes the caller's ``user_id`` and answers only with that user's data: an order
of someone else reads as absent (the API answers ``404``, as for an unknown id).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from domain.instrument import Instrument
from projections import render
from projections.keys import ACCOUNTS, ANY, ORDERS, Space
from projections.reads import ReadModels
from projections.records import decode_ledger, decode_lifecycle, decode_order, lifecycle_entry


async def order_state(models: ReadModels, user_id: int, order_id: int) -> dict[str, Any] | None:
    """The stored state of one of the user's orders (integers), or ``None``."""
    space = await models.space(ORDERS)
    raw = await models.redis.get(space.order(order_id))
    if raw is None:
        return None
    state = decode_order(raw)
    return state if state["user_id"] == user_id else None


async def order(models: ReadModels, user_id: int, order_id: int) -> dict[str, Any] | None:
    """One of the user's orders as API.md shows it, or ``None``."""
    state = await order_state(models, user_id, order_id)
    if state is None:
        return None
    return await _order_view(models, state)


async def _order_view(models: ReadModels, state: dict[str, Any]) -> dict[str, Any]:
    instrument = await models.instrument(state["symbol"])
    assert instrument is not None, f"order of an unlisted symbol {state['symbol']}"
    return order_view(instrument, state)


def order_view(instrument: Instrument, state: dict[str, Any]) -> dict[str, Any]:
    """An order's stored state rendered for the wire."""
    return {
        "order_id": state["order_id"],
        "client_order_id": state["client_order_id"],
        "symbol": state["symbol"],
        "side": state["side"],
        "type": state["type"],
        "time_in_force": state["time_in_force"],
        "price": render.price(instrument, state["price"]),
        "quantity": state["quantity"],
        "filled_quantity": state["filled"],
        "remaining_quantity": state["remaining"],
        "avg_fill_price": render.average_price(instrument, state["notional"], state["filled"]),
        "status": state["status"],
        "reason": state["reason"],
        "created_at": render.iso(state["created_at"]),
        "updated_at": render.iso(state["updated_at"]),
        "position": state["position"],
        "caused_by": state.get("caused_by"),  # (documents written before it have none)
    }


async def orders(
    models: ReadModels,
    user_id: int,
    status: str | None,
    symbol: str | None,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """The user's orders, newest first, optionally of one status and/or symbol.

    ``before`` is an order id: the page continues below it (ids are time-ordered).
    """
    space = await models.space(ORDERS)
    if status is not None and symbol is not None:
        states = await _orders_of_both(models, space, user_id, status, symbol, limit, before)
        return [await _order_view(models, state) for state in states]
    index = space.user_orders(user_id, status or ANY, symbol or ANY)
    ids = await models.page(index, before, limit)
    if not ids:
        return []
    docs = await models.redis.mget([space.order(int(i)) for i in ids])
    return [await _order_view(models, decode_order(doc)) for doc in docs if doc is not None]


SCAN_PAGE: Final = 200
"""Order ids read per round trip while filtering an index by the other criterion."""


async def _orders_of_both(
    models: ReadModels,
    space: Space,
    user_id: int,
    status: str,
    symbol: str,
    limit: int,
    before: int | None,
) -> list[dict[str, Any]]:
    """The user's orders of ``status`` and ``symbol``, newest first: the smaller of the status's
    and the symbol's index, paged and filtered by the documents (no index holds both)."""
    by_status, by_symbol = (
        space.user_orders(user_id, status),
        space.user_orders(user_id, ANY, symbol),
    )
    pipe = models.redis.pipeline(transaction=False)
    pipe.zcard(by_status)
    pipe.zcard(by_symbol)
    sizes = await pipe.execute()
    index = by_status if sizes[0] <= sizes[1] else by_symbol
    found: list[dict[str, Any]] = []
    page = max(limit, SCAN_PAGE)
    while len(found) < limit:
        ids = await models.page(index, before, page)
        if not ids:
            break
        docs = await models.redis.mget([space.order(int(i)) for i in ids])
        for doc in docs:
            if doc is not None:
                state = decode_order(doc)
                if state["status"] == status and state["symbol"] == symbol:
                    found.append(state)
        if len(ids) < page:
            break
        before = int(ids[-1])
    return found[:limit]


async def order_events(
    models: ReadModels, instrument: Instrument, state: dict[str, Any], offset: int, limit: int
) -> list[dict[str, Any]]:
    """The lifecycle of the order ``state`` (:func:`order_state`), oldest first:
    ``[{"position","type","at","data","causation_id"}]``."""
    embedded = state["lifecycle"]
    if embedded is not None:
        entries = [lifecycle_entry(item, state) for item in embedded[offset : offset + limit]]
    else:  # (a document stored before its entries moved into it: they are in a list)
        space = await models.space(ORDERS)
        key = space.order_events(state["order_id"])
        raw = await models.redis.lrange(key, offset, offset + limit - 1)
        entries = [decode_lifecycle(item, state) for item in raw]
    shown = []
    for entry in entries:
        data = entry["data"]
        shown.append(
            {
                "position": entry["position"],
                "type": entry["type"],
                "at": render.iso(data.get("at")),
                "data": render.event_data(instrument, data),
                "causation_id": entry.get("causation_id"),  # (older entries lack it)
            }
        )
    return shown


ACCOUNT_LUA: Final = """
local position = -1
for i = 2, #KEYS do
  local reached = tonumber(redis.call('GET', KEYS[i]) or '0')
  if position < 0 or reached < position then position = reached end
end
return {redis.call('GET', KEYS[1]) or '', string.format('%d', math.max(position, 0))}
"""
"""An account document and the projection's position, read at one instant."""


async def account(models: ReadModels, user_id: int) -> dict[str, Any]:
    """The user's balances as :func:`account_view` shows them."""
    space = await models.space(ACCOUNTS)
    keys = [space.account(user_id), *models.position_keys]
    doc, position = await models.run(ACCOUNT_LUA, keys, [])
    return account_view(user_id, doc, int(position))


def account_view(user_id: int, doc: bytes, position: int) -> dict[str, Any]:
    """``{"user_id","balances":{asset:{"total","available","held"}},"position",
    "account_position"}`` from the stored document (``b""``: no account yet)."""
    state: dict[str, Any] = {"balances": {}, "position": 0}
    if doc:
        state = orjson.loads(doc)
    balances = {}
    for asset, (total, held) in sorted(state["balances"].items()):
        balances[asset] = {
            "total": render.amount(asset, total),
            "available": render.amount(asset, total - held),
            "held": render.amount(asset, held),
        }
    return {
        "user_id": user_id,
        "balances": balances,
        "position": position,
        "account_position": state["position"],
    }


async def ledger(
    models: ReadModels, user_id: int, limit: int, before: int | None, asset: str | None
) -> list[dict[str, Any]]:
    """Newest first; ``before`` = a position to page below, ``asset`` filters."""
    space = await models.space(ACCOUNTS)
    shown: list[dict[str, Any]] = []
    while len(shown) < limit:
        raw = await models.page(space.ledger(user_id), before, limit)
        for member in raw:
            entry = decode_ledger(member)
            if asset is None or entry["asset"] == asset:
                shown.append(_ledger_entry(entry))
        if len(raw) < limit or asset is None:
            break
        before = decode_ledger(raw[-1])["position"]
    return shown[:limit]


def _ledger_entry(entry: dict[str, Any]) -> dict[str, Any]:
    asset = entry["asset"]
    return {
        "position": entry["position"],
        "asset": asset,
        "delta": render.amount(asset, entry["delta"]),
        "balance_after": render.amount(asset, entry["balance_after"]),
        "kind": entry["kind"],
        "ref": entry["ref"],
        "at": render.iso(entry["at"]),
    }
