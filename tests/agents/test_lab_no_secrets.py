"""No secret reaches a log, snapshot, export or report (DESIGN §7): a session runs on a model
whose key comes from the vault, and the key and the passphrase are then searched for everywhere
the session left a trace.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from engine import config, vault
from engine.local import LocalEngine
from ledgers.clock import ManualClock
from tests.agents.scripted_model import Failure, ScriptedModel, Text, serve
from tests.agents.test_lab_no_orders import GOAL, START, settled

# -- no secret reaches a log, snapshot, export or report --------------------------------------

NARRATIVE = (
    "## Data\n\nThe study read 2,160 [r2] hourly bars of ETH/AUD.\n\n"
    "## Verdict\n\nA rule passed the gate; see the backtests."
)
# Every library the session goes through, logging at its most talkative.
TALKATIVE = (
    "LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm", "openai", "httpx", "httpcore",
    "langgraph", "langchain", "aiosqlite", "asyncpg", "sqlalchemy", "alembic", "omc", "engine",
    "agents", "asyncio",
)  # fmt: skip


@pytest.fixture
def scripted() -> Iterator[ScriptedModel]:
    with serve() as model:
        yield model


def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Every logger at DEBUG into the capture, libraries included (litellm is imported first:
    on import it quiets httpx, and the capture must undo that)."""
    import httpx  # noqa: F401 - imported for its logger's level
    import langgraph.graph  # noqa: F401
    import litellm  # noqa: F401

    caplog.set_level(logging.DEBUG)
    for name in {*TALKATIVE, *logging.root.manager.loggerDict}:
        caplog.set_level(logging.DEBUG, logger=name)


class _Canaries:
    """The secrets a session holds, and the texts searched for them."""

    def __init__(self, *secrets_: str) -> None:
        self.secrets = secrets_
        self.searched: dict[str, int] = {}

    def absent(self, where: str, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.searched[where] = len(data)
        for secret in self.secrets:
            for needle in (secret.encode(), secret[-16:].encode()):  # whole, and its random tail
                at = data.find(needle)
                if at >= 0:  # said without the haystack (megabytes) or the secret itself
                    seen = data[max(0, at - 80) : at + len(needle) + 80].replace(
                        needle, b"<SECRET>"
                    )
                    pytest.fail(f"a secret is in {where}: …{seen.decode(errors='replace')}…")


async def _stored(db_url: str, path: Path) -> tuple[bytes, dict[str, int]]:
    """Everything the database holds, as bytes, and the rows of each table."""
    if db_url.startswith("sqlite"):
        files = b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            rows = {t: conn.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
        return files + _dumped(rows), {t: len(r) for t, r in rows.items()}
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        rows = {
            t["table_name"]: [
                tuple(r.values())
                for r in await conn.fetch(
                    f'SELECT * FROM "{t["table_schema"]}"."{t["table_name"]}"'
                )
            ]
            for t in tables
        }
    finally:
        await conn.close()
    return _dumped(rows), {t: len(r) for t, r in rows.items()}


def _dumped(rows: dict[str, list[tuple[Any, ...]]]) -> bytes:
    """Each value as stored: bytes as they are, the rest as text."""
    out = bytearray()
    for table, found in rows.items():
        out += table.encode() + b"\n"
        for row in found:
            for value in row:
                out += (
                    bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                )
                out += b"\t"
            out += b"\n"
    return bytes(out)


@pytest.mark.parametrize("isolate", [False, True], ids=["in-engine", "worker"])
def test_no_secret_reaches_a_log_snapshot_export_or_report(
    isolate: bool,
    db_url: str,
    scripted: ScriptedModel,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from engine.config import data_dir
    from engine.logs import JsonFormatter
    from tests.engine.cli.shell import run

    key = "sk-omc-canary-" + secrets.token_hex(16)
    passphrase = "omc passphrase canary " + secrets.token_hex(8)
    canaries = _Canaries(key, passphrase)
    monkeypatch.setenv("OMC_VAULT_PASSPHRASE", passphrase)
    monkeypatch.setattr(vault, "SCRYPT_COST", (2**10, 8, 1))  # stored with the vault: no change
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    _log_everything(caplog)
    # The engine's own JSON log lines, as the desk writes them to its file.
    log_file = tmp_path / "engine.log"
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(file_handler)

    # The provider quotes the key back in its errors, as some do: once refusing the request
    # that reads the goal (its message reaches a step), once failing the report's (retried).
    scripted.script(
        Failure(401, f"Incorrect API key provided: {key}"),
        Failure(500, f"upstream failed for key {key}"),
        Text(NARRATIVE, prompt_tokens=3000, completion_tokens=120),
    )
    try:
        session, encoded = asyncio.run(_a_session(db_url, scripted, key, passphrase, isolate))
    finally:
        logging.getLogger().removeHandler(file_handler)
        file_handler.close()
    said = capfd.readouterr()

    # The key was used: every request reached the model with it.
    assert [r.headers["authorization"] for r in scripted.received] == [f"Bearer {key}"] * 3

    # The logs: the capture, the engine's log file and whatever reached stdout and stderr.
    logs = caplog.text
    assert session in logs
    if not isolate:  # the model was called in this process: every library's logger was seen
        assert "/chat/completions" in logs  # the capture saw the session's calls
        assert {"LiteLLM", "openai._base_client", "httpx"} <= {r.name for r in caplog.records}
        assert "401 Unauthorized" in logs and "500 Internal Server Error" in logs
    canaries.absent("the captured logs", logs)
    canaries.absent("the records' arguments", repr([(r.msg, r.args) for r in caplog.records]))
    engine_log = log_file.read_text()
    assert session in engine_log
    canaries.absent("the engine's log file", engine_log)
    canaries.absent("stdout and stderr", said.out + said.err)

    # What the attach protocol sent a desk: the events, the session and the snapshot.
    assert session in encoded and '"LabEvent"' in encoded and '"Snapshot"' in encoded
    canaries.absent("the attach encoding", encoded)

    # What the command line shows and exports; its own log file too.
    def omc(*argv: str) -> str:
        code, out, err = run(capfd, "--db", db_url, "--sim", *argv)  # type: ignore[arg-type]
        assert code == 0, err
        canaries.absent(f"omc {' '.join(argv)}", out + err)
        return out

    shown = json.loads(omc("lab", "show", session, "--json"))
    assert shown["session"]["id"] == session and shown["session"]["status"] == "done"
    # The refused call's message is kept, with the key it quoted blanked out.
    assert "HTTP 401: Incorrect API key provided: **********" in json.dumps(shown)
    assert session in omc("lab", "show", session)
    report = json.loads(omc("lab", "report", session, "--json"))["report"]
    assert "## Verdict" in report
    exported = tmp_path / "report.md"
    omc("lab", "report", session, "-o", str(exported))
    assert exported.read_text().strip() == report.strip()
    canaries.absent("the exported report", exported.read_text())
    assert session in omc("lab", "list", "--json")
    keys = json.loads(omc("keys", "list", "--json"))["keys"]
    assert [k["name"] for k in keys] == ["openai"]
    assert session in omc("export", "backtests", "--format", "jsonl")
    assert "strategy" in omc("export", "deployments", "--format", "jsonl")
    cli_logs = "".join(p.read_text() for p in data_dir().rglob("*.log"))
    assert session in cli_logs  # the commands logged (their statements) while reading it
    canaries.absent("the command line's log", cli_logs)

    # The database: every row of every table (the checkpoints included), and on SQLite the
    # file's bytes too, freed pages and write-ahead log included.
    stored, counts = asyncio.run(_stored(db_url, tmp_path / "omc.db"))
    assert counts["lab_sessions"] == 1 and counts["lab_results"] > 5 and counts["lab_entries"] > 5
    assert counts["vault_keys"] == 1
    assert sum(n for t, n in counts.items() if t.startswith(("checkpoint", "writes"))) > 10
    assert session.encode() in stored and b"## Verdict" in stored
    canaries.absent("the database", stored)

    # Everywhere was searched and held something; in the worker the model's libraries print
    # nothing to the engine's stdout and stderr (the worker's go to its log relay).
    quiet = {"stdout and stderr"} if isolate else set()
    assert min(n for where, n in canaries.searched.items() if where not in quiet) > 0


async def _a_session(
    db_url: str, scripted: ScriptedModel, key: str, passphrase: str, isolate: bool
) -> tuple[str, str]:
    """A whole session on the vault's key: scope, study, report, approval. Its id, and all the
    attach protocol would have sent about it (events, views, the snapshot), encoded."""
    from engine.logs import log_event
    from engine.service import codec

    lab = {"model": "openai/gpt-4o-mini", "base_url": scripted.base_url, "isolate": isolate}
    s = config.load(None, sim={"enabled": True}, database={"url": db_url}, lab=lab)
    s.sources.enabled = False
    engine = LocalEngine(s, clock=ManualClock(START), schedule=False)
    sub = engine.bus.subscribe()
    seen: list[Any] = []

    async def follow() -> None:  # every event as a log line (the headless engine logs some)
        async for event in sub:
            seen.append(event)
            log_event(logging.getLogger("omc.events"), event)

    follower = asyncio.create_task(follow())
    await engine.start()
    try:
        await engine.wait_ready()
        await asyncio.wait_for(engine._lab_ready.wait(), 60)
        assert engine.db is not None
        keys = await vault.Vault.create(engine.db, SecretStr(passphrase))
        await keys.add("openai", SecretStr(key), kind="model")
        view = await engine.lab_start(GOAL)
        view = await settled(engine, view.id, "waiting")
        await engine.lab_answer(view.id, "yes")
        view = await settled(engine, view.id, "waiting")
        assert view.waiting is not None and view.waiting["kind"] == "proposal"
        await engine.lab_decide(view.id, True, allocation=Decimal("1000"))
        view = await settled(engine, view.id, "done")
        replies = [
            await engine.lab_detail(view.id),
            await engine.lab_sessions(),
            await engine.deployments(),
            await engine.backtests(),
            engine.snapshot(),
        ]
        await asyncio.sleep(0.1)  # the follower takes the last events
        encoded = json.dumps([codec.encode(e) for e in seen] + [codec.encode(r) for r in replies])
        return view.id, encoded
    finally:
        follower.cancel()
        await engine.stop()
