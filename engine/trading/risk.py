"""The risk guard: the one gate every order passes through, whatever placed it.

The guard is pure: the caller gathers a ``RiskContext`` (quote, balances, equity, switches) and
gets back a ``RiskDecision`` to audit and act on. Rules run in a fixed order and the first one
that fails refuses the order, with a message that names the rule and says what would pass.

The guard never raises: a figure it cannot compare (NaN, infinite, absurdly large or small, a
time without a zone) refuses the order by name instead of tripping a rule that reads it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from difflib import get_close_matches
from fractions import Fraction

from engine.trading.model import (
    ZERO,
    MarketRules,
    OrderInputError,
    OrderRequest,
    OrderType,
    Side,
    split_symbol,
)

_HUNDRED = Decimal(100)
_ONE = Decimal(1)
_WINDOW = timedelta(seconds=60)
_HINT_STEP = Decimal("0.00000001")  # how finely to suggest a quantity when the venue sets no step
# Figures beyond 10^±1000 are refused as unreadable: within it, the products and quotients the
# rules and their hints compute stay far inside what Decimal and int-to-text conversion allow.
_MAGNITUDE = 1000


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_order_notional: Decimal = Decimal("5000")  # quote currency
    max_position_pct: Decimal = Decimal("25")  # of equity, after the order
    daily_loss_pct: Decimal = Decimal("5")  # equity drop from the day's start (market value)
    max_open_orders: int = 20
    max_orders_per_minute: int = 30
    stale_quote_seconds: float = 30.0
    max_limit_distance_pct: Decimal = Decimal("10")  # a limit price this far from the market


@dataclass(frozen=True, slots=True)
class RiskContext:
    """Everything the guard needs, gathered by the caller; the guard does no I/O."""

    now: datetime
    mode: str  # paper | live
    armed: bool  # live trading armed (ignored on paper)
    kill_switch: bool
    rules: MarketRules | None  # None: the symbol is unknown on this venue
    bid: Decimal | None
    ask: Decimal | None
    last: Decimal | None
    quote_ts: datetime | None  # when that quote was observed (engine clock)
    equity: Decimal  # at market value
    day_start_equity: Decimal
    position_value: Decimal  # market value of the symbol's current holdings
    base_available: Decimal  # for sells
    quote_available: Decimal  # for buys
    open_orders: int
    recent_orders: Sequence[datetime]  # when recently accepted orders were placed
    known_symbols: Sequence[str] = ()  # for "did you mean" on an unknown symbol


@dataclass(frozen=True, slots=True)
class RiskDecision:
    allowed: bool
    rule: str  # "ok" when allowed, else the id of the rule that refused
    message: str  # for the user: which rule, and what would pass
    at: datetime
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal | None  # the price estimate used
    notional: Decimal | None
    origin: str
    client_id: str | None


class RiskGuard:
    """Checks an order request against the limits; ``check`` never raises on odd input."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits

    def check(self, request: OrderRequest, ctx: RiskContext) -> RiskDecision:
        """Allow the request, or refuse it by the first rule it breaks."""
        price = _estimate(request, ctx)
        notional = _notional(request.quantity, price)
        rule, message = self._first_refusal(request, ctx, price, notional) or ("ok", "allowed")
        return RiskDecision(
            allowed=rule == "ok",
            rule=rule,
            message=message,
            at=ctx.now,
            symbol=request.symbol,
            side=request.side.value,
            quantity=request.quantity,
            price=price,
            notional=notional,
            origin=request.origin.value,
            client_id=request.client_id,
        )

    def _first_refusal(
        self,
        req: OrderRequest,
        ctx: RiskContext,
        price: Decimal | None,
        notional: Decimal | None,
    ) -> tuple[str, str] | None:
        lim = self.limits
        if ctx.kill_switch:
            return "kill_switch", "the kill switch is on: no new orders until it is turned off"
        if ctx.mode == "live" and not ctx.armed:
            return "live_not_armed", "live trading is not armed: arm it, or place this on paper"
        rules = ctx.rules
        if rules is None:
            return "unknown_symbol", _unknown_symbol(req.symbol, ctx.known_symbols)
        try:
            split_symbol(rules.symbol)
        except OrderInputError as error:
            return "unknown_symbol", str(error)
        refusal = _unreadable_rules(rules)
        if refusal:
            return "market_rules", refusal
        qty = req.quantity
        if not _readable(qty) or qty <= ZERO:
            return "quantity", f"quantity must be a positive number, got {_plain(qty)}"
        limit = req.limit_price
        if req.type is OrderType.LIMIT and (limit is None or not _usable(limit)):
            shown = "none" if limit is None else _plain(limit)
            return "limit_price", f"a limit order needs a positive limit price, got {shown}"
        if req.type is OrderType.MARKET and limit is not None:
            return "limit_price", (
                f"a market order takes no limit price, got {_plain(limit)}; "
                "place a limit order to trade at that price or better"
            )
        refusal = _unreadable_context(req.side, ctx)
        if refusal:
            return "unreadable", refusal
        refusal = _precision(req, rules)
        if refusal:
            return "precision", refusal
        if rules.min_amount is not None and qty < rules.min_amount:
            return "min_amount", (
                f"{_plain(qty)} is below {req.symbol}'s minimum amount of "
                f"{_plain(rules.min_amount)} {rules.base}"
            )
        if rules.min_notional is not None and notional is not None and price is not None:
            if notional < rules.min_notional:
                least = _to_step(rules.min_notional / price, rules.amount_step, up=True)
                return "min_notional", (
                    f"{_plain(notional)} {rules.quote} is below {req.symbol}'s minimum order of "
                    f"{_plain(rules.min_notional)} {rules.quote}; at least {_plain(least)} "
                    f"{rules.base} at {_plain(price)} would pass"
                )
        reference = _reference(req.side, ctx)
        if reference is None or not _usable(reference) or ctx.quote_ts is None:
            return "stale_quote", f"no quote for {req.symbol} yet; wait for one before trading"
        age = (ctx.now - ctx.quote_ts).total_seconds()
        if age > lim.stale_quote_seconds:
            return "stale_quote", (
                f"the quote for {req.symbol} is {round(age, 1):g} s old (limit "
                f"{lim.stale_quote_seconds:g} s); wait for a fresh one"
            )
        if limit is not None:
            refusal = _limit_distance(req.side, limit, reference, lim, rules)
            if refusal:
                return "limit_price", refusal
        # Both are known from here: the limit was checked positive, the quote usable.
        price = reference if limit is None else limit
        notional = qty * price
        if notional > lim.max_order_notional:
            most = _to_step(lim.max_order_notional / price, rules.amount_step)
            return "max_order_notional", (
                f"{_plain(notional)} {rules.quote} is over the "
                f"{_plain(lim.max_order_notional)} {rules.quote} limit per order; "
                f"{_at_most(most, rules)} at {_plain(price)} would pass"
            )
        refusal = _funds(req, ctx, rules, price, notional)
        if refusal:
            return "insufficient_funds", refusal
        if req.side is Side.BUY:
            refusal = _position(ctx, lim, rules, price, notional)
            if refusal:
                return "max_position", refusal
            refusal = _daily_loss(ctx, lim, rules)
            if refusal:
                return "daily_loss", refusal
        if (
            limit is not None
            and ctx.open_orders >= lim.max_open_orders
            and _rests(req.side, limit, ctx)
        ):
            return "max_open_orders", (
                f"{ctx.open_orders} orders are open (limit {lim.max_open_orders}); "
                "cancel one to place another resting order"
            )
        refusal = _rate(ctx, lim)
        if refusal:
            return "order_rate", refusal
        return None


def _plain(amount: Decimal) -> str:
    """A Decimal as people write it: no exponent, no trailing zeros."""
    if not amount.is_finite():
        return str(amount)
    if abs(amount) >= Decimal("1e15"):
        return f"{amount:.3e}"  # an absurd figure is read at a glance, not counted in digits
    return f"{amount.normalize():f}"


def _pct(value: Decimal) -> str:
    return f"{_plain(Decimal(f'{value:.2f}'))}%"


def _readable(value: Decimal) -> bool:
    """Finite, and zero or within 10^±_MAGNITUDE: a figure the rules can compute with."""
    if not value.is_finite():
        return False
    return value.is_zero() or -_MAGNITUDE <= value.adjusted() <= _MAGNITUDE


def _usable(price: Decimal) -> bool:
    return _readable(price) and price > ZERO


def _unreadable_rules(rules: MarketRules) -> str | None:
    """The venue's rules for the symbol, when one of them is no number the guard can use."""
    figures = {
        "amount step": rules.amount_step,
        "price step": rules.price_step,
        "minimum amount": rules.min_amount,
        "minimum notional": rules.min_notional,
    }
    for what, value in figures.items():
        if value is not None and (not _readable(value) or value < ZERO):
            return f"{rules.symbol}'s {what} from the venue is {value}, not a usable figure"
    for what, rate in (("taker fee", rules.taker_fee), ("maker fee", rules.maker_fee)):
        # A rebate is a negative rate; a rate of -1 or below would pay the whole order back.
        if not _readable(rate) or not -_ONE < rate < _ONE:
            return f"{rules.symbol}'s {what} from the venue is {rate}, not a rate from -1 to 1"
    return None


def _unreadable_context(side: Side, ctx: RiskContext) -> str | None:
    """A figure or time the rules for ``side`` compare, when the guard cannot compare it."""
    if side is Side.BUY:
        figures = {
            "cash available": ctx.quote_available,
            "equity": ctx.equity,
            "equity at the start of the day": ctx.day_start_equity,
            "position's value": ctx.position_value,
        }
    else:
        figures = {"holdings available": ctx.base_available}
    for what, value in figures.items():
        if not _readable(value):
            return f"the book's {what} is {value}, not a number; no {side.value} passes until it is"
    for what, moment in (("the clock", ctx.now), ("the quote's time", ctx.quote_ts)):
        if moment is not None and moment.utcoffset() is None:
            return _naive(what, moment)
    for moment in ctx.recent_orders:  # as many as a minute's orders: one pass, nothing built
        if moment is not None and moment.utcoffset() is None:
            return _naive("a recent order's time", moment)
    return None


def _naive(what: str, moment: datetime) -> str:
    return f"{what} {moment.isoformat()} has no time zone; the guard compares aware times"


def _reference(side: Side, ctx: RiskContext) -> Decimal | None:
    """The market price an order of ``side`` trades against: the ask for a buy, bid for a sell."""
    quoted = ctx.ask if side is Side.BUY else ctx.bid
    return quoted if quoted is not None else ctx.last


def _estimate(req: OrderRequest, ctx: RiskContext) -> Decimal | None:
    """The price the order is valued at (its limit, else the quote); None when not usable."""
    price = req.limit_price if req.type is OrderType.LIMIT else _reference(req.side, ctx)
    return price if price is not None and _usable(price) else None


def _notional(quantity: Decimal, price: Decimal | None) -> Decimal | None:
    return quantity * price if price is not None and _readable(quantity) else None


def _to_step(value: Decimal, step: Decimal | None, *, up: bool = False) -> Decimal:
    """``value`` rounded to a multiple of ``step``, exactly: no context precision applies."""
    step = step if step else _HINT_STEP
    ratio = Fraction(value) / Fraction(step)
    count = math.ceil(ratio) if up else math.floor(ratio)
    with localcontext() as ctx:
        ctx.prec = len(str(abs(count))) + len(step.as_tuple().digits) + 2
        return Decimal(count) * step


def _off_step(value: Decimal, step: Decimal) -> bool:
    try:
        return value % step != 0
    except InvalidOperation:  # the quotient has more digits than the context keeps
        return Fraction(value) % Fraction(step) != 0


def _unknown_symbol(symbol: str, known: Sequence[str]) -> str:
    message = f"{symbol} is not traded on this venue"
    by_upper = {s.upper(): s for s in known}
    close = get_close_matches(symbol.upper(), list(by_upper), n=3, cutoff=0.6)
    if close:
        message += "; did you mean " + " or ".join(by_upper[c] for c in close) + "?"
    return message


def _precision(req: OrderRequest, rules: MarketRules) -> str | None:
    qty, step = req.quantity, rules.amount_step
    if step and _off_step(qty, step):
        fits = _to_step(qty, step)
        what = f"{_plain(qty)} is not a multiple of {_plain(step)}"
        if step.normalize().as_tuple().digits == (1,):  # a power of ten: count decimals
            what = f"{_plain(qty)} has {len(_plain(qty).partition('.')[2])} decimals"
        hint = f"{_plain(fits)} would pass" if fits else f"the smallest is {_plain(step)}"
        return f"{what}; {req.symbol} trades in steps of {_plain(step)} — {hint}"
    limit, tick = req.limit_price, rules.price_step
    if limit is not None and tick and _off_step(limit, tick):
        below, above = _to_step(limit, tick), _to_step(limit, tick, up=True)
        return (
            f"limit price {_plain(limit)} is not on {req.symbol}'s price step of {_plain(tick)}"
            f" — {_plain(below)} or {_plain(above)} would pass"
        )
    return None


def _limit_distance(
    side: Side, limit: Decimal, market: Decimal, lim: RiskLimits, rules: MarketRules
) -> str | None:
    band = market * lim.max_limit_distance_pct / _HUNDRED
    low, high = market - band, market + band
    if low <= limit <= high:
        return None
    away = (limit - market) / market * _HUNDRED
    where = "above" if away > 0 else "below"
    quoted = "ask" if side is Side.BUY else "bid"
    # Offer prices the venue accepts: the band's ends moved inward onto the price step.
    low = _to_step(low, rules.price_step, up=True) if rules.price_step else low
    high = _to_step(high, rules.price_step) if rules.price_step else high
    return (
        f"limit {_plain(limit)} is {_pct(abs(away))} {where} the {quoted} {_plain(market)}; "
        f"limits within {_plain(lim.max_limit_distance_pct)}% of the market pass: "
        f"{_plain(low)} to {_plain(high)}"
    )


def _at_most(quantity: Decimal, rules: MarketRules) -> str:
    if quantity <= ZERO:
        return "no quantity"
    return f"at most {_plain(quantity)} {rules.base}"


def _fee_rate(req: OrderRequest, rules: MarketRules) -> Decimal:
    # A limit order may fill as taker now or as maker later; the paper broker holds funds for
    # the dearer of the two, so the guard must not allow less.
    if req.type is OrderType.LIMIT:
        return max(rules.taker_fee, rules.maker_fee)
    return rules.taker_fee


def _funds(
    req: OrderRequest, ctx: RiskContext, rules: MarketRules, price: Decimal, notional: Decimal
) -> str | None:
    if req.side is Side.BUY:
        rate = _ONE + _fee_rate(req, rules)
        needed = notional * rate
        if needed <= ctx.quote_available:
            return None
        most = _to_step(max(ctx.quote_available, ZERO) / (price * rate), rules.amount_step)
        return (
            f"needs {_plain(needed)} {rules.quote} with fees, {_plain(ctx.quote_available)} "
            f"{rules.quote} available; {_at_most(most, rules)} at {_plain(price)} would pass"
        )
    if req.quantity <= ctx.base_available:
        return None
    most = _to_step(max(ctx.base_available, ZERO), rules.amount_step)
    return (
        f"selling {_plain(req.quantity)} {rules.base} but {_plain(ctx.base_available)} "
        f"{rules.base} available; {_at_most(most, rules)} would pass"
    )


def _position(
    ctx: RiskContext, lim: RiskLimits, rules: MarketRules, price: Decimal, notional: Decimal
) -> str | None:
    if ctx.equity <= ZERO:
        return f"equity is {_plain(ctx.equity)} {rules.quote}; no position can be added"
    after = (ctx.position_value + notional) / ctx.equity * _HUNDRED
    if after <= lim.max_position_pct:
        return None
    room = ctx.equity * lim.max_position_pct / _HUNDRED - ctx.position_value
    most = _to_step(max(room, ZERO) / price, rules.amount_step)
    return (
        f"{rules.base} would be {_pct(after)} of equity (limit {_plain(lim.max_position_pct)}%); "
        f"{_at_most(most, rules)} at {_plain(price)} would pass"
    )


def _daily_loss(ctx: RiskContext, lim: RiskLimits, rules: MarketRules) -> str | None:
    start = ctx.day_start_equity
    if start <= ZERO or ctx.equity >= start * (_ONE - lim.daily_loss_pct / _HUNDRED):
        return None
    loss = start - ctx.equity
    return (
        f"equity is down {_plain(loss)} {rules.quote} ({_pct(loss / start * _HUNDRED)}) since "
        f"the day began (limit {_plain(lim.daily_loss_pct)}%); only sells pass until the next day starts"
    )


def _rests(side: Side, limit: Decimal, ctx: RiskContext) -> bool:
    """Whether a limit order would rest: it does not cross the best opposite price."""
    if side is Side.BUY:
        return ctx.ask is None or limit < ctx.ask
    return ctx.bid is None or limit > ctx.bid


def _rate(ctx: RiskContext, lim: RiskLimits) -> str | None:
    since = ctx.now - _WINDOW
    recent = [t for t in ctx.recent_orders if t > since]
    if len(recent) < lim.max_orders_per_minute:
        return None
    # The window frees a slot when the oldest order that keeps it full falls out of it.
    recent.sort()
    frees = recent[len(recent) - lim.max_orders_per_minute] + _WINDOW - ctx.now
    return (
        f"{len(recent)} orders in the last 60 s (limit {lim.max_orders_per_minute}); "
        f"the next one passes in {math.ceil(frees.total_seconds())} s"
    )
