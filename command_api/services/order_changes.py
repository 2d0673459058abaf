"""Cancel and amend: requests the engine carries out, appended to the order's stream."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.services import base
from command_api.services.base import Context, Decision, commit, commit_with_account, run
from command_api.services.errors import NotFound
from domain import streams
from domain.account import Account
from domain.errors import InvalidOrder, InvalidQuantity, OrderNotOpen
from domain.folds import OrderView
from domain.instrument import Instrument
from domain.order_requests import AmendRequested, CancelRequested
from event_store.model import StreamAppend
from event_store.planning import EncodedStream, new_stream


async def _open_order(ctx: Context, user_id: int, order_id: int) -> OrderView:
    """The caller's order, if still open: ``NotFound`` (someone else's too), ``OrderNotOpen``."""
    view = await ctx.repo.order(order_id)
    if view is None or view.user_id != user_id:
        raise NotFound(f"No order {order_id} of yours exists.")
    if view.closed:
        raise OrderNotOpen(f"order {order_id} is no longer open")
    return view


async def cancel_order(
    ctx: Context, user_id: int, order_id: int, claim: IdempotencyClaim | None
) -> Written:
    """Ask the engine to cancel an open order; a repeated cancel changes nothing and gives the
    first request's result. Of an order this process placed, the first attempt reads only what
    follows the placement (``Repository.untouched_orders``)."""
    first_attempt = True

    async def attempt() -> Written:
        nonlocal first_attempt
        hinted = await ctx.repo.untouched_orders(user_id, (order_id,)) if first_attempt else {}
        first_attempt = False
        body: dict[str, object] = {"order_id": order_id, "status": "cancel_requested"}
        if hinted:
            symbol, version = hinted[order_id]
            stream = _cancel(order_id, symbol, version, user_id, ctx.clock())
        else:
            view = await _open_order(ctx, user_id, order_id)
            if view.cancel_position is not None:
                first = await _first_cancel_id(ctx, order_id)
                body |= {"position": view.cancel_position, "event_id": first}
                return Written(Outcome.ACCEPTED, body)
            ctx.repo.note_order_version(view)
            stream = _cancel(order_id, view.symbol, view.version, user_id, ctx.clock())
        body["event_id"] = stream.events[0][0]  # (what the engine's answer cites)
        written = await commit(ctx, Decision(Outcome.ACCEPTED, body, encoded=[stream]), claim)
        ctx.repo.placed.forget(order_id)
        return written

    return await run(ctx, claim, attempt, keys=(streams.order(order_id),))


async def cancel_orders(
    ctx: Context, user_id: int, order_ids: Sequence[int], claim: IdempotencyClaim | None
) -> Written:
    """Ask the engine to cancel several of the caller's orders in one append (a trader pulling
    its stale quotes). Each id gets its own answer: ``cancel_requested`` (appended now, or
    requested before), ``not_open`` or ``not_found`` (someone else's too). Only when none is
    open does it refuse (``OrderNotOpen``), appending nothing.

    Of the orders this process placed, only what follows the placement is read (enough for
    those untouched since the engine accepted them: ``Repository.untouched_orders``); the
    others' streams are read whole, in one statement (the repository coalesces tail reads).
    Each request is appended at the version read, so an order that changed meanwhile conflicts
    and the whole request is decided again, reading every stream whole.
    """
    ids = list(dict.fromkeys(order_ids))  # (a repeated id is one request)
    first_attempt = True

    async def attempt() -> Written:
        nonlocal first_attempt
        hinted = await ctx.repo.untouched_orders(user_id, ids) if first_attempt else {}
        first_attempt = False
        read = [i for i in ids if i not in hinted]
        views = dict(zip(read, await ctx.repo.orders(read), strict=True))
        at = ctx.clock()
        answers: list[dict[str, object]] = []
        appends: list[EncodedStream] = []
        earlier = 0  # (the latest position of a cancel requested before)
        for order_id in ids:
            status = "cancel_requested"
            known = hinted.get(order_id)
            view = None if known is not None else views[order_id]
            if known is not None:
                appends.append(_cancel(order_id, known[0], known[1], user_id, at))
            elif view is None or view.user_id != user_id:
                status = "not_found"
            elif view.closed:
                status = "not_open"
            elif view.cancel_position is not None:
                earlier = max(earlier, view.cancel_position)
            else:
                ctx.repo.note_order_version(view)
                appends.append(_cancel(order_id, view.symbol, view.version, user_id, at))
            answers.append({"order_id": order_id, "status": status})
        body: dict[str, object] = {"orders": answers}
        if appends:
            written = await commit(ctx, Decision(Outcome.ACCEPTED, body, encoded=appends), claim)
            for order_id in hinted:
                ctx.repo.placed.forget(order_id)
            return written
        if earlier:
            return Written(Outcome.ACCEPTED, body | {"position": earlier})
        raise OrderNotOpen("none of the orders is open")

    return await run(ctx, claim, attempt, keys=[streams.order(i) for i in ids])


def _cancel(order_id: int, symbol: str, version: int, user_id: int, at: int) -> EncodedStream:
    """The ``CancelRequested`` of an open order, appended at the version it is known at: its
    data (``CancelRequested.to_dict()``) and the engine's metadata encoded here, as
    ``new_stream`` does for placements."""
    data = orjson.dumps({"symbol": symbol, "order_id": order_id, "user_id": user_id, "at": at})
    engine = orjson.dumps(base.metadata(user_id, symbol))
    return new_stream(streams.order(order_id), version, _CANCEL_REQUESTED, data, engine)


_CANCEL_REQUESTED = CancelRequested.__name__


async def amend_order(
    ctx: Context,
    user_id: int,
    order_id: int,
    quantity: int | None,
    price: str | None,
    claim: IdempotencyClaim | None,
) -> Written:
    """Ask the engine to change an open limit order's total quantity and/or price.

    The new total must stay above what has filled. If the change may spend more than the
    order's confirmed terms (a higher buy price, a larger quantity), the difference is reserved
    now, in the same append. It is computed from the order's stream, not from the account's
    hold: the cached hold may not yet show settled fills, and settlement keeps every hold at or
    above what its order's confirmed terms need, so holds only grow while an order is open
    (what an amend no longer needs is released when the order ends).
    """
    if quantity is None and price is None:
        raise InvalidOrder("an amend changes the quantity, the price, or both")

    async def attempt() -> Written:
        view = await _open_order(ctx, user_id, order_id)
        if view.order_type != "limit" or view.price is None:
            raise InvalidOrder("only resting limit orders can be amended")
        instrument = await ctx.repo.instrument(view.symbol)
        assert instrument is not None, "an order's instrument is always listed"
        new_price = view.price if price is None else instrument.parse_price(price).ticks
        new_quantity = (
            view.quantity if quantity is None else instrument.parse_quantity(quantity).shares
        )
        if new_quantity <= view.filled:
            raise InvalidQuantity(f"order {order_id} has already filled {view.filled}")
        at = ctx.clock()
        event = AmendRequested(
            view.symbol,
            order_id,
            user_id,
            None if quantity is None else new_quantity,
            None if price is None else new_price,
            at,
        )
        extra = _need(instrument, view.side, new_price, new_quantity - view.filled) - _need(
            instrument, view.side, view.price, view.remaining
        )

        def decide(account: Account) -> Decision:
            amend = base.event(event.event_type, event.to_dict(), user_id, view.symbol)
            request = StreamAppend(streams.order(order_id), [amend], view.version)
            body = {
                "order_id": order_id,
                "status": "amend_requested",
                "event_id": str(amend.event_id),  # (what the engine's answer cites)
            }
            decision = Decision(Outcome.ACCEPTED, body, [request])
            if extra > 0:
                events = account.adjust_hold(order_id, account.reserved_for(order_id) + extra, at)
                decision.account_events += base.account_events(events)
            return decision

        return await commit_with_account(ctx, user_id, decide, claim)

    return await run(ctx, claim, attempt, keys=(streams.order(order_id),))


async def _first_cancel_id(ctx: Context, order_id: int) -> str | None:
    """The event id of the order's first cancel request (a repeated cancel answers it)."""
    for recorded in await ctx.store.read_stream(streams.order(order_id)):
        if recorded.type == CancelRequested.__name__:
            return str(recorded.event_id)
    return None


def _need(instrument: Instrument, side: str, price: int, remaining: int) -> int:
    """What an open order of these terms may still spend (cash for a buy, shares for a sell)."""
    return instrument.buy_hold(price, remaining) if side == "buy" else remaining
