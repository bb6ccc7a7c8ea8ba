"""The import direction of DESIGN §3: ledgers ← agents ← engine ← omc_tui."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["ledgers", "agents", "engine", "omc_tui"]
DATABASE_MODULES = {"sqlalchemy", "aiosqlite", "asyncpg", "alembic", "ledgers", "migrations"}


def imports(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


@pytest.mark.parametrize("package", [p for p in ORDER if (ROOT / p).is_dir()])
def test_packages_only_import_downstream_layers(package: str) -> None:
    upstream = set(ORDER[ORDER.index(package) + 1 :])
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p, m in imports(package)
        if m.split(".")[0] in upstream
    ]
    assert bad == []


def test_the_desk_never_touches_the_database_layer() -> None:
    bad = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p, m in imports("omc_tui")
        if m.split(".")[0] in DATABASE_MODULES
    ]
    assert bad == []


def test_the_checker_sees_imports() -> None:
    # Guard against a checker that passes because it parses nothing.
    assert any(m.startswith("engine") for _, m in imports("omc_tui"))
    assert any(m.startswith("ledgers") for _, m in imports("engine"))
