"""Start to first painted price of ``omc --sim`` in a real pseudo-terminal, against a bare
Textual app painting one price line in the same harness and run (target: ≤ 2.0× the bare app)."""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
from pathlib import Path

from tests.bench.cli_speed import _env
from tests.terminal import Terminal, omc_command

PRICE = re.compile(rb"BTC/AUD\s+[\d,]+\.\d{2}")


BARE = [sys.executable, str(Path(__file__).with_name("bare_app.py"))]


def _paint(argv: list[str], env: dict[str, str]) -> float:
    """Seconds to the first price; ``env`` is the whole environment (``cli_speed._env``:
    bytecode cached in the run's folder, as an installed ``omc`` has it — with
    PYTHONDONTWRITEBYTECODE inherited, every start would compile every module again)."""
    term = Terminal(argv, env=env, inherit=False)
    try:
        elapsed = term.read_until(PRICE, timeout=30)
    finally:
        term.close()
    return elapsed if elapsed is not None else float("nan")


def run(repeats: int = 7) -> list[dict[str, object]]:
    omc, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp))
        for i in range(repeats + 1):
            db = f"sqlite:///{Path(tmp) / f'paint{i % 2}.db'}"  # a first start and restarts
            # Interleaved, so a busy machine slows both alike; the first round warms caches.
            took = _paint(omc_command("--sim", "--db", db), env), _paint(BARE, env)
            if i > 0:
                omc.append(took[0])
                bare.append(took[1])
    omc_median, bare_median = statistics.median(omc), statistics.median(bare)
    return [
        {"figure": "start_to_first_price_s_median", "value": round(omc_median, 3)},
        {"figure": "start_to_first_price_s_max", "value": round(max(omc), 3), "runs": len(omc)},
        {"figure": "bare_textual_first_paint_s_median", "value": round(bare_median, 3)},
        {
            "figure": "first_paint_ratio_to_bare_textual",
            "value": round(omc_median / bare_median, 2),
            "target": 2.0,
        },
    ]
