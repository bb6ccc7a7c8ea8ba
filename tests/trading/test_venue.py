"""The venue's rules as the trader sees them: steps from ccxt precision, fees from market data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from engine.trading.venue import rules_from_instrument, step
from ledgers.market import Instrument
from ledgers.sources.ccxt_market import CcxtMarket


@pytest.mark.parametrize(
    ("precision", "expected"),
    [(0.001, "0.001"), (1e-8, "1E-8"), (8, "1E-8"), (2, "0.01"), (1, "0.1"), (0.5, "0.5")],
)
def test_precision_is_read_as_a_tick_size_or_a_count_of_decimals(
    precision: float, expected: str
) -> None:
    assert step(precision) == Decimal(expected)


def test_fees_come_from_the_venue_unless_configured() -> None:
    listed = Instrument("x", "BTC/AUD", "BTC", "AUD", True, 0.01, 1e-5, 1e-4, 0.002, 0.0005)
    rules = rules_from_instrument(listed)
    assert (rules.taker_fee, rules.maker_fee) == (Decimal("0.002"), Decimal("0.0005"))
    assert (rules.price_step, rules.amount_step, rules.min_amount) == (
        Decimal("0.01"),
        Decimal("0.00001"),
        Decimal("0.0001"),
    )
    override = rules_from_instrument(listed, taker_fee=Decimal("0.003"))
    assert override.taker_fee == Decimal("0.003") and override.maker_fee == Decimal("0.0005")
    bare = rules_from_instrument(Instrument("x", "ETH/AUD", "ETH", "AUD"))
    assert bare.taker_fee == Decimal("0.001") and bare.amount_step is None


def test_ccxt_market_data_carries_the_fee_rates() -> None:
    market = CcxtMarket.__new__(CcxtMarket)
    market.venue = "kraken"
    instrument = market._instrument(
        {
            "symbol": "BTC/AUD",
            "base": "BTC",
            "quote": "AUD",
            "taker": 0.0026,
            "maker": 0.0016,
            "precision": {"price": 0.1, "amount": 1e-8},
            "limits": {"amount": {"min": 0.0001}},
        }
    )
    assert instrument is not None
    assert (instrument.taker_fee, instrument.maker_fee) == (0.0026, 0.0016)
