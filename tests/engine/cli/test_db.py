"""``omc db size`` and ``omc db vacuum``: what a user sees, with --json, and the refusal of a
vacuum while an engine owns the database."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.engine.cli.shell import run


def test_size_lists_tables_largest_first_and_vacuum_compacts(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, err = run(capsys, "--db", db_url, "--sim", "order", "buy", "BTC/AUD", "0.01")
    assert code == 0, err
    code, out, err = run(capsys, "--db", db_url, "db", "size", "--json")
    assert code == 0, err
    shown = json.loads(out)
    tables = {t["name"]: t for t in shown["tables"]}
    assert tables["orders"]["rows"] == 1 and tables["fills"]["rows"] == 1
    sizes = [t["bytes"] for t in shown["tables"]]
    assert sizes == sorted(sizes, reverse=True) and shown["bytes"] >= sum(sizes) // 2
    code, out, err = run(capsys, "--db", db_url, "db", "size")
    assert code == 0 and out.splitlines()[0].split() == ["TABLE", "ROWS", "BYTES"]
    assert "in all" in out

    code, out, err = run(capsys, "--db", db_url, "db", "vacuum", "--json")
    assert code == 0, err
    done = json.loads(out)
    assert done["bytes_before"] > 0 and done["bytes_after"] > 0
    if db_url.startswith("sqlite"):  # PostgreSQL marks space for reuse; the file may not shrink
        assert done["bytes_after"] <= done["bytes_before"]


async def test_vacuum_is_refused_while_an_engine_owns_the_database(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    from tests.service.test_attach import owner

    engine = await owner(db_url)
    try:
        code, out, err = await asyncio.to_thread(run, capsys, "--db", db_url, "db", "vacuum")
        assert code == 1 and "owns the database" in err and "stop it first" in err
        code, out, err = await asyncio.to_thread(run, capsys, "--db", db_url, "db", "size")
        assert code == 0, err  # reading the sizes needs no one to stop
    finally:
        await engine.stop()
