"""Cash per currency and holdings as lots: what fills do to them, and what they are worth.

Lots are kept per symbol ("BTC/AUD"): a cost base is a number in one quote currency, so BTC
bought with AUD and BTC bought with USDT are separate holdings. A sell consumes the lots of its
own symbol, oldest first, and each lot it touches becomes one ``Disposal``.

Arithmetic is exact. Sums and differences run with enough precision never to round; the only
divisions (a share of a lot's cost, a share of a sale's proceeds) are rounded to at least 18
decimals, and the last share takes the remainder, so totals never leak: the disposals' proceeds
add up to the sale's net proceeds and the cost leaving the lots is exactly the disposals' cost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from enum import StrEnum

from engine.trading.model import ZERO, Disposal, Fill, Lot, Position, Side

# Wide enough that no sum or difference of money in this module is ever rounded.
_EXACT = Context(
    prec=80, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_ONE = Decimal(1)
_FINEST_SHARE = -18  # shares of a cost or proceeds are rounded to at least this exponent


class CostMethod(StrEnum):
    FIFO = "fifo"
    AVERAGE = "average"


class InsufficientHoldings(Exception):
    """A fill would leave cash or holdings below zero; the portfolio refused it unchanged."""


@dataclass(frozen=True, slots=True)
class Mark:
    """The portfolio valued in one quote currency at a set of mark prices."""

    at_quote: str
    cash: Decimal
    market_value: Decimal  # positions at their mark, or at cost when unmarked
    unrealized: Decimal  # of the marked positions
    realized: Decimal
    equity: Decimal  # cash + market value
    unmarked: tuple[str, ...]  # symbols with no mark, valued at cost


@dataclass(slots=True)
class _Holding:
    """One symbol's open lots, oldest first, with running totals kept equal to their sums."""

    asset: str
    quote: str
    lots: deque[Lot] = field(default_factory=deque)
    quantity: Decimal = ZERO
    cost: Decimal = ZERO


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")
    return exponent


def _tidy(value: Decimal) -> Decimal:
    """Drop trailing zeros left by rounding to a fine exponent, without going to 1E+2 form."""
    value = value.normalize(_EXACT)
    return value.quantize(_ONE, context=_EXACT) if _exponent(value) > 0 else value


def _share(total: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """``total × part / whole``, rounded to a grid that ``total`` itself lies on.

    Because ``total`` is on the grid and rounding is monotone, a share of a non-negative total
    is never below zero nor above the total.
    """
    exponent = min(_FINEST_SHARE, _exponent(total))
    exact = _EXACT.divide(_EXACT.multiply(total, part), whole)
    return _tidy(exact.quantize(_ONE.scaleb(exponent), context=_EXACT))


def _split(total: Decimal, parts: Sequence[Decimal]) -> list[Decimal]:
    """Apportion ``total`` by ``parts``; the pieces add up to ``total`` exactly.

    Each piece is the difference of two rounded running shares, so pieces keep the total's sign.
    """
    whole = sum(parts, ZERO)
    pieces: list[Decimal] = []
    done = ZERO
    running = ZERO
    for i, part in enumerate(parts):
        running += part
        upto = total if i == len(parts) - 1 else _share(total, running, whole)
        pieces.append(_tidy(upto - done))
        done = upto
    return pieces


def _recost(lots: deque[Lot], cost: Decimal) -> None:
    """Spread ``cost`` over ``lots`` in proportion to quantity: the pooled average, in place."""
    pieces = _split(cost, [lot.quantity for lot in lots]) if lots else []
    for i, piece in enumerate(pieces):
        lots[i] = replace(lots[i], cost=piece)


def _insert_by_age(lots: deque[Lot], lot: Lot) -> None:
    """Place ``lot`` after every lot acquired at or before it (fills may arrive late)."""
    at = len(lots)
    while at and lots[at - 1].acquired_at > lot.acquired_at:
        at -= 1
    lots.insert(at, lot)


class Portfolio:
    """Cash per currency and lots per symbol, changed only by fills.

    FIFO (the default): a sell takes the oldest lots first and each disposal's cost base is the
    consumed part of its lot's own cost. AVERAGE: lots still keep their acquisition dates and
    quantities in FIFO order — the 12-month CGT discount is judged per lot — but every buy and
    sell re-costs the symbol's open lots to the pooled average unit cost, so a disposal's cost
    base is that average × the quantity sold.
    """

    def __init__(self, cash: Mapping[str, Decimal], method: CostMethod = CostMethod.FIFO) -> None:
        self.method = CostMethod(method)
        self._cash: dict[str, Decimal] = {}
        for currency, amount in cash.items():
            if not amount.is_finite() or amount < 0:
                raise ValueError(
                    f"starting cash in {currency} must be a finite amount not below zero,"
                    f" got {amount}"
                )
            self._cash[currency] = amount
        self._holdings: dict[str, _Holding] = {}
        self._realized: dict[str, Decimal] = {}
        self._realized_by_quote: dict[str, Decimal] = {}
        self._disposals: list[Disposal] = []
        self._fees = ZERO
        self._applied: set[str] = set()

    @classmethod
    def replay(
        cls,
        fills: Iterable[Fill],
        cash: Mapping[str, Decimal],
        method: CostMethod = CostMethod.FIFO,
    ) -> Portfolio:
        """Rebuild a portfolio from its starting cash and every fill since, in order."""
        portfolio = cls(cash, method)
        for fill in fills:
            portfolio.apply(fill)
        return portfolio

    # -- changes -------------------------------------------------------------------------

    def apply(self, fill: Fill) -> tuple[Disposal, ...]:
        """Book one fill; returns the disposals a sell made. A fill seen before is ignored."""
        if fill.fill_id in self._applied:
            return ()
        # A NaN would raise from the comparisons instead of being refused by name.
        finite = all(n.is_finite() for n in (fill.quantity, fill.price, fill.fee))
        if not finite or fill.quantity <= 0 or fill.price < 0 or fill.fee < 0:
            raise ValueError(
                f"fill {fill.fill_id}: quantity must be above zero and price and fee finite and"
                f" not below zero, got quantity {fill.quantity}, price {fill.price}, fee {fill.fee}"
            )
        if fill.ts.tzinfo is None:
            raise ValueError(f"fill {fill.fill_id}: timestamp {fill.ts} has no time zone")
        with localcontext(_EXACT):
            if fill.side is Side.BUY:
                disposals = self._buy(fill)
            else:
                disposals = self._sell(fill)
            self._fees += fill.fee
        self._applied.add(fill.fill_id)
        return disposals

    def _buy(self, fill: Fill) -> tuple[Disposal, ...]:
        cost = fill.gross + fill.fee
        cash = self._cash.get(fill.quote, ZERO) - cost
        if cash < 0:
            raise InsufficientHoldings(
                f"buy {fill.fill_id} costs {cost} {fill.quote}; only"
                f" {self._cash.get(fill.quote, ZERO)} {fill.quote} in cash"
            )
        # Nothing below can fail, so the state changes in place from here on.
        holding = self._holdings.setdefault(fill.symbol, _Holding(fill.base, fill.quote))
        _insert_by_age(
            holding.lots, Lot(fill.fill_id, fill.base, fill.quote, fill.ts, fill.quantity, cost)
        )
        holding.quantity += fill.quantity
        holding.cost += cost
        if self.method is CostMethod.AVERAGE:
            _recost(holding.lots, holding.cost)
        self._cash[fill.quote] = cash
        return ()

    def _sell(self, fill: Fill) -> tuple[Disposal, ...]:
        holding = self._holdings.get(fill.symbol)
        held = holding.quantity if holding else ZERO
        if holding is None or fill.quantity > held:
            raise InsufficientHoldings(
                f"sell {fill.fill_id} of {fill.quantity} {fill.base} on {fill.symbol}:"
                f" only {held} held"
            )
        net = fill.gross - fill.fee
        cash = self._cash.get(fill.quote, ZERO) + net
        if cash < 0:
            raise InsufficientHoldings(
                f"sell {fill.fill_id}: its fee {fill.fee} exceeds the proceeds and cash in"
                f" {fill.quote}"
            )
        taken: list[tuple[Lot, Decimal]] = []
        left = fill.quantity
        for lot in holding.lots:
            if left == 0:
                break
            quantity = min(lot.quantity, left)
            taken.append((lot, quantity))
            left -= quantity
        quantities = [quantity for _, quantity in taken]

        if self.method is CostMethod.AVERAGE:
            removed = (
                holding.cost
                if fill.quantity == holding.quantity
                else _share(holding.cost, fill.quantity, holding.quantity)
            )
            costs = _split(removed, quantities)
        else:
            costs = [
                lot.cost if quantity == lot.quantity else _share(lot.cost, quantity, lot.quantity)
                for lot, quantity in taken
            ]
            removed = sum(costs, ZERO)
        proceeds = _split(net, quantities)

        disposals = tuple(
            Disposal(
                fill_id=fill.fill_id,
                lot_id=lot.lot_id,
                asset=fill.base,
                quote=fill.quote,
                acquired_at=lot.acquired_at,
                disposed_at=fill.ts,
                quantity=quantity,
                cost_base=cost,
                proceeds=proceed,
            )
            for (lot, quantity), cost, proceed in zip(taken, costs, proceeds, strict=True)
        )
        # Nothing below can fail, so the state changes in place from here on.
        for _ in taken:
            holding.lots.popleft()
        last, last_quantity = taken[-1]
        if last_quantity < last.quantity:
            left_over = replace(
                last, quantity=last.quantity - last_quantity, cost=last.cost - costs[-1]
            )
            holding.lots.appendleft(left_over)
        holding.quantity -= fill.quantity
        holding.cost -= removed
        if self.method is CostMethod.AVERAGE:
            _recost(holding.lots, holding.cost)
        gain = net - removed
        self._cash[fill.quote] = cash
        self._realized[fill.symbol] = self._realized.get(fill.symbol, ZERO) + gain
        self._realized_by_quote[fill.quote] = self._realized_by_quote.get(fill.quote, ZERO) + gain
        self._disposals.extend(disposals)
        return disposals

    # -- reading -------------------------------------------------------------------------

    @property
    def cash(self) -> dict[str, Decimal]:
        return dict(self._cash)

    def lots(self, asset: str | None = None) -> list[Lot]:
        """Open lots, by symbol and then oldest first; only ``asset``'s when given."""
        return [
            lot
            for symbol in sorted(self._holdings)
            if asset is None or self._holdings[symbol].asset == asset
            for lot in self._holdings[symbol].lots
        ]

    def holdings(self, asset: str, quote: str) -> Decimal:
        holding = self._holdings.get(f"{asset}/{quote}")
        return holding.quantity if holding else ZERO

    def held(self, asset: str) -> Decimal:
        """How much of ``asset`` the book holds, whatever it was bought with."""
        return sum((h.quantity for h in self._holdings.values() if h.asset == asset), ZERO)

    def realized(self, symbol: str | None = None) -> Decimal:
        """Realized PnL, fees included, of one symbol or of all of them."""
        if symbol is not None:
            return self._realized.get(symbol, ZERO)
        return sum(self._realized.values(), ZERO)

    @property
    def fees_paid(self) -> Decimal:
        """Every fill's fee added up, each in its own quote currency."""
        return self._fees

    @property
    def disposals(self) -> list[Disposal]:
        return list(self._disposals)

    @property
    def symbols(self) -> list[str]:
        """Symbols with open lots or with realized PnL."""
        return sorted(
            symbol
            for symbol, holding in self._holdings.items()
            if holding.quantity > 0 or symbol in self._realized
        )

    def positions(self, marks: Mapping[str, Decimal]) -> list[Position]:
        """One position per symbol with an open quantity, at its mark when ``marks`` has one."""
        return [
            Position(
                symbol=symbol,
                asset=holding.asset,
                quote=holding.quote,
                quantity=holding.quantity,
                cost=holding.cost,
                realized=self._realized.get(symbol, ZERO),
                mark=marks.get(symbol),
            )
            for symbol, holding in sorted(self._holdings.items())
            if holding.quantity > 0
        ]

    def mark(self, marks: Mapping[str, Decimal], quote: str) -> Mark:
        """Value the cash and positions held in ``quote``; unmarked positions count at cost."""
        market_value = ZERO
        unrealized = ZERO
        unmarked: list[str] = []
        for symbol, holding in self._holdings.items():
            if holding.quote != quote or not holding.quantity:
                continue
            price = marks.get(symbol)
            if price is None:
                market_value += holding.cost
                unmarked.append(symbol)
            else:
                value = price * holding.quantity
                market_value += value
                unrealized += value - holding.cost
        cash = self._cash.get(quote, ZERO)
        return Mark(
            at_quote=quote,
            cash=cash,
            market_value=market_value,
            unrealized=unrealized,
            realized=self._realized_by_quote.get(quote, ZERO),
            equity=cash + market_value,
            unmarked=tuple(sorted(unmarked)),
        )
