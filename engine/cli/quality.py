"""``omc quality``: data-quality scores per ledger and source; exit 1 on an alert."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config


def add_commands(sub: common.SubParsers) -> None:
    help = "data-quality scores per ledger and source"
    common.command(sub, "quality", quality_report, help, json=True)


def quality_report(args: argparse.Namespace, settings: config.Settings) -> int:
    from ledgers.quality import measure

    thresholds = settings.quality.thresholds()
    now = datetime.now(UTC)
    expected = _expected_sources(settings)

    async def work(db: Any) -> Any:
        # Only the sources of the configured data: the simulator's, or the real ones.
        return await measure(db, now, thresholds, expected, simulated=settings.sim.enabled)

    report = common.with_db(settings, work)
    if args.json:
        print(
            json.dumps(
                {
                    "at": report.at.isoformat(),
                    "overall": report.overall,
                    "alert": report.alert,
                    "alert_below": report.alert_below,
                    "ledgers": report.ledgers,
                    "sources": [
                        {
                            "ledger": s.ledger,
                            "source": s.source,
                            "rows": s.rows,
                            "rows_estimated": s.estimated,
                            "newest": s.newest.isoformat() if s.newest else None,
                            "completeness": round(s.completeness, 4),
                            "timeliness": round(s.timeliness, 4),
                            "accuracy": round(s.accuracy, 4),
                            "score": s.score,
                        }
                        for s in report.sources
                    ],
                }
            )
        )
    else:
        state = "ALERT" if report.alert else "ok"
        print(f"overall {report.overall:.2f} ({state}, alert below {report.alert_below:.2f})")
        for ledger, score in report.ledgers.items():
            print(f"  {ledger:<9} {score:.2f}")
        heads = f"{'ledger':<9} {'source':<24} {'rows':>8} {'compl':>6} {'timely':>6}"
        print(f"{heads} {'acc':>6} {'score':>6}")
        for s in report.sources:
            rows = f"~{s.rows}" if s.estimated else str(s.rows)
            print(
                f"{s.ledger:<9} {s.source:<24} {rows:>8} {s.completeness:>6.2f} "
                f"{s.timeliness:>6.2f} {s.accuracy:>6.2f} {s.score:>6.2f}"
            )
        if any(s.estimated for s in report.sources):
            print("~ rows estimated: the newest ticks of each market were judged, not all")
    return 1 if report.alert else 0


def _expected_sources(settings: config.Settings) -> dict[str, list[str]]:
    """The sources the configured engine would run, so a silent one counts against quality."""
    if settings.sim.enabled:
        return {"exchange": ["sim"], "glass": ["sim"], "human": ["sim"], "catalyst": ["sim"]}
    from engine.intel import live_collectors

    async def none() -> list[Any]:
        return []

    expected: dict[str, list[str]] = {"exchange": [settings.market.venue]}
    for c in live_collectors(settings, none):
        expected.setdefault(c.ledger, []).append(c.name)
    return expected
