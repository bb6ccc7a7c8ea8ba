"""The Lab's report: Markdown in which every figure cites the tool result it came from.

With no model the narrative is a template filled from the results (each figure written with
``cite``, so it traces by construction). With a model, the model writes the narrative from
the results and is told to cite them; the tracer then checks every number it wrote, and any
it cannot trace is marked in the report and counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agents.models import Completion, LanguageModel, Meter, ModelError
from agents.scope import Scope
from agents.tracing import cite, fmt, mark_untraced, trace

_SYSTEM = (
    "You write the report of a crypto market study for a trader. Use only the tool results "
    "given, by id. After every figure, cite the result it came from as [rN]. Copy figures as "
    "they appear in the results (you may round them). Never state a figure that is not in a "
    "result. Be plain: say when a result shows no edge. Markdown, at most 400 words, with the "
    "headings: Scope, Data, Indicators, Sentiment, Catalysts, Models, Backtests, Verdict."
)


def _find(results: Mapping[str, Mapping[str, Any]], tool: str) -> list[tuple[str, Any]]:
    return [(rid, r["result"]) for rid, r in results.items() if r["tool"] == tool]


def _c(rid: str, value: Any, places: int = 2, *, signed: bool = False, pct: bool = False) -> str:
    """``value`` of result ``rid`` with its citation; ``pct``: a value already in percent."""
    if value is None:
        return "n/a"
    if pct:
        return f"{fmt(value, places, signed=signed)}% [{rid}]"
    return cite(rid, value, places, signed=signed)


def _params(params: Mapping[str, Any]) -> str:
    return "(" + ", ".join(f"{k} {v}" for k, v in params.items()) + ")" if params else "(defaults)"


def template(
    goal: str,
    scope: Scope,
    results: Mapping[str, Mapping[str, Any]],
    candidate: Mapping[str, Any] | None,
) -> str:
    """The templated narrative: what was read, studied and found, each figure cited."""
    out = [f"# Lab report\n\n> {goal}\n", "## Scope\n"]
    for rid, found in _find(results, "scope"):
        out.append(
            f"{found['symbol']} on {found['timeframe']} bars, the last "
            f"{_c(rid, found['days'], 0)} days up to {found['until']}.\n"
        )
    out.append("## Data\n")
    for rid, m in _find(results, "candles"):
        if not m.get("bars"):
            out.append(f"No bars were stored for this period [{rid}].\n")
            continue
        out.append(
            f"- {_c(rid, m['bars'], 0)} bars from {m['first']} to {m['last']}; the close moved "
            f"from {_c(rid, m['first_close'], 2)} to {_c(rid, m['last_close'], 2)} "
            f"({_c(rid, m['change_pct'], 2, signed=True, pct=True)})."
        )
    for rid, h in _find(results, "human"):
        out.append(
            f"- {_c(rid, h['items'], 0)} news and social items, mean score "
            f"{_c(rid, h['mean_score'], 3, signed=True)}."
        )
    for rid, c in _find(results, "catalysts"):
        out.append(f"- {_c(rid, c['events'], 0)} catalysts.")
    out.append("\n## Indicators\n")
    for rid, ind in _find(results, "indicators"):
        rsi, vol = ind["rsi_14"], ind["volatility_annualised"]
        out.append(
            f"The 14-bar RSI ended at {_c(rid, rsi['last'], 1)} (mean {_c(rid, rsi['mean'], 1)}); "
            f"MACD histogram {_c(rid, ind['macd']['histogram_last'], 4, signed=True)}; "
            f"Bollinger %B {_c(rid, ind['bollinger_20']['percent_b_last'], 2)}; annualised "
            f"volatility {_c(rid, vol['last'], 3)} (mean {_c(rid, vol['mean'], 3)}).\n"
        )
    out.append("## Sentiment\n")
    rows = _find(results, "sentiment_alignment")
    if not rows:
        out.append("Not studied.\n")
    for rid, s in rows:
        for horizon, c in s["forward"].items():
            if c["r"] is None:
                out.append(f"- {horizon}-bar horizon: no figure ({c['reason']}).")
                continue
            edge = "stronger than" if (c["p_value"] or 1) < 0.05 else "no stronger than"
            out.append(
                f"- {horizon}-bar horizon: r = {_c(rid, c['r'], 3, signed=True)} over "
                f"{_c(rid, c['pairs'], 0)} bars, {edge} shuffled sentiment "
                f"(p = {_c(rid, c['p_value'], 3)})."
            )
    out.append("\n## Catalysts\n")
    rows = _find(results, "event_study")
    if not rows:
        out.append("No event study.\n")
    for rid, e in rows:
        for kind, horizons in e["by_type"].items():
            h = horizons.get("24") or next(iter(horizons.values()))
            out.append(
                f"- {kind}: {_c(rid, h['count'], 0)} events, mean forward return "
                f"{_c(rid, h['mean_pct'], 3, signed=True, pct=True)} "
                f"({_c(rid, h['excess_pct'], 3, signed=True, pct=True)} against any bar)."
            )
    out.append("\n## Models\n")
    for rid, t in _find(results, "train"):
        out.append("| model | kind | hit rate | log loss | return | trades |")
        out.append("|---|---|---|---|---|---|")
        for s in t["scores"]:
            out.append(
                f"| {s['model']} | {s['kind']} | {_c(rid, s['hit_rate'], 3)} | "
                f"{_c(rid, s['log_loss'], 4)} | {_c(rid, s['strategy_return'], 4, signed=True)} "
                f"| {_c(rid, s['trades'], 0)} |"
            )
        verdict = "beats" if t["beats_baseline"] else "does not beat"
        out.append(
            f"\nOut of sample over {_c(rid, t['rows'], 0)} bars, the best candidate "
            f"({t['best_candidate']}) {verdict} the best baseline ({t['best_baseline']}).\n"
        )
    out.append("## Backtests\n")
    for rid, b in _find(results, "backtest"):
        args = results[rid]["args"]
        gate = "passes the gate" if b.get("gate_passed") else "fails the gate"
        out.append(
            f"- {args['strategy']} {_params(args['params'])}: return "
            f"{_c(rid, b.get('total_return_pct'), 2, signed=True, pct=True)}, Sharpe "
            f"{_c(rid, b.get('sharpe'), 2, signed=True)}, max drawdown "
            f"{_c(rid, b.get('max_drawdown_pct'), 2, pct=True)}, {_c(rid, b.get('trades'), 0)} trades; "
            f"{gate}."
        )
    out.append("\n## Verdict\n")
    if candidate:
        out.append(
            f"Proposed for paper trading: {candidate['strategy']} {_params(candidate['params'])} "
            f"on {candidate['symbol']} [{candidate['result']}], for a human to approve.\n"
        )
    else:
        out.append("Nothing passed the gate: no strategy is proposed.\n")
    return "\n".join(out)


async def write_report(
    model: LanguageModel,
    meter: Meter,
    goal: str,
    scope: Scope,
    results: Mapping[str, Mapping[str, Any]],
    candidate: Mapping[str, Any] | None,
    *,
    on_call: Any = None,
) -> tuple[str, int]:
    """The report and the count of figures in it that trace to no result."""
    if not model.available:
        text = template(goal, scope, results, candidate)
        text += f"\n---\n_{model.reason or 'no model'}._\n"
    else:
        text = await _narrate(model, meter, goal, results, on_call)
    values = {rid: {"args": r["args"], "result": r["result"]} for rid, r in results.items()}
    checked = trace(text, values)
    return mark_untraced(text, checked), checked.untraced


async def _narrate(
    model: LanguageModel,
    meter: Meter,
    goal: str,
    results: Mapping[str, Mapping[str, Any]],
    on_call: Any,
) -> str:
    payload = {rid: {"tool": r["tool"], "result": r["result"]} for rid, r in results.items()}
    messages = [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f"Goal: {goal}\n\nResults:\n{json.dumps(payload, indent=1)}"},
    ]
    try:
        completion: Completion = await model.complete(messages)
    except ModelError as exc:
        return f"# Lab report\n\nThe model could not write the narrative: {exc}\n"
    if on_call is not None:
        await on_call(completion)
    return completion.text
