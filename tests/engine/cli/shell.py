"""Running ``omc`` as a script does: in this process (fast), or as a real process (exact)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omc_tui.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``omc ARGV`` in this process, where the offline guard stops any network use."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``omc ARGV`` as its own process: what a shell sees, log handlers and all.

    Only for commands that stay offline by themselves (the simulated market, a local database).
    """
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OMC_")}
    done = subprocess.run(
        [sys.executable, "-m", "omc_tui.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **(env or {})},
        cwd=Path(__file__).resolve().parents[3],
    )
    return done.returncode, done.stdout, done.stderr
