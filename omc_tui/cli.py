"""``omc``: open the desk on a local engine, or run one of the scripting commands."""

from __future__ import annotations

import argparse
import sys

from engine import cli as engine_cli


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="omc",
        description="Oh My Coins: a keyboard-driven terminal trading desk. "
        "With no command, opens the desk.",
    )
    p.add_argument("--sim", action="store_true", help="start on the simulated market")
    p.add_argument("--speed", type=float, help="simulated seconds per real second (with --sim)")
    p.add_argument("--db", metavar="URL", help="database URL: sqlite:///PATH or postgresql://…")
    p.add_argument("--config", metavar="PATH", help="config file (default: platform config dir)")
    engine_cli.add_commands(p.add_subparsers(dest="command", metavar="COMMAND"))
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from engine import config

    try:
        settings = config.load(
            args.config,
            sim={"enabled": True if args.sim else None, "speed": args.speed},
            database={"url": args.db},
        )
    except config.ConfigError as exc:
        print(f"omc: {exc}", file=sys.stderr)
        return 2
    if args.command:
        return engine_cli.run(args, settings)
    if settings.sim.enabled:
        from engine.warmup import preload_simulator

        preload_simulator()
    from engine.local import LocalEngine
    from engine.logs import configure
    from omc_tui.app import DeskApp

    # Log lines would scribble over the screen: the desk logs to a file in the data directory.
    configure(settings.engine.log_level, config.data_dir() / "omc-desk.log")

    # Scheduling and storage start a moment after the first prices paint (see LocalEngine).
    app = DeskApp(LocalEngine(settings, storage_delay=0.3), settings.desk)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
