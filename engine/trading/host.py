"""Trading inside an engine: the trader and its jobs, and the EngineAPI's trading commands."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from engine.api import LotView, OrderPreview, OrderResult, TradingView
from engine.config import Settings, normalize_symbol
from engine.events import Event, OrderEvent
from engine.jobs import JobRunner
from engine.sections import Secret
from engine.trading.books import book_id
from engine.trading.messages import fill_event, order_event
from engine.trading.model import ZERO, OrderRequest, OrderState
from engine.trading.portfolio import CostMethod
from engine.trading.research import Research
from engine.trading.store import TradingStore
from engine.trading.trader import Trader, TradingError
from engine.trading.venue import FeedMarket
from engine.trading.views import lot_view, position_view
from ledgers.database import Database

# Live trading's API key and secret: the vault's (pydantic's secret text) or the config's.
VenueKeys = tuple[Secret | SecretStr, Secret | SecretStr]

log = logging.getLogger("omc.trading")


class TradingHost:
    """Owns the trader of one engine's current book and translates between it and the EngineAPI.

    The book follows the market: the simulated market and each venue keep their own paper
    book, so when the engine's feed switches market the host opens that market's book.
    """

    def __init__(
        self,
        settings: Settings,
        db: Database,
        feed: Callable[[], Any],
        publish: Callable[[Event], None],
        now: Callable[[], datetime],
        *,
        venue_keys: VenueKeys | None = None,
    ) -> None:
        t = settings.trading
        self.settings = settings
        self._venue_keys = venue_keys
        self.db = db
        self.store = TradingStore(db)
        self.market = FeedMarket(
            feed, taker_fee=t.taker_fee, maker_fee=t.maker_fee, depth=settings.market.book_depth
        )
        self.publish = publish
        self.now = now
        self.trader = self._make_trader()
        self.research = Research(
            db,
            self.trader,
            lambda: feed().venue,
            now,
            gate=t.gate(),
            slippage_bps=t.slippage_bps,
            allocation=t.allocation,
        )

    def _make_trader(self) -> Trader:
        t = self.settings.trading
        options: dict[str, Any] = {
            "limits": t.limits(),
            "starting_cash": t.starting_cash,
            "quote": self.settings.market.quote,
            "method": CostMethod(t.cost_method),
        }
        if t.mode == "live" and not self.market.simulated:
            from engine.trading.live_trader import LiveTrader

            broker = live_broker(self.settings, self.now, self._venue_keys)
            return LiveTrader(
                self.store, self.market, self.publish, self.now, broker=broker, **options
            )
        if t.mode == "live":
            raise TradingError("live trading needs the venue's market data, not the simulator")
        return Trader(self.store, self.market, self.publish, self.now, **options)

    @property
    def book(self) -> str:
        return self.trader.book

    async def open(self) -> None:
        await self.trader.open()

    async def follow_market(self) -> None:
        """Open the book of the market the feed now shows (after a switch of market)."""
        if book_id(self.trader.mode, self.market.venue) == self.trader.book:
            return
        async with self.trader._lock:  # an order in flight finishes in the book it began in
            trader = self._make_trader()
            await trader.open()
            self.trader = trader
            self.research.trader = trader

    def install_jobs(self, jobs: JobRunner) -> None:
        t = self.settings.trading
        jobs.add(
            "trading.orders",
            self.trader.check_orders,
            t.orders_seconds,
            "fill resting paper orders the market has crossed",
        )
        jobs.add("trading.mark", self.trader.record_mark, t.mark_seconds, "mark the book to market")
        jobs.add(
            "trading.strategies",
            self.research.run_deployments,
            t.strategy_seconds,
            "trade deployed strategies on their newest closed bar",
        )

    # -- commands --------------------------------------------------------------------------

    def request(
        self,
        symbol: str,
        side: str,
        quantity: object,
        limit_price: object | None = None,
        *,
        client_id: str | None = None,
        origin: str = "manual",
        strategy: str | None = None,
        expires_at: datetime | None = None,
    ) -> OrderRequest:
        try:
            symbol = normalize_symbol(symbol, self.settings.market.quote)
        except ValueError as exc:
            from engine.trading.model import OrderInputError

            raise OrderInputError(str(exc)) from None
        return OrderRequest.parse(
            symbol,
            side,
            quantity,
            limit_price,
            origin=origin,
            client_id=client_id,
            strategy=strategy,
            expires_at=expires_at,
        )

    async def place(self, request: OrderRequest) -> OrderResult:
        result = await self.trader.place(request)
        order = order_event(result.order)
        fills = tuple(fill_event(f, result.order.book) for f in result.fills)
        if result.decision is None:
            # The stored order, in its real state: a repeat of a refused or unsent order is
            # not a success, whoever repeats it.
            stored_ok = result.order.state is not OrderState.REJECTED
            return OrderResult(order, stored_ok, "duplicate", _duplicate(result.order), fills)
        if result.order.state is OrderState.REJECTED:
            return OrderResult(order, False, result.decision.rule, result.order.reason or "", fills)
        return OrderResult(order, True, "ok", _summary(result.order), fills)

    async def preview(self, request: OrderRequest) -> OrderPreview:
        decision, execution = await self.trader.preview(request)
        preview = OrderPreview(
            symbol=request.symbol,
            side=request.side.value,
            quantity=request.quantity,
            limit_price=request.limit_price,
            allowed=decision.allowed,
            rule=decision.rule,
            message=decision.message,
            notional=decision.notional,
        )
        if execution is None:
            return preview
        fills = execution.fills
        qty = sum((f.quantity for f in fills), ZERO)
        gross = sum((f.gross for f in fills), ZERO)
        fee = sum((f.fee for f in fills), ZERO)
        slip = sum((f.slippage_bps * f.quantity for f in fills), ZERO) / qty if qty else None
        from dataclasses import replace

        return replace(
            preview,
            est_price=gross / qty if qty else None,
            est_quantity=qty,
            notional=gross if qty else preview.notional,
            fee=fee,
            slippage_bps=slip,
            rests=execution.order.state.working,
        )

    async def view(self, *, orders: int = 100, fills: int = 100) -> TradingView:
        working = [
            o
            for o in await self.store.orders(
                self.trader.book, states=[OrderState.OPEN, OrderState.PARTIALLY_FILLED], limit=None
            )
        ]
        recent = await self.store.orders(self.trader.book, limit=orders)
        seen = {o.client_id for o in working}
        listed = working + [o for o in recent if o.client_id not in seen]
        recent_fills = await self.store.fills(self.trader.book, limit=fills, newest_first=True)
        return TradingView(
            trading=self.trader.trading_event(),
            portfolio=self.trader.portfolio_event(),
            positions=tuple(position_view(p) for p in self.trader.positions()),
            orders=tuple(order_event(o) for o in listed[: max(orders, len(working))]),
            fills=tuple(fill_event(f, self.trader.book) for f in recent_fills),
            tax_zone=self.settings.trading.tax_timezone,
        )

    async def orders(self, *, open_only: bool = False, limit: int = 200) -> list[OrderEvent]:
        states = [OrderState.OPEN, OrderState.PARTIALLY_FILLED] if open_only else None
        found = await self.store.orders(self.trader.book, states=states, limit=limit)
        return [order_event(o) for o in found]

    def lots(self) -> list[LotView]:
        tz = self.settings.trading.tax_timezone
        return [lot_view(lot, tz) for lot in self.trader.portfolio.lots()]

    def tax_report(self, fy: int) -> Any:
        from engine.trading.tax import tax_report

        return tax_report(
            self.trader.portfolio.disposals,
            fy,
            quote=self.settings.market.quote,
            tz=self.settings.trading.tax_timezone,
        )


def _summary(order: Any) -> str:
    """The order's outcome for people (the desk's toast, the command line): money to cents."""
    from engine import numbers

    side, symbol = order.side.value, order.symbol
    quote = symbol.partition("/")[2]
    if order.state is OrderState.FILLED:
        return (
            f"{side} {numbers.quantity(order.filled)} {symbol} filled at "
            f"{numbers.price(order.average_price)}, fee {numbers.money(order.fees)} {quote}"
        )
    if order.state.working:
        done = f", {numbers.quantity(order.filled)} filled" if order.filled else ""
        return (
            f"{side} {numbers.quantity(order.quantity)} {symbol} resting at "
            f"{numbers.price(order.limit_price)}{done}"
        )
    return f"{side} {symbol}: {order.state.value}" + (f" ({order.reason})" if order.reason else "")


def _duplicate(order: Any) -> str:
    state = order.state.value + (f": {order.reason}" if order.reason else "")
    return f"order {order.client_id} already exists ({state}); nothing new was sent"


async def venue_keys(settings: Settings, db: Database) -> VenueKeys | None:
    """Live trading's API key and secret: the vault's when it holds them (opened with
    ``OMC_VAULT_PASSPHRASE``, never asked for), else the configuration's, with a warning."""
    from engine import vault

    t = settings.trading
    if t.mode != "live":
        return None
    venue = settings.market.venue
    configured = None if t.api_key is None or t.api_secret is None else (t.api_key, t.api_secret)
    try:
        stored = await vault.venue_keys(db, venue)
    except vault.VaultError as exc:
        if configured is None:
            raise TradingError(
                f"live trading cannot open the vault's {venue} keys: {exc}"
            ) from None
        log.warning("the vault's %s keys stay locked (%s): using the configuration's", venue, exc)
        stored = None
    if stored is None and configured is not None:
        log.warning(
            "live trading takes its %s keys from [trading] api_key and api_secret in the "
            "configuration; move them into the vault: omc keys add %s, omc keys add %s",
            venue,
            *vault.venue_key_names(venue),
        )
    return stored if stored is not None else configured


def live_broker(settings: Settings, now: Callable[[], datetime], keys: VenueKeys | None) -> Any:
    """The venue's live broker, with the keys ``venue_keys`` found."""
    from engine.trading.live import LiveBroker, build_exchange
    from engine.vault import PASSPHRASE_ENV, venue_key_names

    venue = settings.market.venue
    if keys is None:
        key, secret = venue_key_names(venue)
        raise TradingError(
            f"live trading needs API keys: omc keys add {key} and {secret} (the engine opens "
            f"the vault with {PASSPHRASE_ENV}), or set [trading] api_key and api_secret"
        )
    api_key, api_secret = keys
    exchange = build_exchange(
        venue,
        api_key.get_secret_value(),
        api_secret.get_secret_value(),
        int(settings.market.timeout_seconds * 1000),
    )
    return LiveBroker(exchange, venue, now=now)
