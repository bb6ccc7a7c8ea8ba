"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a fresh directory, in the four-slash absolute form."""
    return f"sqlite:///{tmp_path / 'omc.db'}"
