"""Run the benchmarks named on the command line (default: all but the long memory soak)."""

from __future__ import annotations

import argparse
import json
import sys

from tests.bench import (
    attach,
    backtest,
    book_lock,
    cli_speed,
    collection,
    failover,
    first_paint,
    lab,
    memory,
    order_path,
    persist,
    pnl_mark,
    tick_latency,
    tickers_layout,
    year,
)

BENCHES = {
    "first_paint": first_paint.run,
    "tick_latency": tick_latency.run,
    "persist": persist.run,
    "memory": memory.run,
    "collection": collection.run,
    "backtest": backtest.run,
    "order_path": order_path.run,
    "pnl_mark": pnl_mark.run,
    "book_lock": book_lock.run,
    "attach_order": attach.order_round_trip,
    "attach_clients": attach.many_clients,
    "attach_tick": attach.attached_tick,
    "failover": failover.run,
    "lab_run": lab.run_lab,
    "lab_tick": lab.run_tick,
    "cli_speed": cli_speed.run,
    "year": year.run,
    "tickers_layout": tickers_layout.run,
}
DEFAULT = [
    "first_paint",
    "tick_latency",
    "persist",
    "collection",
    "backtest",
    "order_path",
    "pnl_mark",
    "book_lock",
]


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.bench")
    p.add_argument("names", nargs="*", choices=[*BENCHES, []], help=f"default: {' '.join(DEFAULT)}")
    args = p.parse_args()
    for name in args.names or DEFAULT:
        for figure in BENCHES[name]():
            print(json.dumps({"bench": name, **figure}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
