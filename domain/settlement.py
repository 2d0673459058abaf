"""The money of a trade: what each side of a fill pays, receives and consumes of its order's
hold, and what the fee account is credited. Pure values; ``Account`` records them as events
(``settle_fill``, ``collect_fee``, ``net_fees``) and the settlement worker's row builder uses
``settlement_terms`` too."""

from __future__ import annotations

from collections.abc import Iterable

from domain.account_events import FeesCollected, FeesNetted, TradeSettled
from domain.errors import InsufficientFunds, InsufficientHoldings
from domain.instrument import Instrument
from domain.order_events import OrderFilled


def settlement_terms(
    instrument: Instrument, side: str, price: int, quantity: int, maker: bool
) -> tuple[int, int, int, int]:
    """One side of a fill in money: ``(cash_delta, fee, shares_delta, hold_used)``.

    Buyer: pays notional + fee out of its cash hold, gets the shares. Seller: delivers the
    shares out of its share hold, gets notional - fee. (``TradeSettled``'s fields; the settlement
    worker's row builder uses it too.)
    """
    notional = instrument.notional(price, quantity)
    fee = instrument.maker_fee(notional) if maker else instrument.taker_fee(notional)
    if side == "buy":
        return -(notional + fee), fee, quantity, notional + fee
    return notional - fee, fee, -quantity, quantity


def trade_settled(
    user_id: int, fill: OrderFilled, instrument: Instrument, held: int | None
) -> TradeSettled:
    """``user_id``'s side of ``fill`` booked; ``held`` is what the order still holds (``None``:
    no hold). ``INSUFFICIENT_FUNDS/HOLDINGS`` if the hold cannot cover it."""
    order_id, side = fill.order_id, fill.side
    cash_delta, fee, shares_delta, hold_used = settlement_terms(
        instrument, side, fill.price, fill.quantity, fill.liquidity == "maker"
    )
    if held is None or held < hold_used:
        error = InsufficientFunds if side == "buy" else InsufficientHoldings
        raise error(f"order {order_id} holds too little to settle this trade")
    return TradeSettled(
        user_id,
        fill.symbol,
        fill.trade_id,
        order_id,
        side,
        fill.price,
        fill.quantity,
        fill.liquidity,
        instrument.currency,
        cash_delta,
        fee,
        shares_delta,
        hold_used,
        fill.at,
    )


def fee_collected(fee_account: int, settled: TradeSettled) -> FeesCollected | None:
    """The fee of a settled trade side credited to ``fee_account`` (``None``: no fee)."""
    if not settled.fee:
        return None
    return FeesCollected(
        fee_account,
        settled.currency,
        settled.fee,
        settled.symbol,
        settled.trade_id,
        settled.order_id,
        settled.at,
    )


def fees_netted(fee_account: int, settled: Iterable[TradeSettled]) -> list[FeesNetted]:
    """The fees of many settled trade sides credited to ``fee_account``: one ``FeesNetted`` per
    (currency, symbol) that has any, in first-seen order."""
    netted: dict[tuple[str, str], list[int]] = {}
    for side in settled:
        if side.fee:
            found = netted.get((side.currency, side.symbol))
            if found is None:
                netted[(side.currency, side.symbol)] = [side.fee, 1, side.at]
            else:
                found[0] += side.fee
                found[1] += 1
                found[2] = max(found[2], side.at)
    return [
        FeesNetted(fee_account, currency, amount, symbol, fills, at)
        for (currency, symbol), (amount, fills, at) in netted.items()
    ]
