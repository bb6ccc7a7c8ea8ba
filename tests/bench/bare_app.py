"""The baseline of the first-paint benchmark: a bare Textual app that paints one price line.

Run as a script in the same pseudo-terminal harness as ``omc --sim``; what ``omc`` spends on
top of this is ours to make small.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static


class Bare(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("BTC/AUD  150,000.00")


if __name__ == "__main__":
    Bare().run()
