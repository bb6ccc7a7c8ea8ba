"""Whether a row came from the simulated market or a real source.

The simulator writes every ledger under the name ``sim`` (the Exchange ledger's venue, the
intelligence ledgers' source ``sim`` or ``sim:<feed>``). A desk on live data shows only real
rows and a desk on the simulated market only simulated ones: they are never mixed silently.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_

SIM = "sim"


def is_simulated(source: str) -> bool:
    return source == SIM or source.startswith(f"{SIM}:")


def from_data(column: Any, simulated: bool) -> Any:
    """A SQL condition on a venue or source column: rows of simulated or of real data."""
    condition = or_(column == SIM, column.like(f"{SIM}:%"))
    return condition if simulated else ~condition
