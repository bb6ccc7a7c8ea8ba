"""Backtests, promotion and deployed strategies: backtest → (gate) → paper, each a human step.

A deployed strategy trades on paper through the trader, so through the risk guard. Its orders
carry a client id made from the deployment and the bar that decided them, so running the same
bar twice (a retry, a restart after a crash) never sends a second order.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from sqlalchemy import select, update

from engine.api import BacktestView, DeploymentView, StrategyInfo
from engine.trading.backtest import BacktestResult, GovernanceGate, run_backtest
from engine.trading.bars import Bars
from engine.trading.model import ZERO, OrderRequest, Origin, Side
from engine.trading.strategies import describe, make
from engine.trading.trader import Trader, TradingError
from engine.trading.venue import BookUnavailable
from ledgers.database import Database
from ledgers.schema import BacktestRow, DeploymentRow
from ledgers.timeframes import bucket, seconds

_BACKTESTS = BacktestRow.__table__
_DEPLOYMENTS = DeploymentRow.__table__
CURVE_POINTS = 200
MAX_BARS = 2_000_000
BARS_KEPT_SECONDS = 30.0  # how long a past window's bars are reused between backtests


class NoBars(TradingError):
    """No stored candles on the engine's venue; says which other markets have them."""

    def __init__(
        self,
        symbol: str,
        timeframe: str,
        venue: str,
        elsewhere: dict[str, int],
        *,
        bounded: bool = False,
    ) -> None:
        self.venue = venue
        self.elsewhere = elsewhere
        when = " in that period" if bounded else ""
        text = f"no {timeframe} candles for {symbol} from {market_name(venue)}{when}"
        if elsewhere:
            text += "; " + ", ".join(f"{market_name(v)} has {n:,}" for v, n in elsewhere.items())
        super().__init__(text)


def market_name(venue: str) -> str:
    return "the simulated market" if venue == "sim" else venue


class Research:
    def __init__(
        self,
        db: Database,
        trader: Trader,
        venue: Callable[[], str],
        now: Callable[[], datetime],
        *,
        gate: GovernanceGate,
        slippage_bps: Decimal,
        allocation: Decimal,
    ) -> None:
        self.db = db
        self.trader = trader
        self.venue = venue
        self.now = now
        self.gate = gate
        self.slippage_bps = slippage_bps
        self.allocation = allocation
        self._curves: dict[str, tuple[tuple[datetime, float], ...]] = {}
        # Closed bars of a past window, kept briefly: a Lab study backtests one window five
        # times, and a year of bars read again each time is seconds the desk waits on.
        self._bars: dict[tuple[Any, ...], tuple[float, Bars]] = {}

    @staticmethod
    def strategies() -> list[StrategyInfo]:
        return [
            StrategyInfo(str(d["name"]), str(d["description"]), dict(d["params"]))  # type: ignore[call-overload]
            for d in describe()
        ]

    async def bars(
        self,
        symbol: str,
        timeframe: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        limit: int | None = None,
    ) -> Bars:
        """Stored closed bars of the engine's venue, oldest first (the newest ``limit``)."""
        from ledgers import queries

        step = seconds(timeframe)
        forming = bucket(self.now(), timeframe)
        end = forming if until is None else min(until, forming)
        if limit is not None:
            rows = await queries.recent_candles(self.db, self.venue(), symbol, timeframe, limit + 1)
            candles = [c for c in rows if c.ts < end and (since is None or c.ts >= since)]
        else:
            key = (self.venue(), symbol, timeframe, since, end)
            kept = self._bars.get(key)
            if kept is not None and time.monotonic() - kept[0] < BARS_KEPT_SECONDS:
                return kept[1]
            candles = []
            async for c in queries.iter_candles(
                self.db, symbol, timeframe, venue=self.venue(), since=since, until=end
            ):
                candles.append(c)
                if len(candles) > MAX_BARS:
                    raise TradingError(f"more than {MAX_BARS:,} bars: narrow --from/--to")
            bars = await asyncio.to_thread(Bars.from_candles, candles, symbol, timeframe, step)
            now = time.monotonic()
            self._bars = {k: v for k, v in self._bars.items() if now - v[0] < BARS_KEPT_SECONDS}
            self._bars[key] = (now, bars)
            return bars
        return Bars.from_candles(candles, symbol, timeframe, step)

    async def backtest(
        self,
        strategy: str,
        symbol: str,
        *,
        timeframe: str = "1h",
        params: Mapping[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        fee: Decimal | None = None,
        slippage_bps: Decimal | None = None,
        key: str | None = None,
    ) -> BacktestView:
        """Run, judge by the governance gate and keep one backtest. ``key`` names it: asked
        again, it is returned, not run twice (a resumed Lab run)."""
        built = make(strategy, params)
        backtest_id = _keyed_id(key) if key else None
        if backtest_id is not None and (found := await self._find(backtest_id)) is not None:
            return found
        bars = await self.bars(symbol, timeframe, since, until)
        if len(bars) == 0:
            raise await self._no_bars(symbol, timeframe, since, until)
        if fee is None:
            rules = self.trader.market.rules(symbol)
            fee = rules.taker_fee if rules is not None else Decimal("0.001")
        slip = self.slippage_bps if slippage_bps is None else slippage_bps
        result = await asyncio.to_thread(
            run_backtest, built, bars, cash=self.allocation, fee_rate=fee, slippage_bps=slip
        )
        return await self._keep(result, backtest_id)

    async def backtest_signal(
        self,
        symbol: str,
        timeframe: str,
        signal: Mapping[int, float],
        *,
        since: datetime,
        until: datetime,
        key: str | None = None,
    ) -> BacktestView:
        """Backtest targets given per bar (``SignalStrategy``) with the same fills, fees and
        gate as any strategy. ``key`` names the backtest: asked again, it is returned, not run
        twice (a resumed Lab run)."""
        from engine.trading.strategies import SignalStrategy

        backtest_id = _keyed_id(key) if key else None
        if backtest_id is not None and (found := await self._find(backtest_id)) is not None:
            return found
        bars = await self.bars(symbol, timeframe, since, until)
        if len(bars) == 0:
            raise await self._no_bars(symbol, timeframe, since, until)
        rules = self.trader.market.rules(symbol)
        fee = rules.taker_fee if rules is not None else Decimal("0.001")
        result = await asyncio.to_thread(
            run_backtest,
            SignalStrategy(signal),
            bars,
            cash=self.allocation,
            fee_rate=fee,
            slippage_bps=self.slippage_bps,
        )
        return await self._keep(result, backtest_id)

    async def _find(self, backtest_id: str) -> BacktestView | None:
        try:
            return await self.get(backtest_id)
        except TradingError:
            return None

    async def _no_bars(
        self, symbol: str, timeframe: str, since: datetime | None, until: datetime | None
    ) -> NoBars:
        """Say where candles of this symbol are, when the engine's venue has none."""
        from ledgers import queries

        venue = self.venue()
        found = await queries.candle_venues(self.db, symbol, timeframe, since=since, until=until)
        elsewhere = {v: n for v, n in found.items() if v != venue}
        bounded = since is not None or until is not None
        return NoBars(symbol, timeframe, venue, elsewhere, bounded=bounded)

    async def _keep(self, result: BacktestResult, backtest_id: str | None = None) -> BacktestView:
        verdict = self.gate.evaluate(result)
        backtest_id = backtest_id or "bt-" + uuid.uuid4().hex[:12]
        metrics = result.metrics.to_json()
        metrics.update(
            fee_rate=str(result.fee_rate), slippage_bps=str(result.slippage_bps), bars=result.bars
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(
                _BACKTESTS.insert().values(
                    id=backtest_id,
                    strategy=result.strategy,
                    symbol=result.symbol,
                    timeframe=result.timeframe,
                    params=dict(result.params),
                    ran_at=self.now(),
                    start=result.start,
                    end=result.end,
                    metrics=metrics,
                    gate_passed=verdict.passed,
                    gate_reasons=list(verdict.reasons),
                )
            )
        self._curves[backtest_id] = tuple(result.equity_points(CURVE_POINTS))
        return await self.get(backtest_id)

    async def get(self, backtest_id: str) -> BacktestView:
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(select(_BACKTESTS).where(_BACKTESTS.c.id == backtest_id))
            ).first()
        if row is None:
            raise TradingError(f"no backtest {backtest_id}")
        return self._view(row)

    async def backtests(self, limit: int = 50) -> list[BacktestView]:
        query = select(_BACKTESTS).order_by(_BACKTESTS.c.ran_at.desc()).limit(limit)
        async with self.db.engine.connect() as conn:
            return [self._view(r) for r in await conn.execute(query)]

    def _view(self, row: Any) -> BacktestView:
        return BacktestView(
            id=row.id,
            strategy=row.strategy,
            symbol=row.symbol,
            timeframe=row.timeframe,
            params=dict(row.params),
            start=row.start,
            end=row.end,
            bars=int(row.metrics.get("bars", 0)),
            metrics=dict(row.metrics),
            gate_passed=row.gate_passed,
            gate_reasons=tuple(row.gate_reasons),
            equity=self._curves.get(row.id, ()),
            promoted_at=row.promoted_at,
        )

    async def promote(self, backtest_id: str, by: str = "user") -> BacktestView:
        """A human's decision to paper-trade a strategy; the governance gate must have passed."""
        view = await self.get(backtest_id)
        if not view.gate_passed:
            raise TradingError(
                f"{backtest_id} did not pass the governance gate: {'; '.join(view.gate_reasons)}"
            )
        if view.promoted_at is None:
            async with self.db.engine.begin() as conn:
                await conn.execute(
                    update(_BACKTESTS)
                    .where(_BACKTESTS.c.id == backtest_id)
                    .values(promoted_at=self.now(), promoted_by=by)
                )
        return await self.get(backtest_id)

    async def deploy(self, backtest_id: str, allocation: Decimal | None = None) -> DeploymentView:
        view = await self.get(backtest_id)
        if view.promoted_at is None:
            raise TradingError(f"{backtest_id} is not promoted: promote it to paper first")
        amount = self.allocation if allocation is None else allocation
        if amount <= 0:
            raise TradingError(f"allocation must be positive, got {amount}")
        name = f"{view.strategy}:{view.symbol}:{view.timeframe}"
        book = self.trader.book
        values = {
            "strategy": view.strategy,
            "symbol": view.symbol,
            "timeframe": view.timeframe,
            "params": dict(view.params),
            "allocation": amount,
            "backtest_id": backtest_id,
            "active": True,
            "deployed_at": self.now(),
        }
        async with self.db.engine.begin() as conn:
            found = (
                await conn.execute(select(_DEPLOYMENTS.c.name).where(*_key(book, name)))
            ).first()
            if found:
                await conn.execute(update(_DEPLOYMENTS).where(*_key(book, name)).values(**values))
            else:
                await conn.execute(_DEPLOYMENTS.insert().values(book=book, name=name, **values))
        return await self.deployment(name)

    async def undeploy(self, name: str) -> DeploymentView:
        await self.deployment(name)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(_DEPLOYMENTS).where(*_key(self.trader.book, name)).values(active=False)
            )
        return await self.deployment(name)

    async def deployment(self, name: str) -> DeploymentView:
        """One deployment of the current book."""
        async with self.db.engine.connect() as conn:
            query = select(_DEPLOYMENTS).where(*_key(self.trader.book, name))
            row = (await conn.execute(query)).first()
        if row is None:
            raise TradingError(f"no deployment {name!r} in the {self.trader.book} book")
        return _deployment_view(row)

    async def deployments(self) -> list[DeploymentView]:
        """The current book's deployments, newest first."""
        query = (
            select(_DEPLOYMENTS)
            .where(_DEPLOYMENTS.c.book == self.trader.book)
            .order_by(_DEPLOYMENTS.c.deployed_at.desc())
        )
        async with self.db.engine.connect() as conn:
            return [_deployment_view(r) for r in await conn.execute(query)]

    # -- the runner ------------------------------------------------------------------------

    async def run_deployments(self) -> int:
        """Trade each active deployment on its newest closed bar (the ``trading.strategies`` job)."""
        placed = 0
        for deployment in await self.deployments():
            if deployment.active:
                placed += await self._step(deployment)
        return placed

    async def _step(self, d: DeploymentView) -> int:
        strategy = make(d.strategy, {k: str(v) for k, v in d.params.items()})
        # Stateful signals (RSI, breakout) need a long run-in to agree with the backtest.
        bars = await self.bars(d.symbol, d.timeframe, limit=max(strategy.warmup * 5, 300))
        if len(bars) < strategy.warmup + 1:
            return 0
        decided_at = bars.time(-1)
        if d.last_bar is not None and decided_at <= d.last_bar:
            return 0
        target = float(strategy.targets(bars)[-1])
        held = await self._held(d.name)
        order: OrderRequest | None = None
        client_id = _client_id(d.book, d.name, decided_at)
        side, quantity = None, ZERO
        if target > 0.5 and held == ZERO:
            side, quantity = Side.BUY, await self._quantity(d)
        elif target <= 0.5 and held > ZERO:
            side, quantity = Side.SELL, held
        if side is not None and quantity > ZERO:
            order = OrderRequest(
                d.symbol,
                side,
                quantity,
                origin=Origin.STRATEGY,
                client_id=client_id,
                strategy=d.name,
            )
            await self.trader.place(order)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(_DEPLOYMENTS).where(*_key(d.book, d.name)).values(last_bar=decided_at)
            )
        return 1 if order is not None else 0

    async def _held(self, name: str) -> Decimal:
        """What a deployment holds: the net of its own fills."""
        held = ZERO
        for order in await self.trader.store.orders(self.trader.book, limit=None):
            if order.strategy == name:
                held += order.filled if order.side is Side.BUY else -order.filled
        return held

    async def _quantity(self, d: DeploymentView) -> Decimal:
        """What the allocation buys at the ask, in the venue's amount steps."""
        rules = self.trader.market.rules(d.symbol)
        if rules is None:
            return ZERO
        quote = self.trader.market.quote(d.symbol)
        ask = quote.ask if quote is not None else None
        if ask is None:  # a symbol off the watchlist has no polled quote: ask the book
            try:
                ask = (await self.trader.market.book(d.symbol)).best_ask
            except BookUnavailable:
                return ZERO
        if ask is None or ask <= 0:
            return ZERO
        quantity = d.allocation / (ask * (1 + rules.taker_fee))
        step = rules.amount_step or Decimal("0.00000001")
        return (quantity / step).to_integral_value(ROUND_DOWN) * step


def _client_id(book: str, name: str, decided_at: datetime) -> str:
    key = f"{book}|{name}|{decided_at.isoformat()}"
    return f"strat-{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _key(book: str, name: str) -> tuple[Any, Any]:
    return _DEPLOYMENTS.c.book == book, _DEPLOYMENTS.c.name == name


def _deployment_view(row: Any) -> DeploymentView:
    return DeploymentView(
        name=row.name,
        strategy=row.strategy,
        symbol=row.symbol,
        timeframe=row.timeframe,
        params=dict(row.params),
        allocation=row.allocation,
        active=row.active,
        deployed_at=row.deployed_at,
        backtest_id=row.backtest_id,
        last_bar=row.last_bar,
        book=row.book,
    )


def _keyed_id(key: str) -> str:
    """A backtest id made from a caller's key: the same key, the same id."""
    return "bt-" + hashlib.sha256(key.encode()).hexdigest()[:12]
