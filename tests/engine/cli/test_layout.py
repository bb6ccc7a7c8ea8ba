"""engine/cli: one module per command group, no import circle, a light start for the desk."""

from __future__ import annotations

import argparse
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
    from engine.cli.parser import GROUPS

    assert graph["parser"] == {"common"}  # it loads the groups by name, one or all
    assert sorted(GROUPS) == sorted(set(MODULES) - {"parser", "common"})  # each group once

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        return any(
            n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph[start]
        )

    assert [m for m in MODULES if reaches(m, m, set())] == []


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_each_command_is_added_by_the_module_the_map_names() -> None:
    import importlib

    from engine.cli import parser as omc

    added: dict[str, str] = {}
    for module in omc.GROUPS:
        p = argparse.ArgumentParser()
        importlib.import_module(f"engine.cli.{module}").add_commands(
            p.add_subparsers(dest="command")
        )
        added |= dict.fromkeys(_commands(p), module)
    assert omc.COMMANDS == added
    assert set(_commands(omc.parser())) == set(added)


@pytest.mark.parametrize(
    "argv",
    [
        ["positions", "--json"],
        ["--db", "sqlite:////tmp/x.db", "--sim", "orders", "--open", "--limit", "3"],
        ["--speed=60", "ledger", "stats", "--json", "--db", "sqlite:///x.db"],
        ["--config", "lab", "lab", "list"],  # a value that is a command's name is a value
        ["order", "buy", "btc", "0.1", "--limit", "100", "--sim"],
    ],
)
def test_a_typed_commands_own_parser_reads_it_as_the_whole_parser_does(argv: list[str]) -> None:
    from engine.cli import common
    from engine.cli.parser import parser

    whole, own = common.parse(parser(), argv), common.parse(parser(argv), argv)
    assert len(_commands(parser(argv))) < len(_commands(parser()))
    assert {k: v for k, v in vars(own).items() if k != "handler"} == {
        k: v for k, v in vars(whole).items() if k != "handler"
    }
    assert own.handler is whole.handler


def test_help_and_unknown_words_see_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.parser import parser

    for argv in (["--help", "positions"], ["posit1ons"], ["--sim"], []):
        assert len(_commands(parser(argv))) == len(_commands(parser()))
    with pytest.raises(SystemExit):
        parser(["posit1ons"]).parse_args(["posit1ons"])
    assert "invalid choice: 'posit1ons'" in capsys.readouterr().err


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
