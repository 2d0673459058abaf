"""No user ever trades with itself: the opposite-side rule and the self-trade-prevention modes."""

from __future__ import annotations

from domain import ErrorCode, OrderCancelled, OrderReduced, OrderRejected

from .builders import SYMBOL, book_levels, cancel, engine, kinds, limit, market, queue, trades


class TestOppositeSideRule:
    def test_order_opposite_to_the_users_open_order_is_rejected(self) -> None:
        eng = engine()
        eng.process(limit(1, 7, "sell", 105, 5))

        events = eng.process(limit(2, 7, "buy", 100, 5))

        assert events == [OrderRejected(SYMBOL, 2, 7, ErrorCode.OPPOSITE_SIDE_ORDER_OPEN, 0)]
        assert book_levels(eng) == ([], [(105, 5)])

    def test_market_order_opposite_to_the_users_open_order_is_rejected(self) -> None:
        eng = engine()
        eng.process(limit(1, 7, "sell", 105, 5))

        events = eng.process(market(2, 7, "buy", 5))

        assert events == [OrderRejected(SYMBOL, 2, 7, ErrorCode.OPPOSITE_SIDE_ORDER_OPEN, 0)]

    def test_more_orders_on_the_same_side_are_allowed(self) -> None:
        eng = engine()
        eng.process(limit(1, 7, "sell", 105, 5))

        events = eng.process(limit(2, 7, "sell", 106, 5))

        assert kinds(events) == ["OrderAccepted"]

    def test_opposite_order_is_allowed_once_the_open_order_is_gone(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 7, "sell", 105, 5), cancel(1, 7)])

        events = eng.process(limit(2, 7, "buy", 100, 5))

        assert kinds(events) == ["OrderAccepted"]


class TestSelfTradePrevention:
    def test_cancel_newest_cancels_the_incoming_order_and_keeps_the_resting_one(self) -> None:
        eng = engine("cancel_newest")
        eng.process_many([limit(1, 7, "sell", 100, 5), limit(2, 8, "sell", 101, 5)])

        events = eng.process(limit(3, 7, "buy", 101, 5))

        assert events[1:] == [OrderCancelled(SYMBOL, 3, 7, 5, "SELF_TRADE", 0)]
        assert queue(eng, "sell") == [(1, 5), (2, 5)]

    def test_cancel_oldest_cancels_the_resting_order_and_keeps_matching(self) -> None:
        eng = engine("cancel_oldest")
        eng.process_many([limit(1, 7, "sell", 100, 5), limit(2, 8, "sell", 101, 5)])

        events = eng.process(limit(3, 7, "buy", 101, 5))

        assert events[1] == OrderCancelled(SYMBOL, 1, 7, 5, "SELF_TRADE", 0)
        assert trades(events) == [(101, 5, 3, 2)]
        assert book_levels(eng) == ([], [])

    def test_cancel_both_cancels_the_resting_and_the_incoming_order(self) -> None:
        eng = engine("cancel_both")
        eng.process_many([limit(1, 7, "sell", 100, 5), limit(2, 8, "sell", 101, 5)])

        events = eng.process(limit(3, 7, "buy", 101, 5))

        assert events[1:] == [
            OrderCancelled(SYMBOL, 1, 7, 5, "SELF_TRADE", 0),
            OrderCancelled(SYMBOL, 3, 7, 5, "SELF_TRADE", 0),
        ]
        assert queue(eng, "sell") == [(2, 5)]

    def test_decrement_reduces_both_by_the_smaller_and_cancels_the_smaller(self) -> None:
        eng = engine("decrement")
        eng.process(limit(1, 7, "sell", 100, 3))

        events = eng.process(limit(2, 7, "buy", 100, 5))

        assert events[1:] == [
            OrderCancelled(SYMBOL, 1, 7, 3, "SELF_TRADE", 0),
            OrderReduced(SYMBOL, 2, 7, 3, 2, "SELF_TRADE", 0),
        ]
        assert book_levels(eng) == ([(100, 2)], [])

    def test_decrement_leaves_the_larger_resting_order_open_and_reduced(self) -> None:
        eng = engine("decrement")
        eng.process(limit(1, 7, "sell", 100, 8))

        events = eng.process(limit(2, 7, "buy", 100, 5))

        assert events[1:] == [
            OrderReduced(SYMBOL, 1, 7, 5, 3, "SELF_TRADE", 0),
            OrderCancelled(SYMBOL, 2, 7, 5, "SELF_TRADE", 0),
        ]
        assert queue(eng, "sell") == [(1, 3)]

    def test_fok_that_would_meet_its_own_order_is_not_fillable(self) -> None:
        eng = engine("cancel_newest")
        eng.process_many([limit(1, 7, "sell", 100, 5), limit(2, 8, "sell", 101, 5)])

        events = eng.process(limit(3, 7, "buy", 101, 6, "FOK"))

        assert kinds(events) == ["OrderAccepted", "OrderExpired"]
        assert queue(eng, "sell") == [(1, 5), (2, 5)]

    def test_other_users_still_trade_normally_under_prevention(self) -> None:
        eng = engine("cancel_both")
        eng.process(limit(1, 7, "sell", 100, 5))

        events = eng.process(limit(2, 8, "buy", 100, 5))

        assert trades(events) == [(100, 5, 2, 1)]
