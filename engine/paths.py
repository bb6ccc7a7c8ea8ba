"""Where OMC keeps its files: the config file and the data directory (no heavy imports, so the
desk can find its first frame before settings load)."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("omc", appauthor=False))


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("omc", appauthor=False))


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if env := os.environ.get("OMC_CONFIG"):
        return Path(env).expanduser()
    return config_dir() / "config.toml"
