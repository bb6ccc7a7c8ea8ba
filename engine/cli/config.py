"""``omc config``: the effective configuration."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    cfg = common.group(sub, "config", "configuration", "config_command")
    common.command(cfg, "show", config_show, "the effective config, secrets masked", json=True)


def config_show(args: argparse.Namespace, settings: config.Settings) -> int:
    from engine.config import config_path, effective

    data = effective(settings, config_path(args.config))
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    found = "found" if data.pop("config_file_exists") else "not found; defaults apply"
    print(f"# config file: {data.pop('config_file')} ({found})")
    for section, values in data.items():
        print(f"[{section}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value)}")
        print()
    return 0
