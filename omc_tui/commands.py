"""The command palette's provider: every registered action, searchable by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from omc_tui.actions import ACTIONS


class DeskCommands(Provider):
    async def discover(self) -> Hits:
        for a in ACTIONS:
            if a.action != "command_palette":
                yield DiscoveryHit(a.label, partial(self.app.run_action, a.action), a.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for a in ACTIONS:
            if a.action == "command_palette":
                continue
            score = matcher.match(f"{a.label} {a.help}")
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(a.label),
                    partial(self.app.run_action, a.action),
                    help=a.help,
                )
