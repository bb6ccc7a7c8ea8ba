"""The risk guard: each rule refuses with its id and says what would pass; order matters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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

    assert (d.allowed, d.rule, d.message) == (True, "ok", "allowed")
    assert d.price == D("50010") and d.notional == D("2500.5")
    assert (d.at, d.symbol, d.side, d.quantity) == (T0, "BTC/AUD", "buy", D("0.05"))
    assert (d.origin, d.client_id) == ("strategy", "c-1")


def test_a_limit_order_is_estimated_at_its_limit_and_a_market_sell_at_the_bid() -> None:
    assert check(req(limit="49000")).notional == D("2450")
    assert check(req(side="sell")).price == D("49990")


def test_kill_switch_refuses_everything_before_any_other_rule() -> None:
    d = check(req("0", symbol="NOPE/AUD"), kill_switch=True, mode="live", rules=None)

    assert refused("kill_switch", d) == (
        "the kill switch is on: no new orders until it is turned off"
    )
    refused("kill_switch", check(req(side="sell"), kill_switch=True))


def test_live_orders_need_arming_and_paper_ignores_it() -> None:
    assert refused("live_not_armed", check(mode="live", armed=False)) == (
        "live trading is not armed: arm it, or place this on paper"
    )
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
    assert message == f"quantity must be a positive number, got {qty}"


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
    assert message == "a limit order needs a positive limit price, got 0"


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

    assert message == "20 orders are open (limit 20); cancel one to place another resting order"
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


# -- exactly at a limit, an order passes ---------------------------------------------------


def test_an_order_exactly_at_the_minimum_amount_passes() -> None:
    assert check(req("0.0001")).allowed
    refused("min_amount", check(req("0.00009999")))


def test_an_order_exactly_at_the_minimum_notional_passes() -> None:
    rules = replace(RULES, min_amount=None)
    assert check(req("0.0001", limit="50000"), rules=rules).notional == 5
    assert check(req("0.0001", limit="50000"), rules=rules).allowed
    refused("min_notional", check(req("0.0001", limit="49999.99"), rules=rules))


def test_an_order_exactly_at_the_per_order_cap_passes() -> None:
    assert check(req("0.1", limit="50000")).allowed
    refused("max_order_notional", check(req("0.10000001", limit="50000")))


@pytest.mark.parametrize(
    ("side", "low", "high"), [("buy", "45009", "55011"), ("sell", "44991", "54989")]
)
def test_limits_at_either_end_of_the_band_pass(side: str, low: str, high: str) -> None:
    assert check(req("0.01", side, limit=low)).allowed
    assert check(req("0.01", side, limit=high)).allowed
    below, above = D(low) - D("0.01"), D(high) + D("0.01")
    refused("limit_price", check(req("0.01", side, limit=str(below))))
    refused("limit_price", check(req("0.01", side, limit=str(above))))


def test_a_buy_with_exactly_enough_cash_for_it_and_its_fee_passes() -> None:
    # 0.05 × 50010 = 2500.5, and the taker fee of 0.2 % on top: 2505.501.
    assert check(quote_available=D("2505.501")).allowed
    message = refused("insufficient_funds", check(quote_available=D("2505.5009")))
    assert message.startswith("needs 2505.501 AUD with fees, 2505.5009 AUD available")


def test_a_sell_of_exactly_what_is_held_passes() -> None:
    assert check(req("0.05", side="sell"), base_available=D("0.05")).allowed
    refused("insufficient_funds", check(req("0.05", side="sell"), base_available=D("0.04999999")))


def test_a_buy_to_exactly_the_maximum_position_passes() -> None:
    # 22499.5 held plus 2500.5 bought is 25000: a quarter of the 100000 equity.
    assert check(position_value=D("22499.5")).allowed
    message = refused("max_position", check(position_value=D("22499.51")))
    assert message.startswith("BTC would be 25% of equity (limit 25%)")


def test_equity_exactly_at_the_daily_loss_limit_still_buys() -> None:
    assert check(equity=D("95000"), day_start_equity=D("100000")).allowed
    message = refused("daily_loss", check(equity=D("94999.99"), day_start_equity=D("100000")))
    assert message.startswith("equity is down 5000.01 AUD (5%) since the day began")


# -- the rules that only some orders meet --------------------------------------------------


def test_open_order_limit_refuses_a_sell_limit_that_would_rest() -> None:
    message = refused("max_open_orders", check(req(side="sell", limit="50000"), open_orders=20))
    assert "20 orders are open (limit 20)" in message
    assert check(req(side="sell", limit="49990"), open_orders=20).allowed  # meets the bid
    assert check(req(side="sell", limit="50000"), open_orders=19).allowed
    assert check(req(side="sell"), open_orders=20).allowed


def test_a_limit_with_nothing_quoted_on_its_side_would_rest() -> None:
    # No ask, so the buy is priced off the last trade and nothing on the book can fill it.
    refused("max_open_orders", check(req(limit="50000"), ask=None, open_orders=20))
    refused("max_open_orders", check(req(side="sell", limit="50000"), bid=None, open_orders=20))


def test_a_limit_buy_holds_funds_for_the_maker_fee_when_it_is_the_dearer() -> None:
    rules = replace(RULES, taker_fee=D("0.002"), maker_fee=D("0.003"))
    # 0.05 × 50000 = 2500 resting, with the maker's 0.3 %: 2507.5.
    assert check(req(limit="50000"), rules=rules, quote_available=D("2507.5")).allowed
    message = refused(
        "insufficient_funds", check(req(limit="50000"), rules=rules, quote_available=D("2507.4"))
    )
    assert message.startswith("needs 2507.5 AUD with fees, 2507.4 AUD available")
    assert message.endswith("at most 0.049998 BTC at 50000 would pass")
    # A market order fills now as taker: it needs the taker fee only.
    assert check(rules=rules, quote_available=D("2505.501")).allowed


@pytest.mark.parametrize("equity", ["0", "-100"])
def test_no_equity_refuses_buys_with_a_reason_and_still_lets_sells_through(equity: str) -> None:
    nothing = {"equity": D(equity), "day_start_equity": D(equity)}
    message = refused("max_position", check(**nothing))
    assert message == f"equity is {equity} AUD; no position can be added"
    assert check(req(side="sell"), **nothing).allowed


def test_a_day_that_began_with_no_equity_has_no_loss_limit_to_break() -> None:
    assert check(equity=D("100000"), day_start_equity=D("0")).allowed


# -- the guard refuses what it cannot read, and never raises --------------------------------


def test_a_limit_order_without_a_limit_price_is_refused_not_raised_on() -> None:
    request = replace(req(), type=OrderType.LIMIT)
    d = check(request)
    assert refused("limit_price", d) == "a limit order needs a positive limit price, got none"
    assert d.price is None and d.notional is None


def test_a_market_order_carrying_a_limit_price_is_refused() -> None:
    request = replace(req(), limit_price=D("49000"))
    message = refused("limit_price", check(request))
    assert message == (
        "a market order takes no limit price, got 49000; "
        "place a limit order to trade at that price or better"
    )
    refused("limit_price", check(replace(req(), limit_price=D("NaN"))))


@pytest.mark.parametrize(
    ("field", "value", "side", "named"),
    [
        ("equity", D("NaN"), "buy", "equity is NaN"),
        ("day_start_equity", D("Infinity"), "buy", "equity at the start of the day is Infinity"),
        ("position_value", D("NaN"), "buy", "position's value is NaN"),
        ("quote_available", D("-Infinity"), "buy", "cash available is -Infinity"),
        ("base_available", D("NaN"), "sell", "holdings available is NaN"),
    ],
)
def test_a_figure_that_is_not_a_number_is_named_instead_of_compared(
    field: str, value: Decimal, side: str, named: str
) -> None:
    message = refused("unreadable", check(req(side=side), **{field: value}))
    assert message == f"the book's {named}, not a number; no {side} passes until it is"


def test_a_sell_does_not_wait_for_figures_only_a_buy_reads() -> None:
    assert check(req(side="sell"), equity=D("NaN"), quote_available=D("NaN")).allowed


def test_a_time_without_a_zone_is_refused_by_name() -> None:
    naive = T0.replace(tzinfo=None)
    message = refused("unreadable", check(quote_ts=naive))
    assert (
        message
        == f"the quote's time {naive.isoformat()} has no time zone; the guard compares aware times"
    )
    assert refused("unreadable", check(now=naive)) == (
        f"the clock {naive.isoformat()} has no time zone; the guard compares aware times"
    )
    assert refused("unreadable", check(recent_orders=(T0, naive))) == (
        f"a recent order's time {naive.isoformat()} has no time zone; "
        "the guard compares aware times"
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"amount_step": D("NaN")}, "BTC/AUD's amount step from the venue is NaN"),
        ({"price_step": D("-0.01")}, "BTC/AUD's price step from the venue is -0.01"),
        ({"min_amount": D("Infinity")}, "BTC/AUD's minimum amount from the venue is Infinity"),
        ({"min_notional": D("sNaN")}, "BTC/AUD's minimum notional from the venue is sNaN"),
        ({"taker_fee": D("NaN")}, "BTC/AUD's taker fee from the venue is NaN"),
        ({"maker_fee": D("-1")}, "BTC/AUD's maker fee from the venue is -1"),
        ({"taker_fee": D("1")}, "BTC/AUD's taker fee from the venue is 1"),
    ],
)
def test_venue_rules_that_are_not_usable_figures_are_named(
    change: dict[str, Decimal], named: str
) -> None:
    message = refused("market_rules", check(rules=replace(RULES, **change)))
    assert message.startswith(named)


def test_rules_of_zero_mean_no_step_and_no_minimum() -> None:
    zero = replace(RULES, amount_step=D(0), price_step=D(0), min_amount=D(0), min_notional=D(0))
    assert check(req("0.000000001", limit="50000.001"), rules=zero).allowed


def test_a_maker_rebate_is_a_usable_fee() -> None:
    rules = replace(RULES, maker_fee=D("-0.0001"), taker_fee=D("0"))
    assert check(req(limit="50000"), rules=rules, quote_available=D("2500")).allowed


def test_rules_for_something_that_is_not_a_symbol_are_refused() -> None:
    message = refused(
        "unknown_symbol", check(req(symbol="BTC"), rules=replace(RULES, symbol="BTC"))
    )
    assert message.startswith("'BTC' is not a symbol")


@pytest.mark.parametrize("qty", ["1E+1001", "1E-1001"])
def test_a_quantity_beyond_any_market_is_refused(qty: str) -> None:
    refused("quantity", check(req(qty)))


def test_figures_at_the_edge_of_the_readable_range_are_checked_as_usual() -> None:
    refused("max_order_notional", check(req("1E+1000")))
    refused("precision", check(req("1E-1000")))
    assert check(req(side="sell"), base_available=D("1E+1000")).allowed


# -- a property over every shape of request and context ------------------------------------

ODD = [
    D("NaN"),
    D("sNaN"),
    D("Infinity"),
    D("-Infinity"),
    D("-0"),
    D("-1"),
    D("1E+1000"),
    D("1E+1001"),
    D("1E-1000"),
    D("1E-1001"),
    D("1E+999999"),
    D("1E-999999"),
]
odd = st.one_of(st.sampled_from(ODD), st.decimals(allow_nan=True, allow_infinity=True))


def mostly(
    usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any], one_in: int = 40
) -> st.SearchStrategy[Any]:
    """``unusual`` once in ``one_in`` draws, so that most examples get past the early rules."""
    pick = st.sampled_from([False] * (one_in - 1) + [True])
    return st.tuples(pick, usual, unusual).map(lambda t: t[2] if t[0] else t[1])


def amounts(low: str, high: str, places: int = 8) -> st.SearchStrategy[Decimal]:
    return mostly(st.decimals(min_value=D(low), max_value=D(high), places=places), odd)


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return mostly(values, st.none(), one_in=10)


def _moment(seconds: int, naive: bool = False) -> datetime:
    moment = T0 + timedelta(seconds=seconds)
    return moment.replace(tzinfo=None) if naive else moment


aware = st.builds(_moment, st.integers(-90, 30))
moments = mostly(aware, st.builds(_moment, st.integers(-90, 30), st.just(True)))
quote_times = mostly(st.builds(_moment, st.integers(-40, 5)), moments, one_in=10)
quoted = maybe(amounts("45000", "55000", places=2))
any_step = st.sampled_from([None, D(0), D("0.00000001"), D("0.0001"), D("0.01"), D(1), *ODD])
any_rate = st.one_of(st.sampled_from([D(0), D("0.001"), D("-0.0001"), D("-1"), D(1)]), odd)
rates = st.sampled_from([D(0), D("0.001"), D("0.002"), D("0.003"), D("-0.0001")])
rule_sets = mostly(
    st.builds(
        MarketRules,
        symbol=st.just("BTC/AUD"),
        amount_step=st.sampled_from([None, D("0.00000001")]),
        price_step=st.sampled_from([None, D("0.01")]),
        min_amount=maybe(st.decimals(min_value=0, max_value=D("0.001"), places=8)),
        min_notional=maybe(st.decimals(min_value=0, max_value=10, places=2)),
        taker_fee=rates,
        maker_fee=rates,
    ),
    st.one_of(
        st.none(),
        st.builds(
            MarketRules,
            symbol=st.sampled_from(["BTC/AUD", "BTC", "/AUD", "BTC/"]),
            amount_step=any_step,
            price_step=any_step,
            min_amount=st.one_of(st.none(), odd),
            min_notional=st.one_of(st.none(), odd),
            taker_fee=any_rate,
            maker_fee=any_rate,
        ),
    ),
    one_in=8,
)
requests = st.builds(
    OrderRequest,
    symbol=mostly(st.just("BTC/AUD"), st.sampled_from(["BTC", "eth/aud", ""])),
    side=st.sampled_from(Side),
    quantity=mostly(st.decimals(min_value="0.0001", max_value="0.2", places=8), odd, one_in=10),
    origin=st.sampled_from(Origin),
    client_id=st.none(),
).flatmap(
    lambda r: st.one_of(
        st.builds(replace, st.just(r), limit_price=mostly(st.none(), quoted)),
        st.builds(replace, st.just(r), type=st.just(OrderType.LIMIT), limit_price=maybe(quoted)),
    )
)
contexts = st.builds(
    RiskContext,
    now=mostly(st.just(T0), moments, one_in=10),
    mode=mostly(st.just("paper"), st.just("live"), one_in=8),
    armed=st.booleans(),
    kill_switch=mostly(st.just(False), st.just(True), one_in=20),
    rules=rule_sets,
    bid=quoted,
    ask=quoted,
    last=quoted,
    quote_ts=maybe(quote_times),
    equity=amounts("0", "100000", places=2),
    day_start_equity=amounts("0", "100000", places=2),
    position_value=amounts("0", "30000", places=2),
    base_available=amounts("0", "0.2"),
    quote_available=amounts("0", "20000", places=2),
    open_orders=st.integers(0, 25),
    recent_orders=mostly(st.lists(aware, max_size=35), st.lists(moments, max_size=5)),
    known_symbols=st.just(("BTC/AUD", "ETH/AUD")),
)
limit_sets = mostly(
    st.just(RiskLimits()),
    st.builds(
        RiskLimits,
        max_order_notional=st.sampled_from([D("0.01"), D("5000"), D("1e12")]),
        max_position_pct=st.sampled_from([D("0.5"), D("25"), D("100")]),
        daily_loss_pct=st.sampled_from([D("0.5"), D("5"), D("100")]),
        max_open_orders=st.integers(1, 25),
        max_orders_per_minute=st.integers(1, 35),
        stale_quote_seconds=st.sampled_from([0.5, 30.0, 1e9]),
        max_limit_distance_pct=st.sampled_from([D("0.01"), D("10"), D("100")]),
    ),
    one_in=3,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests, ctx=contexts, limits=limit_sets)
def test_the_guard_decides_every_request_and_allows_only_what_every_rule_passes(
    request: OrderRequest, ctx: RiskContext, limits: RiskLimits
) -> None:
    d = RiskGuard(limits).check(request, ctx)

    assert isinstance(d, RiskDecision) and d.message
    assert d.allowed is (d.rule == "ok")
    assert (d.at, d.symbol, d.quantity) == (ctx.now, request.symbol, request.quantity)
    if not d.allowed:
        return
    rules = ctx.rules
    assert rules is not None and d.price is not None and d.notional is not None
    assert not ctx.kill_switch and (ctx.mode == "paper" or ctx.armed)
    assert d.price > 0 and request.quantity > 0
    assert d.notional == request.quantity * d.price <= limits.max_order_notional
    if rules.min_amount is not None:
        assert request.quantity >= rules.min_amount
    if rules.min_notional is not None:
        assert d.notional >= rules.min_notional
    assert ctx.quote_ts is not None
    assert ctx.now - ctx.quote_ts <= timedelta(seconds=limits.stale_quote_seconds)
    market = (ctx.ask if request.side is Side.BUY else ctx.bid) or ctx.last
    assert market is not None
    if request.type is OrderType.LIMIT:
        assert request.limit_price == d.price
        band = market * limits.max_limit_distance_pct / 100
        assert market - band <= d.price <= market + band
        if ctx.open_orders >= limits.max_open_orders:  # only an order that fills now passes
            best = ctx.ask if request.side is Side.BUY else ctx.bid
            assert best is not None
            assert d.price >= best if request.side is Side.BUY else d.price <= best
    else:
        assert request.limit_price is None and d.price == market
    if request.side is Side.BUY:
        fee = rules.taker_fee
        if request.type is OrderType.LIMIT:
            fee = max(fee, rules.maker_fee)
        assert d.notional * (1 + fee) <= ctx.quote_available
        assert ctx.equity > 0
        assert (ctx.position_value + d.notional) / ctx.equity * 100 <= limits.max_position_pct
        if ctx.day_start_equity > 0:
            floor = ctx.day_start_equity * (1 - limits.daily_loss_pct / 100)
            assert ctx.equity >= floor
    else:
        assert request.quantity <= ctx.base_available
    recent = [t for t in ctx.recent_orders if t > ctx.now - timedelta(seconds=60)]
    assert len(recent) < limits.max_orders_per_minute


# -- what the refusals say -----------------------------------------------------------------

COARSE = replace(RULES, amount_step=D("0.0001"))


def test_the_largest_quantities_that_pass_are_on_the_venues_step() -> None:
    over = refused("max_order_notional", check(req("0.2"), rules=COARSE))
    assert over.endswith("; at most 0.0999 BTC at 50010 would pass")
    short = refused("insufficient_funds", check(quote_available=D("1000"), rules=COARSE))
    assert short.endswith("; at most 0.0199 BTC at 50010 would pass")
    held = refused(
        "insufficient_funds",
        check(req(side="sell"), base_available=D("0.012345"), rules=COARSE),
    )
    assert held == "selling 0.05 BTC but 0.012345 BTC available; at most 0.0123 BTC would pass"
    big = refused("max_position", check(position_value=D("23000"), rules=COARSE))
    assert big.endswith("; at most 0.0399 BTC at 50010 would pass")
    fine = replace(RULES, min_amount=None, amount_step=D("0.00001"))
    small = refused("min_notional", check(req("0.00005"), rules=fine))
    assert small.endswith("; at least 0.0001 BTC at 50010 would pass")


def test_without_an_amount_step_hints_are_to_eight_decimals() -> None:
    message = refused(
        "max_order_notional", check(req("0.2"), rules=replace(RULES, amount_step=None))
    )
    assert message.endswith("; at most 0.09998 BTC at 50010 would pass")


def test_with_no_cash_at_all_no_quantity_would_pass() -> None:
    message = refused("insufficient_funds", check(quote_available=D("0")))
    assert message == (
        "needs 2505.501 AUD with fees, 0 AUD available; no quantity at 50010 would pass"
    )


def test_without_a_minimum_notional_a_tiny_order_passes() -> None:
    rules = replace(RULES, min_amount=None, min_notional=None)
    assert check(req("0.00000001"), rules=rules).allowed


def test_a_quantity_off_the_step_names_the_nearest_that_passes() -> None:
    coarse = refused("precision", check(req("0.00015"), rules=COARSE))
    assert coarse == (
        "0.00015 has 5 decimals; BTC/AUD trades in steps of 0.0001 — 0.0001 would pass"
    )
    half = replace(RULES, amount_step=D("0.5"), min_amount=None)
    assert refused("precision", check(req("0.75"), rules=half)) == (
        "0.75 is not a multiple of 0.5; BTC/AUD trades in steps of 0.5 — 0.5 would pass"
    )
    assert refused("precision", check(req("0.3"), rules=half)) == (
        "0.3 is not a multiple of 0.5; BTC/AUD trades in steps of 0.5 — the smallest is 0.5"
    )


def test_the_limit_band_is_given_on_the_price_step_or_exactly_without_one() -> None:
    quarters = replace(RULES, price_step=D("0.25"))
    message = refused("limit_price", check(req(limit="60000"), rules=quarters, ask=D("50000.25")))
    assert message.endswith("limits within 10% of the market pass: 45000.25 to 55000.25")
    unstepped = replace(RULES, price_step=None)
    message = refused(
        "limit_price", check(req(limit="60000"), rules=unstepped, ask=D("50000.000000001"))
    )
    assert message.endswith("pass: 45000.0000000009 to 55000.0000000011")


def test_a_limit_less_than_one_percent_away_is_still_said_to_be_above() -> None:
    guard = RiskGuard(RiskLimits(max_limit_distance_pct=D("0.5")))
    message = refused("limit_price", guard.check(req(limit="50410"), CTX))
    assert message == (
        "limit 50410 is 0.8% above the ask 50010; "
        "limits within 0.5% of the market pass: 49759.95 to 50260.05"
    )


def test_a_quote_age_is_given_to_a_tenth_of_a_second() -> None:
    message = refused("stale_quote", check(quote_ts=T0 - timedelta(seconds=45.25)))
    assert message == "the quote for BTC/AUD is 45.2 s old (limit 30 s); wait for a fresh one"


def test_a_market_buy_with_no_ask_is_priced_at_the_last_trade() -> None:
    d = check(ask=None)
    assert d.allowed and d.price == D("50000")


def test_an_absurd_figure_is_written_in_exponent_form() -> None:
    message = refused("min_amount", check(rules=replace(RULES, min_amount=D("1E+15"))))
    assert message == "0.05 is below BTC/AUD's minimum amount of 1.000e+15 BTC"
    below = refused("min_amount", check(rules=replace(RULES, min_amount=D("999999999999999"))))
    assert below.endswith("minimum amount of 999999999999999 BTC")


def test_an_unknown_symbol_suggests_at_most_three_close_ones() -> None:
    known = ("BTC/AUD", "BTC/AUX", "BTC/AUE", "BTC/AUF")
    message = refused(
        "unknown_symbol", check(req(symbol="BTC/AUZ"), rules=None, known_symbols=known)
    )
    assert message == (
        "BTC/AUZ is not traded on this venue; did you mean BTC/AUX or BTC/AUF or BTC/AUE?"
    )
    assert refused("unknown_symbol", check(req(symbol="SOL/EUR"), rules=None)) == (
        "SOL/EUR is not traded on this venue"
    )
