"""Fixtures of the vault's tests: a cheap scrypt, so each test derives keys in milliseconds."""

from __future__ import annotations

import pytest

from engine import vault


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vault stores the cost it was made with, so a cheaper one changes no behaviour."""
    monkeypatch.setattr(vault, "SCRYPT_COST", (2**10, 8, 1))
