"""Order-book ladder of the selected symbol."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.events import BookEvent
from omc_tui import format as fmt


class OrderBook(Widget):
    DEFAULT_CSS = """
    OrderBook { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.book: BookEvent | None = None
        self.symbol: str | None = None

    def show(self, book: BookEvent | None) -> None:
        self.book = book
        self.refresh()

    def follow(self, symbol: str) -> None:
        if symbol != self.symbol:
            self.symbol = symbol
            self.book = None
            self.refresh()

    def render(self) -> Table | Text:
        book = self.book
        if book is None or book.symbol != self.symbol:
            return Text(f" order book of {self.symbol or '—'}: waiting…", style="dim")
        rows = max(1, self.size.height - 1)
        # Short size titles where the pane is narrow (beside the watchlist at 120 columns), so
        # the prices are never squeezed.
        wide = self.size.width >= 48
        table = Table(box=None, expand=True, padding=(0, 1), show_edge=False)
        table.add_column("Bid size" if wide else "Size", justify="right", style="dim")
        table.add_column("Bid", justify="right", style="green", no_wrap=True)
        table.add_column("Ask", justify="right", style="red", no_wrap=True)
        table.add_column("Ask size" if wide else "Size", justify="left", style="dim")
        for i in range(min(rows, max(len(book.bids), len(book.asks)))):
            bid = book.bids[i] if i < len(book.bids) else None
            ask = book.asks[i] if i < len(book.asks) else None
            table.add_row(
                fmt.compact(bid[1]) if bid else "",
                fmt.price(bid[0]) if bid else "",
                fmt.price(ask[0]) if ask else "",
                fmt.compact(ask[1]) if ask else "",
            )
        return table
