"""The matching rulebook: price-time priority, order types, time in force, cancel and amend."""

from __future__ import annotations

from domain import (
    CancelRejected,
    ErrorCode,
    ExpireOrders,
    OrderAccepted,
    OrderCancelled,
    OrderExpired,
    OrderRejected,
    TradeExecuted,
)

from .builders import SYMBOL, book_levels, cancel, engine, kinds, limit, market, queue, trades


class TestPriceTimePriority:
    def test_limit_order_that_does_not_cross_rests_on_the_book(self) -> None:
        eng = engine()

        events = eng.process(limit(1, 10, "buy", 9_900, 5))

        assert events == [OrderAccepted(SYMBOL, 1, 10, "buy", "limit", 9_900, 5, "GTC", False, 0)]
        assert book_levels(eng) == ([(9_900, 5)], [])

    def test_crossing_buy_trades_at_the_resting_sellers_price(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 10_000, 5, at=1))

        events = eng.process(limit(2, 10, "buy", 10_050, 5, at=2))

        assert events[1] == TradeExecuted(SYMBOL, 1, 10_000, 5, "buy", 2, 10, 0, 1, 11, 0, 2)
        assert book_levels(eng) == ([], [])

    def test_orders_at_the_same_price_fill_in_arrival_order(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 3), limit(2, 13, "sell", 100, 3)])

        events = eng.process(limit(3, 10, "buy", 100, 4))

        assert trades(events) == [(100, 3, 3, 1), (100, 1, 3, 2)]
        assert queue(eng, "sell") == [(2, 2)]

    def test_better_priced_resting_order_fills_first_even_if_younger(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 101, 5), limit(2, 13, "sell", 100, 5)])

        events = eng.process(market(3, 10, "buy", 5))

        assert trades(events) == [(100, 5, 3, 2)]

    def test_large_buy_fills_across_several_levels_and_rests_the_remainder(self) -> None:
        eng = engine()
        eng.process_many(
            [
                limit(1, 11, "sell", 100, 2),
                limit(2, 13, "sell", 101, 3),
                limit(3, 15, "sell", 103, 4),
            ]
        )

        events = eng.process(limit(4, 10, "buy", 102, 10))

        assert trades(events) == [(100, 2, 4, 1), (101, 3, 4, 2)]
        assert book_levels(eng) == ([(102, 5)], [(103, 4)])

    def test_partially_filled_resting_order_keeps_its_place_at_the_front(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 100, 5)])

        eng.process(limit(3, 10, "buy", 100, 2))

        assert queue(eng, "sell") == [(1, 3), (2, 5)]

    def test_trade_reports_what_each_order_has_left_open(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 5))

        (trade,) = [
            e for e in eng.process(limit(2, 10, "buy", 100, 3)) if isinstance(e, TradeExecuted)
        ]

        assert (trade.taker_remaining, trade.maker_remaining) == (0, 2)

    def test_trade_ids_count_up_per_symbol(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 1), limit(2, 13, "sell", 100, 1)])

        events = eng.process(limit(3, 10, "buy", 100, 2))

        assert [e.trade_id for e in events if isinstance(e, TradeExecuted)] == [1, 2]


class TestMarketOrders:
    def test_market_order_sweeps_the_book_and_its_remainder_expires(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 2), limit(2, 13, "sell", 105, 2)])

        events = eng.process(market(3, 10, "buy", 7))

        assert trades(events) == [(100, 2, 3, 1), (105, 2, 3, 2)]
        assert events[-1] == OrderExpired(SYMBOL, 3, 10, 3, "IOC_REMAINDER", 0)
        assert book_levels(eng) == ([], [])

    def test_market_order_on_an_empty_book_expires_whole(self) -> None:
        eng = engine()

        events = eng.process(market(1, 10, "sell", 5))

        assert kinds(events) == ["OrderAccepted", "OrderExpired"]
        assert book_levels(eng) == ([], [])

    def test_market_buy_stops_at_the_cash_it_reserved(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 200, 5)])

        events = eng.process(market(3, 10, "buy", 10, max_notional=100 * 5 + 200 * 2 + 150))

        assert trades(events) == [(100, 5, 3, 1), (200, 2, 3, 2)]
        assert events[-1] == OrderExpired(SYMBOL, 3, 10, 3, "CASH_LIMIT_REACHED", 0)

    def test_market_fok_buy_that_its_cash_cannot_cover_expires_whole(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 13, "sell", 200, 5)])

        events = eng.process(market(3, 10, "buy", 10, "FOK", max_notional=100 * 5 + 200 * 5 - 1))

        assert events[-1] == OrderExpired(SYMBOL, 3, 10, 10, "FOK_NOT_FILLABLE", 0)
        assert trades(events) == []

    def test_market_order_that_asks_to_rest_is_rejected(self) -> None:
        eng = engine()

        events = eng.process(market(1, 10, "buy", 5, tif="GTC"))

        assert events == [OrderRejected(SYMBOL, 1, 10, ErrorCode.INVALID_TIME_IN_FORCE, 0)]


class TestTimeInForce:
    def test_ioc_remainder_expires_instead_of_resting(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 2))

        events = eng.process(limit(2, 10, "buy", 100, 5, "IOC"))

        assert trades(events) == [(100, 2, 2, 1)]
        assert events[-1] == OrderExpired(SYMBOL, 2, 10, 3, "IOC_REMAINDER", 0)
        assert book_levels(eng) == ([], [])

    def test_fok_that_cannot_fill_completely_expires_without_trading(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 2), limit(2, 13, "sell", 101, 2)])
        before = eng.state_hash()

        events = eng.process(limit(3, 10, "buy", 101, 5, "FOK"))

        assert kinds(events) == ["OrderAccepted", "OrderExpired"]
        assert events[-1] == OrderExpired(SYMBOL, 3, 10, 5, "FOK_NOT_FILLABLE", 0)
        assert eng.state_hash() != before  # only the command counter moved
        assert book_levels(eng) == ([], [(100, 2), (101, 2)])

    def test_fok_that_can_fill_completely_trades_in_full(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 2), limit(2, 13, "sell", 101, 3)])

        events = eng.process(limit(3, 10, "buy", 101, 5, "FOK"))

        assert trades(events) == [(100, 2, 3, 1), (101, 3, 3, 2)]

    def test_fok_ignores_liquidity_beyond_its_limit(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 2), limit(2, 13, "sell", 102, 3)])

        events = eng.process(limit(3, 10, "buy", 101, 5, "FOK"))

        assert trades(events) == []

    def test_day_order_expires_at_the_first_command_after_session_close(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 2, "DAY", at=10, expires_at=1_000))

        events = eng.process(limit(2, 13, "sell", 101, 1, at=1_000))

        assert events[0] == OrderExpired(SYMBOL, 1, 11, 2, "DAY_END", 1_000)
        assert book_levels(eng) == ([], [(101, 1)])

    def test_expire_orders_command_expires_due_day_orders_only(self) -> None:
        eng = engine()
        eng.process_many(
            [
                limit(1, 11, "sell", 100, 2, "DAY", expires_at=500),
                limit(2, 13, "sell", 101, 2, "DAY", expires_at=900),
                limit(3, 15, "sell", 102, 2),
            ]
        )

        events = eng.process(ExpireOrders(600))

        assert events == [OrderExpired(SYMBOL, 1, 11, 2, "DAY_END", 600)]

    def test_day_order_arriving_after_its_close_is_rejected(self) -> None:
        eng = engine()

        events = eng.process(limit(1, 11, "sell", 100, 2, "DAY", at=500, expires_at=500))

        assert events == [OrderRejected(SYMBOL, 1, 11, ErrorCode.SESSION_CLOSED, 500)]


class TestPostOnly:
    def test_post_only_order_that_would_cross_is_rejected_and_the_book_is_unchanged(
        self,
    ) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 2))

        events = eng.process(limit(2, 10, "buy", 100, 2, post_only=True))

        assert events == [OrderRejected(SYMBOL, 2, 10, ErrorCode.POST_ONLY_WOULD_CROSS, 0)]
        assert book_levels(eng) == ([], [(100, 2)])

    def test_post_only_order_that_does_not_cross_rests(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 2))

        events = eng.process(limit(2, 10, "buy", 99, 2, post_only=True))

        assert kinds(events) == ["OrderAccepted"]
        assert book_levels(eng) == ([(99, 2)], [(100, 2)])

    def test_post_only_ioc_is_rejected(self) -> None:
        eng = engine()

        events = eng.process(limit(1, 10, "buy", 99, 2, "IOC", post_only=True))

        assert events == [OrderRejected(SYMBOL, 1, 10, ErrorCode.INVALID_TIME_IN_FORCE, 0)]


class TestCancel:
    def test_cancel_removes_the_open_remainder(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 5), limit(2, 10, "buy", 100, 2)])

        events = eng.process(cancel(1, 11))

        assert events == [OrderCancelled(SYMBOL, 1, 11, 3, "USER", 0)]
        assert book_levels(eng) == ([], [])

    def test_cancel_of_a_filled_order_is_rejected_as_not_open(self) -> None:
        eng = engine()
        eng.process_many([limit(1, 11, "sell", 100, 2), limit(2, 10, "buy", 100, 2)])

        events = eng.process(cancel(1, 11))

        assert events == [CancelRejected(SYMBOL, 1, 11, ErrorCode.ORDER_NOT_OPEN, 0)]

    def test_cancel_by_another_user_is_rejected_and_the_order_stays(self) -> None:
        eng = engine()
        eng.process(limit(1, 11, "sell", 100, 2))

        events = eng.process(cancel(1, 12))

        assert events == [CancelRejected(SYMBOL, 1, 12, ErrorCode.ORDER_NOT_OPEN, 0)]
        assert queue(eng, "sell") == [(1, 2)]

    def test_cancel_in_the_middle_of_a_level_keeps_the_others_in_order(self) -> None:
        eng = engine()
        eng.process_many([limit(i, 10 + i, "buy", 100, 1) for i in range(1, 5)])

        eng.process(cancel(2, 12))

        assert queue(eng, "buy") == [(1, 1), (3, 1), (4, 1)]

    def test_many_cancels_in_a_level_keep_fifo_and_depth_right(self) -> None:
        eng = engine()
        eng.process_many([limit(i, 1000 + i, "buy", 100, 1) for i in range(1, 201)])

        eng.process_many([cancel(i, 1000 + i) for i in range(1, 201) if i % 3])

        assert queue(eng, "buy") == [(i, 1) for i in range(3, 201, 3)]
        assert book_levels(eng) == ([(100, 66)], [])


class TestValidation:
    def test_quantity_off_the_lot_size_is_rejected(self) -> None:
        eng = engine(lot_size=10)

        events = eng.process(limit(1, 10, "buy", 100, 15))

        assert events == [OrderRejected(SYMBOL, 1, 10, ErrorCode.INVALID_QUANTITY, 0)]

    def test_zero_quantity_and_non_positive_price_are_rejected(self) -> None:
        eng = engine()

        events = eng.process_many([limit(1, 10, "buy", 100, 0), limit(2, 10, "buy", 0, 5)])

        assert [e.reason for e in events if isinstance(e, OrderRejected)] == [
            ErrorCode.INVALID_QUANTITY,
            ErrorCode.INVALID_PRICE,
        ]

    def test_order_for_an_unknown_symbol_is_rejected(self) -> None:
        eng = engine()

        events = eng.process(limit(1, 10, "buy", 100, 1).replace(symbol="NOPE"))

        assert events == [OrderRejected("NOPE", 1, 10, ErrorCode.UNKNOWN_SYMBOL, 0)]

    def test_reusing_the_id_of_an_open_order_is_rejected(self) -> None:
        eng = engine()
        eng.process(limit(1, 10, "buy", 100, 1))

        events = eng.process(limit(1, 10, "buy", 99, 1))

        assert events == [OrderRejected(SYMBOL, 1, 10, ErrorCode.DUPLICATE_ORDER_ID, 0)]
