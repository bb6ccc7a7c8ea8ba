"""The simulated venue "sim": a seeded, deterministic crypto market for offline use and tests."""

from ledgers.sources.sim.bars import BACKFILL_HORIZONS
from ledgers.sources.sim.market import SimMarket

__all__ = ["BACKFILL_HORIZONS", "SimMarket"]
