"""The coins the simulated venue lists: twelve familiar names, then seeded synthetic ones."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ledgers.market import Instrument
from ledgers.sources.sim.streams import Stream, generator

VENUE = "sim"


@dataclass(frozen=True, slots=True)
class Coin:
    """How one simulated coin trades; prices are in quote units, amounts in base units."""

    base: str
    price: float  # starting mid, also the long-run level it reverts to
    vol: float  # target annualised volatility, jumps included
    beta: float  # loading on the market factor (correlation with it)
    spread_bps: float  # quoted spread in a normal regime
    price_decimals: int  # tick size is 10**-price_decimals
    amount_decimals: int  # lot size is 10**-amount_decimals
    min_amount: float
    minute_volume: float  # typical base units traded per minute
    jumps_per_month: float  # coin-specific jumps; market-wide ones come on top

    @property
    def tick(self) -> float:
        return 10.0**-self.price_decimals

    @property
    def lot(self) -> float:
        return 10.0**-self.amount_decimals


# Levels are AUD-like whatever the quote currency is called; BTC leads the market factor.
MAJORS: tuple[Coin, ...] = (
    Coin("BTC", 140_000.0, 0.50, 0.93, 5.0, 2, 5, 0.0001, 0.2, 0.5),
    Coin("ETH", 5_500.0, 0.65, 0.90, 7.0, 2, 4, 0.001, 2.0, 0.7),
    Coin("SOL", 300.0, 0.85, 0.82, 12.0, 2, 3, 0.01, 15.0, 1.0),
    Coin("XRP", 3.5, 0.75, 0.76, 15.0, 4, 1, 1.0, 3_000.0, 1.0),
    Coin("ADA", 1.1, 0.80, 0.78, 20.0, 4, 1, 1.0, 4_000.0, 1.0),
    Coin("DOGE", 0.35, 0.90, 0.74, 25.0, 5, 0, 10.0, 20_000.0, 1.4),
    Coin("DOT", 10.0, 0.80, 0.80, 30.0, 3, 2, 0.1, 300.0, 1.0),
    Coin("LTC", 140.0, 0.65, 0.78, 20.0, 2, 3, 0.01, 15.0, 0.8),
    Coin("LINK", 28.0, 0.80, 0.80, 25.0, 3, 2, 0.1, 100.0, 1.0),
    Coin("AVAX", 45.0, 0.85, 0.80, 30.0, 3, 2, 0.05, 60.0, 1.0),
    Coin("TRX", 0.4, 0.55, 0.66, 40.0, 5, 0, 10.0, 15_000.0, 0.7),
    Coin("XLM", 0.45, 0.70, 0.72, 40.0, 5, 0, 10.0, 10_000.0, 0.8),
)


def synthetic_coin(seed: int, index: int) -> Coin:
    """The seeded small cap listed at position ``index`` (0-based), named SIM013 for index 12."""
    draw = generator(seed, Stream.COINS, index).random(7)
    price = math.exp(math.log(0.01) + draw[0] * math.log(500 / 0.01))
    magnitude = math.floor(math.log10(price))
    # Four significant digits of tick and lots worth about a cent keep every coin tradable.
    price_decimals = max(0, 4 - magnitude)
    amount_decimals = min(8, max(0, magnitude + 2))
    lot = 10.0**-amount_decimals
    min_amount = max(lot, 10.0 ** round(math.log10(5.0 / price)))
    return Coin(
        base=f"SIM{index + 1:03d}",
        price=price,
        vol=0.60 + 0.35 * draw[1],
        beta=0.6 + 0.22 * draw[2],
        spread_bps=20.0 + 40.0 * draw[3],
        price_decimals=price_decimals,
        amount_decimals=amount_decimals,
        min_amount=min_amount,
        minute_volume=3_000.0 * (0.3 + 1.7 * draw[4]) / price,
        jumps_per_month=0.8 + 1.2 * draw[5],
    )


def build_coins(seed: int, count: int) -> list[Coin]:
    """The first ``count`` coins: the majors in order, then synthetic ones."""
    if count < 1:
        raise ValueError(f"the simulated market needs at least one symbol, got {count}")
    coins = list(MAJORS[:count])
    coins.extend(synthetic_coin(seed, index) for index in range(len(MAJORS), count))
    return coins


def instrument(coin: Coin, quote: str) -> Instrument:
    """The venue's description of ``coin`` traded against ``quote``."""
    return Instrument(
        venue=VENUE,
        symbol=f"{coin.base}/{quote}",
        base=coin.base,
        quote=quote,
        active=True,
        price_precision=coin.tick,
        amount_precision=coin.lot,
        min_amount=coin.min_amount,
    )


@dataclass(frozen=True, slots=True)
class CoinTable:
    """Per-coin parameters as column arrays, in listing order, for vectorised maths."""

    log_price: np.ndarray
    vol: np.ndarray
    beta: np.ndarray
    spread_bps: np.ndarray
    price_scale: np.ndarray  # 10**price_decimals: price = rint(mid * scale) / scale
    minute_volume: np.ndarray
    jumps_per_month: np.ndarray

    @classmethod
    def of(cls, coins: list[Coin]) -> CoinTable:
        def column(values: list[float]) -> np.ndarray:
            return np.array(values, dtype=np.float64)

        return cls(
            log_price=np.log(column([c.price for c in coins])),
            vol=column([c.vol for c in coins]),
            beta=column([c.beta for c in coins]),
            spread_bps=column([c.spread_bps for c in coins]),
            price_scale=column([10.0**c.price_decimals for c in coins]),
            minute_volume=column([c.minute_volume for c in coins]),
            jumps_per_month=column([c.jumps_per_month for c in coins]),
        )
