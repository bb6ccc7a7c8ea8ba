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


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a scratch file of this writer's own, renamed over
    it: a reader sees the old file or the new one, never half of one (OSError on failure)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
