"""Settings & keys: the engine's effective settings, and the vault of model and venue keys.

Settings are shown as the engine runs with them, secrets masked (they change in the config
file). Keys are added, removed and rotated here through the engine that owns the database;
the vault asks for its passphrase each time, and no secret is ever shown or kept by the desk.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Static

from engine.api import EngineAPI, KeyView


class _Keys(DataTable[Text]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="keys.down", tooltip="Next key"),
        Binding("k", "cursor_up", "Up", show=False, id="keys.up", tooltip="Previous key"),
    ]


class SettingsScreen(Screen[None]):
    """What the engine runs with, and the keys it may use: never a secret on screen."""

    DEFAULT_CSS = """
    SettingsScreen #settings-body { height: 1fr; }
    SettingsScreen #settings-scroll { width: 1fr; border: round $primary-darken-2; }
    SettingsScreen #keys-side { width: 64; }
    SettingsScreen #keys { height: 1fr; border: round $primary-darken-2; }
    SettingsScreen #keys:focus { border: round $accent; }
    SettingsScreen #keys-hint { height: auto; padding: 0 1; color: $text-muted; }
    SettingsScreen.-narrow #settings-body { layout: vertical; }
    SettingsScreen.-narrow #keys-side { width: 100%; height: 9; }
    SettingsScreen.-narrow #settings-scroll { width: 100%; height: 1fr; }
    """
    BINDINGS = [
        Binding("a", "add", "Add key", id="keys.add", tooltip="Store a key in the vault"),
        Binding("d", "remove", "Remove", id="keys.remove", tooltip="Remove the highlighted key"),
        Binding("r", "rotate", "Rotate", id="keys.rotate", tooltip="A new vault passphrase"),
        Binding("escape", "close", "Close", id="settings.close", tooltip="Back to the desk"),
    ]
    AUTO_FOCUS = "#keys"

    def __init__(self, engine: EngineAPI) -> None:
        super().__init__()
        self.engine = engine
        self.keys: list[KeyView] = []

    def compose(self) -> ComposeResult:
        with Horizontal(id="settings-body"):
            with VerticalScroll(id="settings-scroll"):
                yield Static("reading the engine's settings…", id="settings")
            with Vertical(id="keys-side"):
                yield _Keys(id="keys", cursor_type="row")
                yield Static(
                    "a adds a key · d removes one · r rotates the passphrase\n"
                    "Keys are sealed with the vault's passphrase; none is ever shown.",
                    id="keys-hint",
                )
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#settings-scroll").border_title = "Settings (the engine's, in effect)"
        table = self.query_one("#keys", DataTable)
        table.border_title = "Vault keys"
        table.add_columns("Name", "Kind", "Added", "Rotated", "Base URL")
        self.load()

    @work(exclusive=True, group="settings.load", exit_on_error=False, name="read the settings")
    async def load(self) -> None:
        settings = await self.engine.settings_view()
        self.query_one("#settings", Static).update(settings_table(settings))
        self.query_one("#settings-scroll").border_subtitle = _file_note(settings)
        await self._load_keys()

    async def _load_keys(self) -> None:
        self.keys = await self.engine.keys()
        table = self.query_one("#keys", DataTable)
        table.clear()
        for k in self.keys:
            table.add_row(
                Text(k.name, style="bold"),
                Text(k.kind, style="cyan" if k.kind == "model" else "yellow"),
                Text(f"{k.added_at:%Y-%m-%d}", style="dim"),
                Text(f"{k.rotated_at:%Y-%m-%d}" if k.rotated_at else "—", style="dim"),
                Text(k.base_url or ""),
                key=k.name,
            )
        table.border_subtitle = f"{len(self.keys)}" if self.keys else "empty: a adds one"

    @work(exclusive=True, group="settings.keys", exit_on_error=False, name="read the keys")
    async def reload_keys(self) -> None:
        await self._load_keys()

    def _highlighted(self) -> str | None:
        table = self.query_one("#keys", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_add(self) -> None:
        new_vault = not self.keys
        fields = [
            Field("name", "name: openai, anthropic, gemini, coinspot.api_key, …"),
            Field("secret", "the key (hidden)", password=True),
            Field("base_url", "base URL, for an OpenAI-compatible server (optional)"),
            Field("passphrase", "the vault's passphrase (hidden)", password=True),
        ]
        if new_vault:
            fields.append(Field("again", "the passphrase again (a new vault)", password=True))

        async def submit(values: dict[str, str]) -> str:
            if not values["name"]:
                raise ValueError("a key needs a name")
            if new_vault and values["passphrase"] != values.get("again"):
                raise ValueError("the two passphrases differ; nothing was stored")
            view = await self.engine.key_add(
                values["name"],
                values["secret"],
                values["passphrase"],
                base_url=values["base_url"] or None,
            )
            note = " (venue keys take effect when the engine next starts)"
            return f"{view.name} ({view.kind}) stored in the vault" + (
                note if view.kind == "venue" else ""
            )

        title = "Add a key" + (": this makes the vault" if new_vault else "")
        self.app.push_screen(KeyForm(title, fields, submit), self._done)

    def action_remove(self) -> None:
        name = self._highlighted()
        if name is None:
            self.notify("the vault holds no keys", severity="warning")
            return

        async def submit(values: dict[str, str]) -> str:
            view = await self.engine.key_remove(name, values["passphrase"])
            return f"{view.name} removed from the vault"

        fields = [Field("passphrase", "the vault's passphrase (hidden)", password=True)]
        self.app.push_screen(KeyForm(f"Remove {name}?", fields, submit), self._done)

    def action_rotate(self) -> None:
        if not self.keys:
            self.notify("there is no vault yet: a adds its first key", severity="warning")
            return

        async def submit(values: dict[str, str]) -> str:
            if values["new"] != values["again"]:
                raise ValueError("the two new passphrases differ; nothing changed")
            count = await self.engine.key_rotate(values["current"], values["new"])
            return f"{count} key{'' if count == 1 else 's'} re-sealed under the new passphrase"

        fields = [
            Field("current", "the current passphrase (hidden)", password=True),
            Field("new", "a new passphrase (hidden)", password=True),
            Field("again", "the new passphrase again", password=True),
        ]
        self.app.push_screen(KeyForm("Rotate the vault's passphrase", fields, submit), self._done)

    def _done(self, said: str | None) -> None:
        if said:
            self.notify(said)
            self.reload_keys()

    def action_close(self) -> None:
        self.app.pop_screen()


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    placeholder: str
    password: bool = False


class KeyForm(ModalScreen[str | None]):
    """A few fields and one engine call: enter on the last field sends them; a refusal is
    said under the fields, the passphrases are cleared, and nothing is closed or lost."""

    DEFAULT_CSS = """
    KeyForm { align: center middle; }
    KeyForm > Vertical {
        width: 72; max-width: 100%; height: auto;
        border: thick $accent 60%; background: $surface; padding: 0 1;
    }
    KeyForm #form-title { text-style: bold; padding: 1 0 0 0; }
    KeyForm Input { margin: 1 0 0 0; }
    KeyForm #form-error { color: $error; height: auto; padding: 1 0 0 0; }
    KeyForm #form-hint { color: $text-muted; padding: 0 0 1 0; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel", id="keys.form.cancel")]

    def __init__(
        self, title: str, fields: list[Field], submit: Callable[[dict[str, str]], Awaitable[str]]
    ) -> None:
        super().__init__()
        self._title = title
        self._fields = fields
        self._submit = submit

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title, id="form-title")
            for f in self._fields:
                yield Input(placeholder=f.placeholder, password=f.password, id=f"form-{f.name}")
            yield Static("", id="form-error")
            yield Static("enter: next field, then send · esc: cancel", id="form-hint")

    def values(self) -> dict[str, str]:
        return {f.name: self.query_one(f"#form-{f.name}", Input).value for f in self._fields}

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
            return
        self._send(self.values())

    @work(exclusive=True, exit_on_error=False, name="vault")
    async def _send(self, values: dict[str, str]) -> None:
        error = self.query_one("#form-error", Static)
        error.update(Text("working…", style="dim"))
        try:
            said = await self._submit(values)
        except Exception as exc:  # a refusal (a wrong passphrase, say): said, nothing changed
            error.update(str(exc) or type(exc).__name__)
            for f in self._fields:
                if f.password and f.name != "secret":
                    self.query_one(f"#form-{f.name}", Input).value = ""
            first = next((f for f in self._fields if f.password and f.name != "secret"), None)
            if first is not None:
                self.query_one(f"#form-{first.name}", Input).focus()
            return
        self.dismiss(said)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def settings_table(settings: dict[str, Any]) -> Table:
    """Every section's settings as the engine has them, secrets already masked by it."""
    table = Table(box=None, expand=True, show_header=False, pad_edge=False)
    table.add_column("Setting", style="cyan", no_wrap=True)
    table.add_column("Value", overflow="fold")
    for section, values in settings.items():
        if not isinstance(values, dict):
            continue
        table.add_row(Text(f"[{section}]", style="bold"), "")
        for key, value in values.items():
            table.add_row(f"  {key}", _value(value))
    return table


def _value(value: Any) -> Text:
    if value is None:
        return Text("none", style="dim")
    if isinstance(value, str) and value and set(value) <= {"*"}:
        return Text("set (hidden)", style="yellow")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return Text(text)


def _file_note(settings: dict[str, Any]) -> str:
    path = settings.get("config_file")
    if not path:
        return ""
    return str(path) if settings.get("config_file_exists") else f"{path} (not found: defaults)"
