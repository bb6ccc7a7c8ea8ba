"""Run the real `omc` in a pseudo-terminal and watch what it paints (tests and benchmarks)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import selectors
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\x1b[=>]")


def omc_command(*args: str) -> list[str]:
    script = Path(sys.executable).parent / "omc"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "omc_tui.cli", *args]


class Terminal:
    def __init__(
        self,
        argv: list[str],
        cols: int = 160,
        rows: int = 48,
        env: dict[str, str] | None = None,
        *,
        inherit: bool = True,
    ) -> None:
        """``env`` is added to this process's environment; with ``inherit`` False it is the
        whole of it (a benchmark's, which leaves out what would skew it)."""
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {
            **(os.environ if inherit else {}),
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
            **(env or {}),
        }
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True
        )
        os.close(slave)
        self.buffer = b""

    def read_until(self, pattern: re.Pattern[bytes], timeout: float) -> float | None:
        """Seconds from launch until ``pattern`` appears in the plain text painted, or None."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self._readable(0.01):
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return None
                self.buffer += chunk
                if pattern.search(ANSI.sub(b"", self.buffer)):
                    return time.perf_counter() - self.started
        return None

    def drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if self._readable(0.1):
                try:
                    os.read(self.master, 65536)
                except OSError:
                    return

    def _readable(self, timeout: float) -> bool:
        # A selector, not select(): a test process that has opened many files may hand the
        # terminal a descriptor past select()'s limit of 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(self.master, selectors.EVENT_READ)
            return bool(selector.select(timeout))

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.write(self.master, b"q")
            try:
                self.drain(0.5)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        os.close(self.master)
