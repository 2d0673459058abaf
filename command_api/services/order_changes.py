"""Cancel and amend: requests the engine carries out, appended to the order's stream."""

from __future__ import annotations

from command_api.idempotency import IdempotencyClaim, Outcome, Written
from command_api.services import base
from command_api.services.base import Context, Decision, commit, commit_with_account, run
from command_api.services.errors import NotFound
from domain import streams
from domain.account import Account
from domain.errors import InvalidOrder, InvalidQuantity, OrderNotOpen
from domain.folds import OrderView
from domain.order_requests import AmendRequested, CancelRequested
from event_store.model import StreamAppend


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
    first request's result."""

    async def attempt() -> Written:
        view = await _open_order(ctx, user_id, order_id)
        body = {"order_id": order_id, "status": "cancel_requested"}
        if view.cancel_position is not None:
            return Written(Outcome.ACCEPTED, {**body, "position": view.cancel_position})
        event = CancelRequested(view.symbol, order_id, user_id, ctx.clock())
        stream = StreamAppend(
            streams.order(order_id),
            [base.event(event.event_type, event.to_dict(), user_id, view.symbol)],
            view.version,
        )
        return await commit(ctx, Decision(Outcome.ACCEPTED, body, [stream]), claim)

    return await run(ctx, claim, attempt)


async def amend_order(
    ctx: Context,
    user_id: int,
    order_id: int,
    quantity: int | None,
    price: str | None,
    claim: IdempotencyClaim | None,
) -> Written:
    """Ask the engine to change an open limit order's total quantity and/or price.

    The new total must stay above what has filled. If the change needs a larger hold (a higher
    buy price, a larger quantity), the difference is reserved now, in the same append; a
    smaller hold is released by settlement once the engine confirms the amend.
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
        remaining = new_quantity - view.filled
        needed = instrument.buy_hold(new_price, remaining) if view.side == "buy" else remaining

        def decide(account: Account) -> Decision:
            request = StreamAppend(
                streams.order(order_id),
                [base.event(event.event_type, event.to_dict(), user_id, view.symbol)],
                view.version,
            )
            body = {"order_id": order_id, "status": "amend_requested"}
            decision = Decision(Outcome.ACCEPTED, body, [request])
            if needed > account.reserved_for(order_id):
                events = account.adjust_hold(order_id, needed, at)
                decision.account_events += base.account_events(events, user_id)
            return decision

        return await commit_with_account(ctx, user_id, decide, claim)

    return await run(ctx, claim, attempt)
