"""The real ``omc --sim`` in a pseudo-terminal: it paints prices and quits cleanly on ``q``."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.terminal import Terminal, omc_command

PRICE = re.compile(rb"BTC/AUD\s+[\d,]+\.\d{2}")


def test_omc_sim_paints_prices_and_q_quits_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "omc.db"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}
    term = Terminal(omc_command("--sim", "--db", f"sqlite:///{db}"), cols=100, rows=30, env=env)
    try:
        assert term.read_until(PRICE, timeout=60) is not None, term.buffer[-2000:]
        assert term.read_until(re.compile(rb"SIM data"), timeout=5) is not None
        # Let storage open and a few polls and flushes happen before quitting.
        assert term.read_until(re.compile(rb"database (ok|\xe2\x97\x8f)"), timeout=60) is not None
        term.drain(2.0)
        term.press(b"q")
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()
    with sqlite3.connect(db) as conn:
        ticks = conn.execute("select count(*) from tickers where venue = 'sim'").fetchone()[0]
        candles = conn.execute("select count(distinct timeframe) from candles").fetchone()[0]
    assert ticks >= 12 and candles == 6
    # Engine log lines go to a file, never over the screen.
    log = tmp_path / "data" / "omc" / "omc-desk.log"
    assert log.exists()
    assert b'"level":' not in term.buffer
