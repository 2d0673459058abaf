"""Read-only "would it fill completely?" walks for FOK orders and all-or-nothing batches.

Both decide *before* the first fill, so a refusal never has to unwind trades. The walk mirrors
:func:`domain.matching.matcher.match` exactly: same price-time order, same self-trade outcome
(an own order is skipped under ``cancel_oldest`` and ends the order under every other mode), same
cash bound for market buys.
"""

from __future__ import annotations

from domain.matching.book import BookSide, OrderBook

#: Shares of resting orders already promised to earlier legs of the same batch.
Claims = dict[int, int]  # keyed by id() of the order list, which stays alive meanwhile


def can_fill(
    book: OrderBook,
    opposite: BookSide,
    user_id: int,
    threshold: int,
    quantity: int,
    max_notional: int | None,
    check_self: bool,
    claims: Claims | None = None,
) -> bool:
    """Whether an order would fill all of ``quantity`` right now; never mutates the book.

    With ``claims`` the walk also skips shares claimed by earlier legs and records its own.
    """
    if claims is None and not check_self and max_notional is None:
        return _enough_depth(opposite, threshold, quantity)
    mode = book.instrument.self_trade
    lot = book.instrument.lot_size
    need = quantity
    taken: Claims = {}
    for level in opposite.best_first():
        if opposite.key(level.price) < threshold:
            return False
        price = level.price
        for maker in level.entries():
            ref = id(maker)
            left = maker.remaining - (claims.get(ref, 0) if claims else 0) - taken.get(ref, 0)
            if left <= 0:
                continue
            if check_self and maker.user_id == user_id:
                if mode != "cancel_oldest":
                    return False
                taken[ref] = left
                continue
            take = min(left, need)
            if max_notional is not None:
                afford = max_notional // price
                if afford - afford % lot < take:
                    return False
                max_notional -= take * price
            taken[ref] = taken.get(ref, 0) + take
            need -= take
            if not need:
                if claims is not None:
                    for maker_taken, shares in taken.items():
                        claims[maker_taken] = claims.get(maker_taken, 0) + shares
                return True
    return False


def _enough_depth(opposite: BookSide, threshold: int, quantity: int) -> bool:
    """Fast path: sum whole levels (no self-trade or cash bound can interfere)."""
    levels = opposite.levels
    need = quantity
    for key in reversed(opposite.keys):
        if key < threshold:
            return False
        need -= levels[key].qty
        if need <= 0:
            return True
    return False
