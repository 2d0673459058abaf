"""Value objects and instruments cannot be built invalid; wire strings convert exactly."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import (
    ErrorCode,
    Instrument,
    InvalidAmount,
    InvalidInstrument,
    InvalidPrice,
    InvalidQuantity,
    Money,
    Price,
    Quantity,
    UnknownAsset,
)


class TestPrice:
    def test_decimal_string_on_the_tick_becomes_integer_ticks(self) -> None:
        assert Price.parse("101.25", "0.01") == Price(10125)
        assert Price.parse("101.25", "0.05") == Price(2025)

    def test_price_renders_back_to_its_wire_string(self) -> None:
        assert Price(10125).format("0.01") == "101.25"
        assert Price(7).format("1") == "7"

    @pytest.mark.parametrize("bad", ["101.251", "101.03"])
    def test_price_off_the_tick_is_invalid(self, bad: str) -> None:
        with pytest.raises(InvalidPrice) as caught:
            Price.parse(bad, "0.05")

        assert caught.value.code == ErrorCode.INVALID_PRICE

    @pytest.mark.parametrize("bad", ["0", "0.00", "-1.00", "-0.01"])
    def test_zero_or_negative_price_is_invalid(self, bad: str) -> None:
        with pytest.raises(InvalidPrice):
            Price.parse(bad, "0.01")

    @pytest.mark.parametrize("bad", [101.25, 101, "1e2", "NaN", " 1.00", "1,00", "", None, True])
    def test_floats_and_non_decimal_strings_are_invalid(self, bad: object) -> None:
        with pytest.raises(InvalidPrice):
            Price.parse(bad, "0.01")

    @pytest.mark.parametrize("bad", [0, -3, 1.5, True])
    def test_price_cannot_be_built_from_a_non_positive_or_non_integer(self, bad: object) -> None:
        with pytest.raises(InvalidPrice):
            Price(bad)  # type: ignore[arg-type]


class TestQuantity:
    def test_integer_multiple_of_the_lot_is_valid(self) -> None:
        assert Quantity.parse(300, 100) == Quantity(300)
        assert Quantity.parse("20", 10) == Quantity(20)

    @pytest.mark.parametrize("bad", [0, -5, 150, 10.0, "10.0", True, None])
    def test_zero_negative_off_lot_or_float_quantity_is_invalid(self, bad: object) -> None:
        with pytest.raises(InvalidQuantity) as caught:
            Quantity.parse(bad, 100)

        assert caught.value.code == ErrorCode.INVALID_QUANTITY


class TestMoney:
    def test_amount_string_becomes_minor_units(self) -> None:
        assert Money.parse("1000.00") == Money(100_000, "USD")
        assert Money.parse("7", "JPY") == Money(7, "JPY")

    def test_money_renders_back_and_adds_within_a_currency(self) -> None:
        assert (Money(125) + Money(10)).format() == "1.35"

    @pytest.mark.parametrize("bad", ["0.001", "0", "-5.00", 5.0, "abc"])
    def test_finer_than_a_cent_zero_negative_or_float_amount_is_invalid(self, bad: object) -> None:
        with pytest.raises(InvalidAmount):
            Money.parse(bad)

    def test_unknown_currency_is_refused(self) -> None:
        with pytest.raises(UnknownAsset):
            Money(1, "XXX")

    def test_currencies_do_not_mix(self) -> None:
        with pytest.raises(InvalidAmount):
            Money(1, "USD") + Money(1, "EUR")


class TestInstrument:
    def test_defaults_are_a_cent_tick_single_share_lots_and_the_opposite_side_rule(self) -> None:
        acme = Instrument.create("ACME")

        assert (acme.tick_size, acme.lot_size, acme.self_trade) == (
            Decimal("0.01"),
            1,
            "reject_opposite",
        )

    @pytest.mark.parametrize(
        "fields",
        [
            {"symbol": "acme"},
            {"symbol": "ACME", "tick_size": "0.001"},
            {"symbol": "ACME", "tick_size": "0"},
            {"symbol": "ACME", "lot_size": 0},
            {"symbol": "ACME", "self_trade": "allow"},
            {"symbol": "ACME", "taker_fee_bps": -1},
        ],
    )
    def test_invalid_definitions_are_refused(self, fields: dict[str, object]) -> None:
        with pytest.raises(InvalidInstrument):
            Instrument.create(**fields)  # type: ignore[arg-type]

    def test_a_refused_tick_size_is_shown_as_the_client_wrote_it(self) -> None:
        with pytest.raises(InvalidInstrument, match=r"positive decimal, got 0$"):
            Instrument.create("ACME", "0")

    def test_buy_hold_covers_notional_and_the_higher_fee_rate(self) -> None:
        acme = Instrument.create("ACME", "0.05", maker_fee_bps=10, taker_fee_bps=25)

        hold = acme.buy_hold(2025, 100)  # 101.25 x 100 = 10,125.00

        assert hold == 1_012_500 + 1_012_500 * 25 // 10_000

    def test_market_buy_bound_never_spends_more_than_the_cash_held(self) -> None:
        acme = Instrument.create("ACME", "0.01", taker_fee_bps=30)

        bound = acme.market_buy_max_notional(100_000)

        spent = acme.notional(bound, 1)
        assert spent + acme.taker_fee(spent) <= 100_000
        assert acme.notional(bound + 1, 1) + acme.taker_fee(acme.notional(bound + 1, 1)) > 100_000

    def test_instrument_round_trips_through_its_dict(self) -> None:
        acme = Instrument.create("ACME", "0.05", 10, "decrement", 1, 2)

        assert Instrument.from_dict(acme.to_dict()) == acme
