"""The EngineAPI's trading commands for an in-process engine (mixed into ``LocalEngine``)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.api import (
    BacktestView,
    DeploymentView,
    InstrumentSteps,
    LotView,
    OrderPreview,
    OrderResult,
    StrategyInfo,
    TradingView,
)
from engine.events import FillEvent, OrderEvent

if TYPE_CHECKING:
    from engine.trading.host import TradingHost


class TradingUnavailable(Exception):
    """Trading has not started (storage is down or the book could not be loaded)."""


class TradingCommands:
    trading_host: TradingHost | None
    trading_error: str | None
    _trading_ready: asyncio.Event

    async def _host(self) -> TradingHost:
        await self._trading_ready.wait()
        if self.trading_host is None:
            raise TradingUnavailable(f"trading is not available: {self.trading_error}")
        return self.trading_host

    async def trading(self) -> TradingView:
        return await (await self._host()).view()

    async def preview_order(
        self, symbol: str, side: str, quantity: object, limit_price: object | None = None
    ) -> OrderPreview:
        host = await self._host()
        return await host.preview(host.request(symbol, side, quantity, limit_price))

    async def place_order(
        self,
        symbol: str,
        side: str,
        quantity: object,
        limit_price: object | None = None,
        *,
        client_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> OrderResult:
        host = await self._host()
        request = host.request(
            symbol, side, quantity, limit_price, client_id=client_id, expires_at=expires_at
        )
        return await host.place(request)

    async def cancel_order(self, client_id: str) -> OrderEvent:
        from engine.trading.messages import order_event

        host = await self._host()
        return order_event(await host.trader.cancel(client_id))

    async def cancel_all_orders(self) -> int:
        host = await self._host()
        return len(await host.trader.cancel_all())

    async def set_kill_switch(self, on: bool, *, cancel_all: bool = False) -> None:
        host = await self._host()
        reason = "from the desk" if on else ""
        await host.trader.set_kill_switch(on, cancel_all=cancel_all, reason=reason)

    async def orders(self, *, open_only: bool = False, limit: int = 200) -> list[OrderEvent]:
        return await (await self._host()).orders(open_only=open_only, limit=limit)

    async def fills(self, limit: int = 200) -> list[FillEvent]:
        from engine.trading.messages import fill_event

        host = await self._host()
        book = host.trader.book
        return [
            fill_event(f, book)
            for f in await host.store.fills(book, limit=limit, newest_first=True)
        ]

    async def instrument_steps(self, symbols: list[str]) -> list[InstrumentSteps]:
        host = await self._host()
        found = []
        for symbol in dict.fromkeys(symbols):
            rules = host.market.rules(symbol)
            if rules is not None:
                found.append(
                    InstrumentSteps(symbol, rules.amount_step or None, rules.price_step or None)
                )
        return found

    async def lots(self) -> list[LotView]:
        return (await self._host()).lots()

    async def equity_curve(self, limit: int = 500) -> list[tuple[datetime, Decimal]]:
        host = await self._host()
        return await host.store.marks(host.trader.book, limit=limit)

    async def tax_report(self, fy: int) -> dict[str, Any]:
        from engine.trading.tax import report_json

        return report_json((await self._host()).tax_report(fy))

    async def strategies(self) -> list[StrategyInfo]:
        from engine.trading.research import Research

        return Research.strategies()

    async def backtest(
        self,
        strategy: str,
        symbol: str,
        *,
        timeframe: str = "1h",
        params: dict[str, str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        fee: Decimal | None = None,
        slippage_bps: Decimal | None = None,
    ) -> BacktestView:
        host = await self._host()
        return await host.research.backtest(
            strategy,
            host.request(symbol, "buy", 1).symbol,
            timeframe=timeframe,
            params=params,
            since=since,
            until=until,
            fee=fee,
            slippage_bps=slippage_bps,
        )

    async def backtests(self, limit: int = 50) -> list[BacktestView]:
        return await (await self._host()).research.backtests(limit)

    async def promote(self, backtest_id: str) -> BacktestView:
        return await (await self._host()).research.promote(backtest_id)

    async def deploy(self, backtest_id: str, allocation: Decimal | None = None) -> DeploymentView:
        return await (await self._host()).research.deploy(backtest_id, allocation)

    async def undeploy(self, name: str) -> DeploymentView:
        return await (await self._host()).research.undeploy(name)

    async def deployments(self) -> list[DeploymentView]:
        return await (await self._host()).research.deployments()

    async def arm_live(self, confirmation: str) -> None:
        """Arm live trading; ``confirmation`` must be the typed phrase "ARM LIVE"."""
        from engine.trading.live_trader import ARM_PHRASE, set_armed
        from engine.trading.trader import TradingError

        host = await self._host()
        if host.trader.mode != "live":
            raise TradingError('this engine trades on paper: set [trading] mode = "live" first')
        if confirmation.strip() != ARM_PHRASE:
            raise TradingError(f"type {ARM_PHRASE!r} exactly to arm live trading")
        await set_armed(host.trader, True)

    async def disarm_live(self) -> None:
        from engine.trading.live_trader import set_armed

        await set_armed((await self._host()).trader, False)
