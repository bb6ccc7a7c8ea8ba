"""``omc live``: arm or disarm live trading (a state in the database; off by default)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    help = "arm or disarm live trading (off by default)"
    live = common.command(sub, "live", live_switch, help, json=True)
    live.add_argument("action", choices=["arm", "disarm", "status"])
    live.add_argument("--confirm", metavar="PHRASE", help='type "ARM LIVE" (asked for if absent)')


def live_switch(args: argparse.Namespace, settings: config.Settings) -> int:
    """Arming needs no connection to the venue, but it needs the keys live orders will use."""
    from engine.trading.books import book_id, book_label, state_key
    from engine.trading.live_trader import ARM_PHRASE
    from engine.trading.store import TradingStore
    from engine.trading.trader import LIVE_ARMED

    book = book_id("live", settings.market.venue)  # arming is for one venue's live account
    key = state_key(book, LIVE_ARMED)

    if args.action == "arm":
        if settings.trading.mode != "live":
            raise common.CommandFailed(
                'this engine trades on paper: set [trading] mode = "live" first'
            )
        _check_keys(args, settings)
        phrase = args.confirm
        if phrase is None:
            if not sys.stdin.isatty():
                raise common.UsageError(f'arming needs --confirm "{ARM_PHRASE}"')
            phrase = input(f"Live orders will spend real money. Type {ARM_PHRASE} to arm: ")
        if phrase.strip() != ARM_PHRASE:
            raise common.CommandFailed(f"not armed: type {ARM_PHRASE!r} exactly")

    async def work(db: Any) -> Any:
        store = TradingStore(db)
        if args.action != "status":
            now = datetime.now().astimezone()
            await store.set_state(key, {"on": args.action == "arm", "at": now.isoformat()}, now)
        return await store.get_state(key) or {"on": False}

    try:
        state = common.with_db(settings, work, exclusive=args.action != "status")
    except common.OwnerListening:
        # The engine that owns the database holds the switch: arm or disarm it there.
        async def through(engine: Any) -> None:
            if args.action == "arm":
                await engine.arm_live(ARM_PHRASE)
            else:
                await engine.disarm_live()

        common.with_engine(settings, through)
        state = common.with_db(settings, lambda db: TradingStore(db).get_state(key))
        state = state or {"on": False}
    armed = bool(state.get("on"))
    if args.json:
        common.dump(
            {
                "mode": settings.trading.mode,
                "book": book,
                "armed": armed,
                "since": state.get("at"),
            }
        )
    else:
        print(f"live trading {'ARMED' if armed else 'disarmed'} (book: {book_label(book)})")
    return 0


def _check_keys(args: argparse.Namespace, settings: config.Settings) -> None:
    from engine.config import config_path
    from engine.vault import stored_keys, venue_key_names

    t = settings.trading
    missing = [name for name in ("api_key", "api_secret") if getattr(t, name) is None]
    if not missing:
        return
    venue = settings.market.venue
    in_vault = venue_key_names(venue)
    if {k.name for k in common.with_db(settings, stored_keys)}.issuperset(in_vault):
        return
    keys = " and ".join(missing)
    env = " and ".join(f"OMC_TRADING__{name.upper()}" for name in missing)
    raise common.CommandFailed(
        f"not armed: live trading needs the {venue} API keys, and {keys} "
        f"{'is' if len(missing) == 1 else 'are'} not set; set {keys} under [trading] in "
        f"{config_path(args.config)}, or {env} in the environment; or store both in the "
        f"vault: omc keys add {in_vault[0]}, omc keys add {in_vault[1]}"
    )
