"""Start to first painted price of ``omc --sim`` in a real pseudo-terminal (target ≤ 0.5 s)."""

from __future__ import annotations

import re
import statistics
import tempfile
from pathlib import Path

from tests.terminal import Terminal, omc_command

PRICE = re.compile(rb"BTC/AUD\s+[\d,]+\.\d{2}")


def run(repeats: int = 5) -> list[dict[str, object]]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_CONFIG_HOME": str(Path(tmp) / "cfg"), "XDG_DATA_HOME": str(Path(tmp) / "data")}
        for i in range(repeats + 1):
            db = f"sqlite:///{Path(tmp) / f'paint{i % 2}.db'}"  # a first start and restarts
            term = Terminal(omc_command("--sim", "--db", db), env=env)
            try:
                elapsed = term.read_until(PRICE, timeout=30)
            finally:
                term.close()
            if i > 0:  # the first launch warms the OS file cache
                times.append(elapsed if elapsed is not None else float("nan"))
    return [
        {
            "figure": "start_to_first_price_s_median",
            "value": round(statistics.median(times), 3),
            "target": 0.5,
        },
        {"figure": "start_to_first_price_s_max", "value": round(max(times), 3), "runs": len(times)},
    ]
