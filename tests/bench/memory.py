"""Desk resident memory after 10 simulated hours at --speed 60 (target < 200 MB).

Runs the real ``omc --sim --speed 60`` in a pseudo-terminal for ten real minutes
(``OMC_BENCH_SIM_HOURS`` shortens it) and reads the process's RSS.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import psutil

from tests.terminal import Terminal, omc_command

SPEED = 60


def run() -> list[dict[str, object]]:
    hours = float(os.environ.get("OMC_BENCH_SIM_HOURS", "10"))
    seconds = hours * 3600 / SPEED
    samples = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {"XDG_CONFIG_HOME": str(Path(tmp) / "cfg"), "XDG_DATA_HOME": str(Path(tmp) / "data")}
        term = Terminal(
            omc_command("--sim", "--speed", str(SPEED), "--db", f"sqlite:///{Path(tmp) / 'm.db'}"),
            env=env,
        )
        try:
            term.read_until(re.compile(rb"BTC/AUD"), timeout=30)
            proc = psutil.Process(term.proc.pid)
            step = max(1.0, seconds / 20)
            waited = 0.0
            while waited < seconds:
                term.drain(min(step, seconds - waited))
                waited += step
                samples.append(proc.memory_info().rss / 2**20)
        finally:
            term.close()
    return [
        {
            "figure": "desk_rss_mb",
            "after_sim_hours": hours,
            "value": round(samples[-1], 1),
            "peak": round(max(samples), 1),
            "start": round(samples[0], 1),
            "target": 200,
        }
    ]
