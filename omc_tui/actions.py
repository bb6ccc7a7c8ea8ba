"""The one registry of desk actions: bindings, footer, command palette and help all read it.

Every action has a stable id (``area.verb``) that the user's key map in the config refers to.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class DeskAction:
    id: str
    keys: str  # Textual key names, comma separated
    action: str  # the app action it runs
    label: str  # short, for the footer and palette
    help: str  # one line, for the help screen and tooltips
    footer: bool = True


ACTIONS: tuple[DeskAction, ...] = (
    DeskAction("desk.quit", "q", "quit", "Quit", "Stop the engine and leave the desk"),
    DeskAction("desk.help", "question_mark", "help", "Help", "Show every key and what it does"),
    # Textual's footer already shows the palette key at its right edge.
    DeskAction(
        "desk.palette",
        "ctrl+p",
        "command_palette",
        "Commands",
        "Search every action by name",
        footer=False,
    ),
    DeskAction(
        "trade.buy", "b", "order_ticket('buy')", "Buy", "Order ticket: buy the selected symbol"
    ),
    DeskAction(
        "trade.sell", "s", "order_ticket('sell')", "Sell", "Order ticket: sell the selected symbol"
    ),
    DeskAction(
        "trade.cancel",
        "x",
        "cancel_order",
        "Cancel order",
        "Cancel the working order highlighted in the blotter",
    ),
    DeskAction(
        "trade.kill",
        "ctrl+k",
        "kill",
        "Kill switch",
        "Kill switch: halt every new order (and cancel working ones), or release it",
    ),
    DeskAction(
        "trade.arm",
        "L",
        "arm_live",
        "Arm live",
        "Arm live trading with a typed confirmation, or disarm it",
        footer=False,
    ),
    DeskAction(
        "desk.view",
        "i",
        "cycle_view",
        "View",
        "Narrow screens: chart, positions, orders, catalysts, human, glass",
    ),
    DeskAction("desk.pnl", "P", "pnl", "PnL", "PnL, open lots and the tax report"),
    DeskAction(
        "desk.strategies",
        "S",
        "strategies",
        "Strategies",
        "Strategies and backtests: run, promote, deploy",
    ),
    DeskAction(
        "desk.lab",
        "A",
        "lab",
        "Lab",
        "The Lab: research a goal; traced reports; proposals",
        footer=False,
    ),
    DeskAction(
        "desk.settings",
        "K",
        "settings",
        "Settings & keys",
        "Settings, and the vault of model and venue keys",
        footer=False,
    ),
    DeskAction(
        "watchlist.down", "down,j", "move(1)", "Down", "Select the next symbol", footer=False
    ),
    DeskAction(
        "watchlist.up", "up,k", "move(-1)", "Up", "Select the previous symbol", footer=False
    ),
    DeskAction(
        "watchlist.top", "home,g", "move_to(0)", "Top", "Select the first symbol", footer=False
    ),
    DeskAction(
        "watchlist.bottom", "end,G", "move_to(-1)", "Bottom", "Select the last symbol", footer=False
    ),
    DeskAction(
        "chart.timeframe",
        "t",
        "timeframe(1)",
        "Timeframe",
        "Next chart timeframe (1m 5m 15m 1h 4h 1d)",
    ),
    DeskAction(
        "chart.timeframe_back",
        "T",
        "timeframe(-1)",
        "Prev TF",
        "Previous chart timeframe",
        footer=False,
    ),
    DeskAction(
        "chart.style", "c", "chart_style", "Candles/line", "Toggle candles and a line of closes"
    ),
    DeskAction(
        "desk.jobs", "J", "jobs", "Jobs", "Jobs, feeds and data quality: run, pause, resume"
    ),
    DeskAction(
        "desk.explorer", "E", "explorer", "Explorer", "Browse, filter and export any ledger"
    ),
    DeskAction(
        "desk.focus",
        "tab",
        "cycle_focus",
        "Focus",
        "Move between the watchlist, the orders blotter and the catalyst feed",
        footer=False,
    ),
    DeskAction(
        "market.simulate",
        "m",
        "simulate",
        "Sim market",
        "Switch the Exchange feed to the simulated market",
    ),
)

BY_ID = {a.id: a for a in ACTIONS}


def bindings() -> list[Binding]:
    return [
        Binding(a.keys, a.action, a.label, show=a.footer, id=a.id, tooltip=a.help) for a in ACTIONS
    ]


def unknown_ids(keymap: dict[str, str]) -> list[str]:
    """Key-map entries that name no action (reported to the user, not silently ignored)."""
    return [action_id for action_id in keymap if action_id not in BY_ID]


class KeymapError(ValueError):
    """A ``[desk.keymap]`` the desk refuses to start with; the message says what to change."""


def check_keymap(keymap: dict[str, str]) -> None:
    """Refuse unknown action ids, and a key two actions would share.

    Textual gives a remapped key to the new action and silently drops the old one, so mapping
    an action onto ``q`` would lose quit: both actions are named instead.
    """
    if bad := unknown_ids(keymap):
        raise KeymapError(
            f"[desk.keymap] names unknown action {', '.join(map(repr, bad))}; "
            f"known actions: {', '.join(sorted(BY_ID))}"
        )
    owner: dict[str, str] = {}
    for action in ACTIONS:
        for key in _keys(keymap.get(action.id, action.keys)):
            if key in owner:
                moved, kept = sorted((owner[key], action.id), key=lambda a: a not in keymap)
                raise KeymapError(
                    f"[desk.keymap] maps {moved} onto {key!r}, which {kept} uses; "
                    f"pick another key, or remap {kept} too"
                )
            owner[key] = action.id


def _keys(keys: str) -> list[str]:
    return [k.strip() for k in keys.split(",") if k.strip()]
