"""Messages the desk sends to its screens."""

from __future__ import annotations

from textual.message import Message

from engine.api import TradingView
from engine.events import LabEvent


class BookChanged(Message):
    """The trading book was re-read after an order, fill or valuation changed."""

    def __init__(self, view: TradingView, fills_changed: bool) -> None:
        super().__init__()
        self.view = view
        self.fills_changed = fills_changed  # lots, the equity curve and the tax year may differ


class BookWaiting(Message):
    """The book cannot be read yet, or at all: ``reason`` says what it waits for."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class LabChanged(Message):
    """A Lab session moved: a step, a question, spend or its end (``event`` says which)."""

    def __init__(self, event: LabEvent) -> None:
        super().__init__()
        self.event = event
