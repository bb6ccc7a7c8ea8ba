"""engine/cli: one module per command group, no import circle, a light start for the desk."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "engine" / "cli"
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def siblings(module: str) -> set[str]:
    """The modules of engine/cli that ``module`` imports, at any depth of its code."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "engine.cli":
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine.cli."):
            found.add(node.module.rsplit(".", 1)[1])  # type: ignore[union-attr]
        elif isinstance(node, ast.Import):
            found |= {
                a.name.rsplit(".", 1)[1] for a in node.names if a.name.startswith("engine.cli.")
            }
    return found & set(MODULES)


def test_the_groups_share_common_and_nothing_imports_back() -> None:
    graph = {m: siblings(m) for m in MODULES}
    assert graph["common"] == set()  # the shared module depends on no group
    for module, imported in graph.items():
        if module != "parser":
            assert imported <= {"common"}, f"{module} imports {imported - {'common'}}"
    assert graph["parser"] == set(MODULES) - {"parser"}  # every group is assembled once

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(
            n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start]
        )

    assert [m for m in MODULES if reaches(m, m, set())] == []


def test_the_old_circle_is_gone() -> None:
    for old in ("engine/cli.py", "engine/trading/cli.py", "engine/trading/strategy_cli.py"):
        assert not (ROOT / old).exists()
    # The domain has no command-line code inside (DESIGN §3).
    for path in (ROOT / "engine" / "trading").glob("*.py"):
        assert "argparse" not in path.read_text(), path


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import engine.cli.{module}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_parsing_the_desks_arguments_stays_light() -> None:
    # The desk parses its flags before it paints; the heavy libraries load after.
    code = (
        "import sys\n"
        "from engine.cli import common\n"
        "from engine.cli.parser import parser\n"
        "common.parse(parser(), ['--sim', '--db', 'sqlite:////tmp/x.db'])\n"
        "common.parse(parser(), ['positions', '--sim'])\n"
        "import omc_tui.cli\n"
        "heavy = sorted({'pydantic', 'sqlalchemy', 'numpy', 'textual'} & set(sys.modules))\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
