"""The risk guard: each rule refuses with its id and says what would pass; order matters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from engine.trading.model import MarketRules, OrderRequest, OrderType, Origin, Side
from engine.trading.risk import RiskContext, RiskDecision, RiskGuard, RiskLimits

D = Decimal
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
RULES = MarketRules(
    "BTC/AUD",
    amount_step=D("0.00000001"),
    price_step=D("0.01"),
    min_amount=D("0.0001"),
    min_notional=D("5"),
    taker_fee=D("0.002"),
    maker_fee=D("0.001"),
)
# A calm paper account: every rule passes a 0.05 BTC buy (2500.5 AUD at the ask).
CTX = RiskContext(
    now=T0,
    mode="paper",
    armed=False,
    kill_switch=False,
    rules=RULES,
    bid=D("49990"),
    ask=D("50010"),
    last=D("50000"),
    quote_ts=T0 - timedelta(seconds=2),
    equity=D("100000"),
    day_start_equity=D("100000"),
    position_value=D("10000"),
    base_available=D("1"),
    quote_available=D("50000"),
    open_orders=0,
    recent_orders=(),
    known_symbols=("BTC/AUD", "ETH/AUD", "BTC/USDT"),
)
GUARD = RiskGuard(RiskLimits())


def req(
    qty: str | Decimal = "0.05",
    side: str = "buy",
    limit: str | None = None,
    symbol: str = "BTC/AUD",
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=Side(side),
        quantity=D(qty),
        type=OrderType.MARKET if limit is None else OrderType.LIMIT,
        limit_price=None if limit is None else D(limit),
        origin=Origin.STRATEGY,
        client_id="c-1",
    )


def check(request: OrderRequest | None = None, **changes: object) -> RiskDecision:
    return GUARD.check(request or req(), replace(CTX, **changes))  # type: ignore[arg-type]


def refused(rule: str, decision: RiskDecision) -> str:
    assert (decision.allowed, decision.rule) == (False, rule), decision.message
    return decision.message


def test_an_order_within_every_limit_is_allowed_with_the_estimate_it_used() -> None:
    d = check()

    assert (d.allowed, d.rule) == (True, "ok")
    assert d.price == D("50010") and d.notional == D("2500.5")
    assert (d.at, d.symbol, d.side, d.quantity) == (T0, "BTC/AUD", "buy", D("0.05"))
    assert (d.origin, d.client_id) == ("strategy", "c-1")


def test_a_limit_order_is_estimated_at_its_limit_and_a_market_sell_at_the_bid() -> None:
    assert check(req(limit="49000")).notional == D("2450")
    assert check(req(side="sell")).price == D("49990")


def test_kill_switch_refuses_everything_before_any_other_rule() -> None:
    d = check(req("0", symbol="NOPE/AUD"), kill_switch=True, mode="live", rules=None)

    assert "kill switch is on" in refused("kill_switch", d)
    refused("kill_switch", check(req(side="sell"), kill_switch=True))


def test_live_orders_need_arming_and_paper_ignores_it() -> None:
    assert "not armed" in refused("live_not_armed", check(mode="live", armed=False))
    assert check(mode="live", armed=True).allowed
    assert check(mode="paper", armed=False).allowed


def test_unknown_symbol_names_it_and_suggests_the_closest() -> None:
    message = refused("unknown_symbol", check(req(symbol="BTC/AUX"), rules=None))
    assert message.startswith("BTC/AUX is not traded on this venue")
    assert "did you mean BTC/AUD" in message

    lower = refused("unknown_symbol", check(req(symbol="eth/aud"), rules=None))
    assert "did you mean ETH/AUD" in lower


@pytest.mark.parametrize("qty", ["0", "-0.5", "NaN", "Infinity"])
def test_quantity_must_be_a_positive_finite_number(qty: str) -> None:
    message = refused("quantity", check(req(qty)))
    assert "must be a positive number" in message


def test_too_many_decimals_says_how_many_and_what_would_pass() -> None:
    message = refused("precision", check(req("0.123456789")))

    assert message == (
        "0.123456789 has 9 decimals; BTC/AUD trades in steps of 0.00000001 — 0.12345678 would pass"
    )


def test_limit_price_off_the_price_step_names_the_two_nearest_that_pass() -> None:
    message = refused("precision", check(req(limit="49000.005")))

    assert "49000 or 49000.01 would pass" in message
    assert check(req(limit="49000.01")).allowed


def test_below_the_minimum_amount_says_the_minimum() -> None:
    message = refused("min_amount", check(req("0.00005")))
    assert "minimum amount of 0.0001 BTC" in message


def test_below_the_minimum_notional_says_the_smallest_quantity_that_passes() -> None:
    rules = replace(RULES, min_amount=None)
    message = refused("min_notional", check(req("0.00005"), rules=rules))

    assert "2.5005 AUD is below BTC/AUD's minimum order of 5 AUD" in message
    assert "at least 0.00009999 BTC at 50010 would pass" in message
    assert check(req("0.00009999"), rules=rules).allowed


def test_a_missing_or_old_quote_is_refused_and_says_how_old() -> None:
    old = refused("stale_quote", check(quote_ts=T0 - timedelta(seconds=45)))
    assert "45 s old (limit 30 s)" in old

    none = check(bid=None, ask=None, last=None, quote_ts=None)
    assert "no quote for BTC/AUD" in refused("stale_quote", none)
    assert check(quote_ts=T0 - timedelta(seconds=30)).allowed


def test_a_broken_quote_is_refused_rather_than_trusted() -> None:
    broken = check(ask=D("NaN"))
    refused("stale_quote", broken)
    # The audit stores price and notional; a broken quote must not end up there.
    assert broken.price is None and broken.notional is None
    refused("stale_quote", check(ask=D(0), last=D(0)))


def test_limit_far_from_the_market_gives_the_allowed_range() -> None:
    buy = refused("limit_price", check(req(limit="56000")))
    assert buy.startswith("limit 56000 is 11.98% above the ask 50010")
    assert buy.endswith("limits within 10% of the market pass: 45009 to 55011")
    assert check(req(limit="55011")).allowed

    sell = refused("limit_price", check(req(side="sell", limit="44000")))
    assert "below the bid 49990" in sell and sell.endswith("44991 to 54989")


def test_a_limit_order_needs_a_positive_limit_price() -> None:
    message = refused("limit_price", check(req(limit="0")))
    assert "positive limit price" in message


def test_order_over_the_notional_limit_says_the_largest_quantity_that_passes() -> None:
    message = refused("max_order_notional", check(req("0.2")))

    assert message == (
        "10002 AUD is over the 5000 AUD limit per order; at most 0.09998 BTC at 50010 would pass"
    )
    assert check(req("0.09998")).allowed
    assert not check(req("0.09998001")).allowed


def test_an_absurd_quantity_is_refused_not_crashed_on() -> None:
    message = refused("max_order_notional", check(req("1e200")))
    assert "at most 0.09998 BTC" in message


def test_buy_beyond_the_cash_with_fees_says_what_would_pass() -> None:
    message = refused("insufficient_funds", check(quote_available=D("1000")))

    assert message.startswith("needs 2505.501 AUD with fees, 1000 AUD available")
    assert message.endswith("at most 0.01995608 BTC at 50010 would pass")
    assert check(req("0.01995608"), quote_available=D("1000")).allowed
    assert not check(req("0.01995609"), quote_available=D("1000")).allowed


def test_sell_of_more_than_is_held_says_what_is_held() -> None:
    message = refused(
        "insufficient_funds", check(req("0.05", side="sell"), base_available=D("0.01"))
    )
    assert message == "selling 0.05 BTC but 0.01 BTC available; at most 0.01 BTC would pass"
    assert check(req("0.01", side="sell"), base_available=D("0.01")).allowed


def test_buy_past_the_position_limit_says_the_largest_quantity_that_passes() -> None:
    message = refused("max_position", check(position_value=D("23000")))

    assert message == (
        "BTC would be 25.5% of equity (limit 25%); at most 0.039992 BTC at 50010 would pass"
    )
    assert check(req("0.039992"), position_value=D("23000")).allowed
    assert not check(req("0.03999201"), position_value=D("23000")).allowed
    assert check(req(side="sell"), position_value=D("90000")).allowed


def test_after_the_daily_loss_limit_buys_are_refused_and_sells_still_pass() -> None:
    down = {"equity": D("94000"), "day_start_equity": D("100000")}

    message = refused("daily_loss", check(**down))
    assert "down 6000 AUD (6%)" in message and "limit 5%" in message
    assert check(req(side="sell"), **down).allowed
    assert check(equity=D("95000"), day_start_equity=D("100000")).allowed


def test_open_order_limit_refuses_only_orders_that_would_rest() -> None:
    message = refused("max_open_orders", check(req(limit="49000"), open_orders=20))

    assert "20 orders are open (limit 20)" in message and "cancel one" in message
    assert check(open_orders=20).allowed  # a market order does not rest
    assert check(req(limit="50010"), open_orders=20).allowed  # crosses the ask
    assert check(req(limit="49000"), open_orders=19).allowed


def test_order_rate_window_slides_and_says_when_the_next_passes() -> None:
    # 30 orders, one a second, from 50 s ago to 21 s ago.
    recent = tuple(T0 - timedelta(seconds=s) for s in range(50, 20, -1))

    message = refused("order_rate", check(recent_orders=recent))
    assert message == "30 orders in the last 60 s (limit 30); the next one passes in 10 s"
    assert check(recent_orders=recent, now=T0 + timedelta(seconds=10)).allowed
    assert check(recent_orders=recent[1:]).allowed


def test_rules_are_checked_in_order_first_failure_wins() -> None:
    # Stale quote and too many decimals: precision comes first.
    assert check(req("0.123456789"), quote_ts=T0 - timedelta(hours=1)).rule == "precision"
    # Over the notional limit and short of cash: the notional limit comes first.
    assert check(req("0.2"), quote_available=D("10")).rule == "max_order_notional"
    # Short of cash and past the daily loss: funds come first.
    assert check(quote_available=D("10"), equity=D("50000")).rule == "insufficient_funds"
