"""The attach protocol end to end: an owning engine, ``RemoteEngine`` and bad input."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine import config
from engine.api import OrderResult, Snapshot
from engine.events import FeedEvent, FillEvent, OrderEvent, QualityEvent, QuoteEvent
from engine.service import codec
from engine.service.owner import DatabaseOwned, OwningEngine
from engine.service.protocol import RemoteError, Unreachable
from engine.service.remote import RemoteEngine, attach_url
from engine.service.token import engine_token


def sim_settings(db_url: str) -> config.Settings:
    s = config.load(None, sim={"enabled": True}, database={"url": db_url})
    s.sources.enabled = False
    s.service.listen = "127.0.0.1:0"
    s.trading.stale_quote_seconds = 3600
    return s


async def owner(db_url: str, token: str | None = None) -> OwningEngine:
    s = sim_settings(db_url)
    if token is not None:
        s.service.token = SecretStr(token)
    engine = OwningEngine(s, listen=s.service.listen, schedule=False)
    await engine.start()
    await engine.wait_ready()
    await asyncio.wait_for(engine._trading_ready.wait(), 60)
    return engine


async def attached(engine: OwningEngine) -> RemoteEngine:
    remote = RemoteEngine(engine.address, engine_token(engine.settings))
    await remote.start()
    return remote


def test_the_engine_types_round_trip_through_json_exactly() -> None:
    now = datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC)
    order = OrderEvent(
        "c1",
        "paper",
        "paper:sim",
        "BTC/AUD",
        "buy",
        "limit",
        Decimal("0.01000"),
        Decimal("231000.123456789012345678901234"),
        "open",
        Decimal(0),
        None,
        Decimal("0"),
        "manual",
        now,
        now,
        expires_at=now,
    )
    fill = FillEvent(
        "f1",
        "c1",
        "paper",
        "paper:sim",
        "BTC/AUD",
        "buy",
        Decimal("0.01"),
        Decimal("1.5"),
        Decimal("0.0015"),
        "taker",
        now,
    )
    result = OrderResult(order, True, "ok", "filled", (fill,))
    back = codec.decode(json.loads(json.dumps(codec.encode(result))))
    assert back == result
    assert back.order.limit_price == Decimal("231000.123456789012345678901234")
    assert isinstance(back.fills, tuple) and back.order.created_at.tzinfo is not None


def test_a_job_status_travels_though_its_module_loads_late() -> None:
    # A thin client decodes a job's status without having loaded the scheduler's module.
    code = (
        "import json, sys\n"
        "from engine.service import codec\n"
        "assert 'engine.jobs' not in sys.modules\n"
        'data = {"$": "JobStatus", "name": "market.tickers", "description": "tickers",'
        ' "interval": 5.0, "status": "error", "last_error": "timeout", "runs": 3}\n'
        "status = codec.decode(json.loads(json.dumps(data)))\n"
        "from engine.jobs import JobStatus\n"
        "assert isinstance(status, JobStatus) and status.runs == 3, status\n"
        "assert codec.encode(status)['$'] == 'JobStatus'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "data",
    [
        {"$": "Popen", "args": "rm -rf /"},
        {"$": "OrderEvent", "nope": 1},
        {"$d": "not a number"},
        {"$t": "2026-12-07T10:00:00"},  # no zone
        {"$u": "not a list"},
    ],
)
def test_the_codec_refuses_what_is_not_the_engines(data: object) -> None:
    with pytest.raises(codec.CodecError):
        codec.decode(data)


async def test_an_order_through_attach_fills_and_its_events_arrive(db_url: str) -> None:
    engine = await owner(db_url)
    remote = await attached(engine)
    try:
        sub = remote.bus.subscribe()
        snap = remote.snapshot()
        assert isinstance(snap, Snapshot) and snap.mode.engine.startswith("attached · 127.0.0.1:")
        assert snap.mode.book == "paper:sim"
        result = await remote.place_order("BTC/AUD", "buy", "0.01")
        assert result.accepted and result.order.state == "filled"
        local = await engine.orders()
        assert [o.client_id for o in local] == [result.order.client_id]  # one book, the owner's
        seen: list[object] = []
        async with asyncio.timeout(10):
            while not any(isinstance(e, FillEvent) for e in seen):
                seen.extend(await sub.batch())
        assert any(isinstance(e, OrderEvent) and e.state == "filled" for e in seen)
        view = await remote.trading()
        assert [p.symbol for p in view.positions] == ["BTC/AUD"]
        assert view.positions[0].quantity == Decimal("0.01")
        with pytest.raises(RemoteError) as refused:
            await remote.place_order("BTC/AUD", "buy", "abc")
        assert refused.value.kind == "usage" and "quantity" in str(refused.value)
        status = await remote.service_status()
        assert status.role == "leader" and status.clients == 1 and status.book == "paper:sim"
    finally:
        await remote.stop()
        await engine.stop()


async def test_a_second_owner_is_refused_and_a_command_waits_for_none(db_url: str) -> None:
    engine = await owner(db_url)
    try:
        other = OwningEngine(sim_settings(db_url), listen="127.0.0.1:0", schedule=False)
        with pytest.raises(DatabaseOwned) as owned:
            await other.claim()
        assert engine.address in str(owned.value)
        await other.lease.release()
    finally:
        await engine.stop()
    again = OwningEngine(sim_settings(db_url), listen="127.0.0.1:0", schedule=False)
    await again.claim()  # free once the owner stopped
    assert again.lease.held
    await again.lease.release()


async def test_probes_and_metrics_answer_on_the_same_port(db_url: str) -> None:
    engine = await owner(db_url)
    base = engine.address.replace("ws://", "http://")
    try:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).text == "ok\n"
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 200, ready.text
            await engine.place_order("BTC/AUD", "buy", "0.001")
            metrics = (await http.get(f"{base}/metrics")).text
            assert "omc_leader 1.0" in metrics
            assert 'omc_fills_total{book="paper:sim",side="buy"}' in metrics
            engine.feed.quotes.clear()
            ready = await http.get(f"{base}/readyz")
            assert ready.status_code == 503 and "no quotes yet" in ready.text
    finally:
        await engine.stop()


async def test_bad_input_gets_a_clear_answer_and_disturbs_nobody(db_url: str) -> None:
    engine = await owner(db_url)
    url = engine.address + "/attach"
    token = engine_token(engine.settings)
    auth = {"Authorization": f"Bearer {token}"}
    watcher = await attached(engine)
    try:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 401
        async with connect(url, additional_headers=auth, max_size=None) as ws:
            await ws.recv(), await ws.recv()  # hello, snapshot

            async def ask(raw: str) -> dict:
                await ws.send(raw)
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] in ("result", "error"):
                        return msg

            cases = {
                "{not json": "malformed JSON",
                "[1, 2]": "a request is a JSON object",
                '{"method": "trading"}': "needs an id",
                '{"id": 1, "method": "shutdown"}': "unknown method 'shutdown'",
                '{"id": 2, "method": "place_order", "params": {"symbol": 5, "side": "buy", '
                '"quantity": "1"}}': "symbol cannot be a int",
                '{"id": 3, "method": "cancel_order", "params": {}}': "missing a required",
                '{"id": 4, "method": "candles", "params": {"symbol": "BTC/AUD", '
                '"timeframe": "1h", "limit": {"$": "Popen"}}}': "unknown type",
            }
            for raw, said in cases.items():
                answer = await ask(raw)
                assert answer["type"] == "error", raw
                assert said in answer["error"]["message"], (raw, answer)
            ok = await ask('{"id": 9, "method": "trading", "params": {}}')
            assert ok["type"] == "result"
        async with connect(url, additional_headers=auth, max_size=None) as big:
            await big.recv(), await big.recv()
            await big.send("x" * (engine.settings.service.max_message_bytes + 10))
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await big.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        # The engine and its other client carry on.
        assert (await watcher.trading()).trading.book == "paper:sim"
    finally:
        await watcher.stop()
        await engine.stop()


@hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    message=st.one_of(
        st.text(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["id", "method", "params", "$", "$d", "x"]), inner
                )
            ),
            max_leaves=12,
        ).map(json.dumps),
    )
)
def test_any_message_gets_an_answer_or_nothing_and_the_engine_stays_up(
    message: str, fuzz_engine: None
) -> None:
    assert FUZZ.engine is not None

    async def go() -> None:
        auth = {"Authorization": f"Bearer {FUZZ.token}"}
        async with connect(FUZZ.engine, additional_headers=auth, max_size=None) as ws:
            await ws.recv(), await ws.recv()
            await ws.send(message)
            await ws.send('{"id": "last", "method": "strategies", "params": {}}')
            async with asyncio.timeout(10):
                while True:
                    msg = json.loads(await ws.recv())
                    if msg.get("id") == "last":
                        assert msg["type"] == "result"
                        return

    FUZZ.loop.run_until_complete(go())


class _Fuzz:
    engine: str | None = None
    token = ""
    loop: asyncio.AbstractEventLoop


FUZZ = _Fuzz()


@pytest.fixture(scope="module")
def fuzz_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One engine for the fuzz test, on its own loop (hypothesis runs examples synchronously)."""
    folder = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    url = f"sqlite+aiosqlite:///{folder / 'omc.db'}"
    engine = loop.run_until_complete(owner(url, token="fuzz-token"))
    FUZZ.engine, FUZZ.token, FUZZ.loop = engine.address + "/attach", "fuzz-token", loop
    yield
    loop.run_until_complete(engine.stop())
    loop.close()
    FUZZ.engine = None


async def test_a_dropped_connection_fails_commands_at_once_and_resyncs(db_url: str) -> None:
    engine = await owner(db_url)
    remote = await attached(engine)
    address = engine.address
    try:
        await engine.stop()
        async with asyncio.timeout(10):
            while remote.connected.is_set():  # noqa: ASYNC110 - the reader clears it
                await asyncio.sleep(0.05)
        assert remote.snapshot().mode.engine.startswith("reconnecting… ")
        t0 = asyncio.get_running_loop().time()
        with pytest.raises(Unreachable):
            await remote.trading()
        assert asyncio.get_running_loop().time() - t0 < 0.5  # at once, never hanging
        s = sim_settings(db_url)
        s.service.listen = address.removeprefix("ws://")
        engine = OwningEngine(s, listen=s.service.listen, schedule=False)
        await engine.start()
        async with asyncio.timeout(20):
            await remote.connected.wait()
        assert remote.snapshot().mode.engine.startswith("attached · ")
        assert isinstance((await remote.trading()).trading.book, str)
    finally:
        await remote.stop()
        await engine.stop()


async def test_a_command_attaches_for_its_answers_alone(db_url: str) -> None:
    engine = await owner(db_url)
    url = attach_url(engine.address or "")
    headers = {"Authorization": f"Bearer {engine_token(engine.settings)}"}
    try:
        async with connect(f"{url}?events=0", additional_headers=headers) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello" and hello["role"] == "leader"
            assert abs(datetime.fromisoformat(hello["now"]) - engine.now()).total_seconds() < 5
            await engine.run_job("market.tickers")  # quotes an attached desk would be sent
            await ws.send(json.dumps({"id": 1, "method": "trading", "params": {}}))
            answer = json.loads(await ws.recv())
            assert (answer["type"], answer["id"]) == ("result", 1)
            await engine.run_job("market.tickers")
            with pytest.raises(TimeoutError):  # no snapshot, no events: nothing unasked
                await asyncio.wait_for(ws.recv(), 1.0)
        remote = RemoteEngine(
            engine.address or "", engine_token(engine.settings), reconnect=False, events=False
        )
        await remote.start()
        try:
            result = await remote.place_order("BTC/AUD", "buy", "0.01")
            assert result.accepted and (await remote.trading()).positions[0].symbol == "BTC/AUD"
            assert abs((remote.now() - engine.now()).total_seconds()) < 5
            with pytest.raises(Unreachable, match="answers only"):
                remote.snapshot()
        finally:
            await remote.stop()
    finally:
        await engine.stop()


async def test_quotes_reach_an_attached_client(db_url: str) -> None:
    engine = await owner(db_url)
    remote = await attached(engine)
    try:
        sub = remote.bus.subscribe()
        async with asyncio.timeout(15):
            while True:
                await engine.run_job("market.tickers")  # a new simulated second brings ticks
                try:
                    batch = await asyncio.wait_for(sub.batch(), 1.5)
                except TimeoutError:
                    continue
                if any(isinstance(e, QuoteEvent) for e in batch):
                    break
    finally:
        await remote.stop()
        await engine.stop()


async def test_the_attached_snapshot_follows_jobs_feeds_and_quality_without_a_resend(
    db_url: str,
) -> None:
    """A job's run, a feed's health and the quality score reach the attached desk's snapshot
    as they happen; the whole snapshot is not sent again for each (it costs milliseconds to
    make and to read, several times a second while jobs run)."""
    engine = await owner(db_url)
    remote = await attached(engine)
    kinds: list[str] = []
    dispatch = remote._dispatch

    def counting(message: dict[str, object]) -> None:
        kinds.append(str(message.get("type")))
        dispatch(message)

    remote._dispatch = counting  # type: ignore[method-assign]
    try:
        before = {j.name: j for j in remote.snapshot().jobs}["market.tickers"]
        done = await remote.run_job("market.tickers")
        async with asyncio.timeout(10):
            while True:
                job = {j.name: j for j in remote.snapshot().jobs}["market.tickers"]
                if job.runs == done.runs and job.status == done.status:
                    break
                await asyncio.sleep(0.02)
        assert job.runs == before.runs + 1
        assert job.last_finished == done.last_finished
        assert "snapshot" not in kinds and "jobs" in kinds

        down = FeedEvent("sim.glass", "down", datetime.now(UTC), "no answer")
        quality = QualityEvent(datetime.now(UTC), 0.42, {"exchange": 0.42}, alert=True)
        engine.bus.publish_many([down, quality])
        async with asyncio.timeout(10):
            while remote.snapshot().quality != quality:  # noqa: ASYNC110 - set by the reader
                await asyncio.sleep(0.02)
        feeds = {f.feed: f for f in remote.snapshot().feeds}
        assert feeds["sim.glass"] == down
        assert len(feeds) == len(remote.snapshot().feeds)  # replaced, not added twice
        assert "snapshot" not in kinds
    finally:
        await remote.stop()
        await engine.stop()


async def test_attach_over_tls_with_the_engines_certificate(tmp_path: Path) -> None:
    import ssl

    from tests.service.conftest import self_signed

    cert, key, pem = self_signed(tmp_path)
    s = sim_settings(f"sqlite+aiosqlite:///{tmp_path / 'omc.db'}")
    s.service.tls_cert, s.service.tls_key = str(cert), str(key)
    s.service.token = SecretStr("tls-token")
    engine = OwningEngine(s, listen=s.service.listen, schedule=False)
    await engine.start()
    try:
        assert engine.address.startswith("wss://127.0.0.1:")
        untrusting = RemoteEngine(engine.address, "tls-token", reconnect=False)
        with pytest.raises(Unreachable):  # a certificate nobody vouched for is refused
            await untrusting.start()
        trusting = ssl.create_default_context(cadata=pem)
        remote = RemoteEngine(engine.address, "tls-token", tls=trusting)
        await remote.start()
        try:
            assert (await remote.strategies())[0].name
        finally:
            await remote.stop()
        health = engine.address.replace("wss://", "https://") + "/healthz"
        async with httpx.AsyncClient(verify=trusting) as http:
            assert (await http.get(health)).text == "ok\n"
    finally:
        await engine.stop()


def test_attach_needs_a_usable_address_and_a_token(tmp_path: Path) -> None:
    from omc_tui.cli import _remote_engine
    from omc_tui.starting import StartRefused

    s = config.load(tmp_path / "none.toml")
    with pytest.raises(StartRefused, match="expected ws://HOST:PORT"):
        _remote_engine("http://example.com", "t", s)
    with pytest.raises(StartRefused, match="--attach needs --token"):
        _remote_engine("wss://engine.example.com", None, s)
    remote = _remote_engine("wss://engine.example.com", "t", s)
    assert remote.url == "wss://engine.example.com/attach"
    s.service.token = SecretStr("from-env")
    assert (
        _remote_engine("engine.example.com:8765", None, s).url
        == "ws://engine.example.com:8765/attach"
    )


async def test_orders_at_once_with_a_fast_heartbeat_never_depose_the_owner(db_url: str) -> None:
    """The lease's heartbeat and every order's fence share one connection on PostgreSQL:
    their collision once read as a lost lease and the engine deposed itself."""
    s = sim_settings(db_url)
    s.service.failover_seconds = 0.5  # a heartbeat every 0.1 s
    s.trading.max_orders_per_minute = 1000
    engine = OwningEngine(s, listen=s.service.listen, schedule=False)
    await engine.start()
    try:
        await engine.wait_ready()
        await asyncio.wait_for(engine._trading_ready.wait(), 60)
        results = await asyncio.gather(
            *(engine.place_order("BTC/AUD", "buy", "0.0001") for _ in range(40))
        )
        await asyncio.sleep(0.5)  # a few more heartbeats
        assert all(r.accepted for r in results), [r.message for r in results if not r.accepted]
        assert not engine.lost.is_set()
    finally:
        await engine.stop()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://omc@127.0.0.1:5432/omc",
        "postgresql+asyncpg://omc:p%40ss%2Fw%3A@db.internal:5433/omc?ssl=require",
        "postgresql://omc:secret@db.internal/omc",
    ],
)
def test_the_owners_record_is_read_with_asyncpgs_own_dsn(url: str) -> None:
    from urllib.parse import urlsplit

    from sqlalchemy.engine import make_url

    from engine.service.lease import asyncpg_dsn

    dsn, theirs = asyncpg_dsn(url), make_url(url).set(drivername="postgresql")
    ours = urlsplit(dsn)
    assert ours.scheme == "postgresql" and make_url(dsn) == theirs  # the same place and user
    assert make_url(dsn).password == theirs.password
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")
