"""Mutation testing of the money code: portfolio, risk, tax and matching, by mutmut.

Run it in the background (about ten minutes on two idle cores)::

    .venv/bin/python tests/mutation/run.py

mutmut is configured in pyproject.toml ([tool.mutmut]): it mutates only those four modules and
runs only their fast unit tests, with a fixed Hypothesis seed. This script starts a fresh
``mutmut run`` (``--report`` reads the last run's results instead), then prints per module the
mutants made, killed (a timeout counts as killed) and survived. A survivor listed in
``equivalent.py`` is one no test can kill, with the reason; any other survivor is printed with
its diff. The exit status is 1 when a module kills less than ``--fail-under`` percent of its
non-equivalent mutants.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from equivalent import EQUIVALENT
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

ROOT = Path(__file__).resolve().parents[2]
MODULES = ("portfolio", "risk", "tax", "matching")


@dataclass(frozen=True)
class Survivor:
    name: str  # mutmut's name for the mutant
    function: str  # "Class.method" or "function"
    removed: str  # the original line(s), stripped
    added: str  # the mutated line(s), stripped
    diff: str


def _survivor(name: str, path: Path) -> Survivor:
    function, cls = orig_function_and_class_names_from_key(name)
    diff = get_diff_for_mutant(name, path=path)
    body = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    removed = " ".join(line[1:].strip() for line in body if line.startswith("-"))
    added = " ".join(line[1:].strip() for line in body if line.startswith("+"))
    return Survivor(name, f"{cls}.{function}" if cls else function, removed, added, diff)


def _reason(module: str, survivor: Survivor) -> str | None:
    for *entry, reason in EQUIVALENT:
        if tuple(entry) == (module, survivor.function, survivor.removed, survivor.added):
            return reason
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="report the last run, run nothing")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once")
    parser.add_argument("--fail-under", type=float, default=95.0, help="percent killed, per module")
    parser.add_argument("-v", "--verbose", action="store_true", help="list equivalent survivors")
    args = parser.parse_args()
    os.chdir(ROOT)  # mutmut reads its configuration and results relative to the working directory

    if not args.report:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # no result is reused from a stale run
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
        print("mutmut run: about ten minutes on two idle cores", flush=True)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)

    failed = False
    used: set[tuple[str, ...]] = set()
    columns = ("mutants", "killed", "survived", "equivalent", "score")
    print(f"{'module':<10}" + "".join(f" {column:>10}" for column in columns))
    for module in MODULES:
        path = Path("engine/trading") / f"{module}.py"
        data = SourceFileMutationData(path=path)
        data.load()
        statuses: Counter[str] = Counter()
        gaps: list[Survivor] = []
        equivalent: list[tuple[Survivor, str]] = []
        for name, code in sorted(data.exit_code_by_key.items()):
            status = status_by_exit_code[code]
            statuses[status] += 1
            if status in ("killed", "timeout", "caught by type check"):
                continue
            survivor = _survivor(name, path)
            reason = _reason(module, survivor)
            if reason is None:
                gaps.append(survivor)
            else:
                equivalent.append((survivor, reason))
                used.add((module, survivor.function, survivor.removed, survivor.added))
        total = sum(statuses.values())
        killed = statuses["killed"] + statuses["timeout"] + statuses["caught by type check"]
        counted = total - len(equivalent)
        score = 100.0 * killed / counted if counted else 100.0
        failed |= score < args.fail_under
        figures = (total, killed, total - killed, len(equivalent))
        print(f"{module:<10}" + "".join(f" {n:>10}" for n in figures) + f" {score:>9.1f}%")
        for survivor in gaps:
            status = status_by_exit_code[data.exit_code_by_key[survivor.name]]
            print(
                f"\n  {status}: {survivor.name}\n    "
                + "\n    ".join(survivor.diff.splitlines()[2:])
            )
        if args.verbose:
            for survivor, reason in equivalent:
                print(f"  equivalent: {survivor.function}: {survivor.added}\n    ({reason})")
    stale = [entry for entry in EQUIVALENT if entry[:4] not in used]
    for module, function, removed, added, _ in stale:
        print(
            f"\nequivalent.py names no surviving mutant: {module}.{function}: {removed} -> {added}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
