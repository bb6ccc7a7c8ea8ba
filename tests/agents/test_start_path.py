"""The desk's start path stays light: the Lab's heavy libraries load only when the Lab opens,
and then on a thread, never while the desk paints its first frame."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("litellm", "langgraph", "sklearn", "scipy")
START_PATH = (
    "omc_tui.cli",
    "omc_tui.app",
    "engine.local",
    "engine.lab",
    "engine.key_commands",
    "omc_tui.screens.lab",
    "omc_tui.screens.settings",
)


def test_the_desk_and_its_engine_import_no_heavy_library() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {START_PATH!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_check_sees_a_heavy_import() -> None:
    """Guard against a check that passes because it looks at nothing."""
    code = "import sys, agents.models as m; m._litellm(); print('litellm' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "True", done.stderr
