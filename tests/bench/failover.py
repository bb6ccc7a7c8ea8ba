"""Failover on PostgreSQL: kill -9 the leader 20 times while a deployed strategy trades at
``--speed 600``; time from each kill to the standby leading, and to its first fill.

Needs ``OMC_TEST_PG_URL`` (a database next to which a throwaway one is created).
Target: p99 of the time to a new leader trading ≤ 10 s.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from tests.bench.tick_latency import percentile

KILLS = 20


def run() -> list[dict[str, object]]:
    from tests.conftest import _pg_database
    from tests.service.test_failover import launch, stop, wait_for
    from tests.trading.test_crash import book, deploy

    base = os.environ.get("OMC_TEST_PG_URL")
    if not base:
        return [{"figure": "failover", "skipped": "set OMC_TEST_PG_URL to measure failover"}]
    databases = _pg_database(base)
    url = next(databases)
    try:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            deploy(url)
            leader, log = launch(url, tmp)
            wait_for(log, "leader")
            leading: list[float] = []
            trading: list[float] = []
            try:
                for _ in range(KILLS):
                    standby, standby_log = launch(url, tmp)
                    wait_for(standby_log, "standby")
                    time.sleep(1.0)  # let the leader trade a little
                    fills = len(book(url)[1])
                    os.kill(leader.pid, signal.SIGKILL)
                    leader.wait(timeout=10)
                    killed = time.monotonic()
                    wait_for(standby_log, "leader", timeout=60)
                    leading.append(time.monotonic() - killed)
                    while len(book(url)[1]) <= fills and time.monotonic() - killed < 60:
                        time.sleep(0.05)
                    trading.append(time.monotonic() - killed)
                    leader = standby
            finally:
                if leader.poll() is None:
                    stop(leader)
    finally:
        next(databases, None)
    return [
        {
            "figure": "failover_to_new_leader_s",
            "p50": round(percentile(leading, 0.5), 2),
            "p99": round(percentile(leading, 0.99), 2),
            "kills": KILLS,
        },
        {
            "figure": "failover_to_new_leader_trading_s",
            "p50": round(percentile(trading, 0.5), 2),
            "p99": round(percentile(trading, 0.99), 2),
            "kills": KILLS,
            "target_p99": 10.0,
        },
    ]
