"""The "Settings & keys" screen (``K``): the engine's settings with secrets masked, and the
vault's keys added, refused, rotated and removed through the engine, never shown."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr
from textual.widgets import DataTable, Input, Static

from omc_tui.screens.settings import KeyForm, SettingsScreen
from tests.desk.conftest import make_desk, screen_text
from tests.desk.test_screens import Notices, until
from tests.desk.test_trading import ready

SECRET = "sk-desk-canary-91c3f0"
PASSPHRASE = "the desk's vault passphrase"
NEW = "a newer, longer passphrase"


async def fill(pilot, *values: str) -> None:
    """Type each field of the open form and press enter after each (the last sends it)."""
    form = pilot.app.screen
    assert isinstance(form, KeyForm)
    for value in values:
        field = form.focused
        assert isinstance(field, Input)
        field.value = value
        await pilot.press("enter")
        await pilot.pause()


async def test_keys_are_added_refused_rotated_and_removed_and_never_shown(tmp_path: Path) -> None:
    app = make_desk(tmp_path)
    notices = Notices()
    async with app.run_test(size=(120, 40), message_hook=notices) as pilot:
        await ready(pilot)
        await pilot.press("K")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        shown = screen.query_one("#settings", Static)
        await until(pilot, lambda: "[lab]" in text_of(shown))
        assert "budget" in text_of(shown) and "empty: a adds one" in screen_text(app)
        assert "none.toml (not found: defaults)" in str(
            screen.query_one("#settings-scroll").border_subtitle
        )

        await pilot.press("a")  # the first key makes the vault: the passphrase twice
        await pilot.pause()
        assert "this makes the vault" in screen_text(app)
        await fill(pilot, "openai", SECRET, "", PASSPHRASE, "not the same")
        await until(pilot, lambda: "passphrases differ" in screen_text(app))
        assert isinstance(app.screen, KeyForm)  # refused, still open, nothing stored
        assert await app.engine.keys() == []
        await fill(pilot, PASSPHRASE, PASSPHRASE)
        await until(pilot, lambda: notices.said("openai (model) stored in the vault"))
        table = screen.query_one("#keys", DataTable)
        await until(pilot, lambda: table.row_count == 1)
        assert SECRET not in screen_text(app)

        await pilot.press("a")  # a wrong passphrase: said in the form, nothing changed
        await pilot.pause()
        await fill(pilot, "anthropic", "sk-another", "", "wrong passphrase")
        await until(pilot, lambda: "does not open the vault" in screen_text(app))
        form = app.screen
        assert isinstance(form, KeyForm)
        assert form.query_one("#form-passphrase", Input).value == ""  # cleared, asked again
        await pilot.press("escape")
        await pilot.pause()
        assert [k.name for k in await app.engine.keys()] == ["openai"]

        await pilot.press("r")
        await pilot.pause()
        await fill(pilot, PASSPHRASE, NEW, NEW)
        await until(pilot, lambda: notices.said("1 key re-sealed under the new passphrase"))
        await until(pilot, lambda: "—" not in str(table.get_row_at(0)[3]))

        await pilot.press("d")
        await pilot.pause()
        assert "Remove openai?" in screen_text(app)
        await fill(pilot, PASSPHRASE)  # the old passphrase opens nothing now
        await until(pilot, lambda: "does not open the vault" in screen_text(app))
        await fill(pilot, NEW)
        await until(pilot, lambda: notices.said("openai removed from the vault"))
        await until(pilot, lambda: table.row_count == 0)
        assert all(SECRET not in n.message and NEW not in n.message for n in notices)

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.screen_stack[0]


def text_of(widget: Static) -> str:
    """What a Static holds, as plain text, however wide it is drawn."""
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


async def test_settings_show_a_secret_only_as_set(tmp_path: Path) -> None:
    """A venue secret in the config (still accepted, with a warning) is shown as set, never
    as itself; so is an alert webhook's URL."""
    app = make_desk(tmp_path)
    app.engine.settings.sources.cryptopanic_token = SecretStr(SECRET)
    app.engine.settings.alerts.webhook_url = SecretStr("https://hooks.example/" + SECRET)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("K")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        shown = screen.query_one("#settings", Static)
        await until(pilot, lambda: "[alerts]" in text_of(shown))
        assert SECRET not in text_of(shown) and "set (hidden)" in text_of(shown)
