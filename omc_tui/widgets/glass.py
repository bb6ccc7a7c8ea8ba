"""The glass pane: the biggest TVL and fee movers of the last day, and Ethereum gas."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from engine.api import GlassView
from omc_tui import format as fmt

METRIC_NAMES = {"tvl_usd": "TVL", "fees_24h_usd": "fees 24h", "chain_tvl_usd": "chain TVL"}


class GlassPane(Widget):
    DEFAULT_CSS = """
    GlassPane { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: GlassView | None = None

    def show(self, view: GlassView) -> None:
        self.view = view
        self.border_title = "Glass"
        self.refresh()

    def render(self) -> Group | Text:
        view = self.view
        if view is None or not view.movers:
            return Text("no on-chain metrics yet", style="dim")
        network = Text("gas ")
        network.append(
            f"{view.gas_gwei:.1f} gwei" if view.gas_gwei is not None else "—", style="bold"
        )
        if view.block_height is not None:
            network.append(f" · block {view.block_height:,}", style="dim")
        table = Table(box=None, expand=True, show_header=False, padding=(0, 1, 0, 0))
        table.add_column("entity", ratio=1, no_wrap=True, overflow="ellipsis")
        table.add_column("metric", width=9, no_wrap=True)
        table.add_column("value", width=8, justify="right")
        table.add_column("24h", width=7, justify="right")
        for m in view.movers[: max(1, self.size.height - 1)]:
            change = m.change_pct
            table.add_row(
                m.entity,
                Text(METRIC_NAMES.get(m.metric, m.metric), style="dim"),
                "$" + fmt.compact(m.value),
                Text(
                    fmt.percent(change) if change is not None else "—",
                    style="" if change is None else ("green" if change >= 0 else "red"),
                ),
            )
        return Group(network, table)
