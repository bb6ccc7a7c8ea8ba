"""Amounts for people: money to cents, prices and quantities to the venue's steps."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from engine import numbers


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("218187.6763733333333333333333", "218187.68"),
        ("2.1834268", "2.18"),
        ("-2.7747621", "-2.77"),
        ("0", "0.00"),
        ("-0.000", "0.00"),
        ("0.0021834268", "0.0021834268"),  # under a cent keeps its digits: never a false 0.00
    ],
)
def test_money_is_shown_to_cents(value: str, shown: str) -> None:
    assert numbers.money(D(value)) == shown


def test_money_grouped_and_signed_for_the_desk() -> None:
    assert numbers.money(D("1234567.891"), grouping=True, signed=True) == "+1,234,567.89"


@pytest.mark.parametrize(
    ("value", "step", "shown"),
    [
        ("0.01", "0.00001", "0.01"),
        ("0.0123456789", "0.00001", "0.01235"),
        ("10", "1", "10"),
        ("0.123456789123", None, "0.12345679"),  # no step known: 8 decimals, zeros trimmed
        ("1500.000", None, "1500"),
    ],
)
def test_quantities_to_the_amount_step(value: str, step: str | None, shown: str) -> None:
    assert numbers.quantity(D(value), D(step) if step else None) == shown


@pytest.mark.parametrize(
    ("value", "step", "shown"),
    [
        ("218187.6763733333333333333333", None, "218187.68"),
        ("2.18342680", None, "2.1834"),
        ("2.50000", None, "2.50"),
        ("0.0123456", None, "0.01235"),
        ("0.000012345678", None, "0.00001235"),
        ("2.18342680", "0.001", "2.183"),
        ("200000", "1", "200000"),
    ],
)
def test_prices_to_the_tick_or_their_magnitude(value: str, step: str | None, shown: str) -> None:
    assert numbers.price(D(value), D(step) if step else None) == shown


def test_exact_keeps_every_digit() -> None:
    assert numbers.exact(D("218187.6763733333333333333333")) == "218187.6763733333333333333333"
    assert numbers.exact(D("1E+3")) == "1000" and numbers.exact(D("-0.0")) == "0"


def test_counts_agree_with_their_noun() -> None:
    assert numbers.count(1, "row") == "1 row"
    assert numbers.count(0, "row") == "0 rows" and numbers.count(1500, "row") == "1,500 rows"


def test_the_order_message_uses_them() -> None:
    from types import SimpleNamespace

    from engine.trading.host import _summary
    from engine.trading.model import OrderState, Side

    order = SimpleNamespace(
        side=Side.BUY,
        symbol="XRP/AUD",
        state=OrderState.FILLED,
        quantity=D("1000"),
        filled=D("1000.000000"),
        average_price=D("2.18342680"),
        fees=D("2.1834268"),
        limit_price=None,
        reason=None,
    )
    assert _summary(order) == "buy 1000 XRP/AUD filled at 2.1834, fee 2.18 AUD"
    resting = SimpleNamespace(**{**vars(order), "state": OrderState.OPEN, "filled": D("0")})
    resting.limit_price = D("2.100000")
    assert _summary(resting) == "buy 1000 XRP/AUD resting at 2.10"
