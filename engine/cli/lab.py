"""``omc lab``: research sessions from the command line, as in the desk's Lab (``A``).

``run`` starts a session and follows it: its steps as they come, the scope to confirm (typed
at the terminal, or ``--yes``), and at the end the report, or the proposal that waits for
``omc lab approve``/``reject``. A session outlives the command: it is checkpointed in the
database, and any later command (or the desk) picks it up where it stands.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.cli import common

if TYPE_CHECKING:
    from engine import config
    from engine.api import LabDetail, LabSessionView
    from engine.cli.common import Engine

POLL_SECONDS = 0.2
YES = ("", "y", "yes", "ok")


def add_commands(sub: common.SubParsers) -> None:
    group = common.group(sub, "lab", "research sessions: study, report, propose", "lab_command")
    run = common.command(
        group, "run", lab_run, "start a session on a goal and follow it", json=True
    )
    run.add_argument("goal", help='what to research, e.g. "an edge in ETH/AUD on 1h, 90 days?"')
    run.add_argument("--symbol", help="the market to study (else the one the goal names)")
    run.add_argument("--model", help="provider/name, e.g. openai/gpt-4o-mini (default [lab])")
    run.add_argument("--budget", help="USD the session may spend on its model (default [lab])")
    run.add_argument("--yes", action="store_true", help="confirm the scope without asking")
    common.command(group, "list", lab_list, "sessions, newest first", json=True)
    show = common.command(
        group, "show", lab_show, "a session's steps, results and state", json=True
    )
    show.add_argument("id")
    answer = common.command(group, "answer", lab_answer, "answer what a session asks", json=True)
    answer.add_argument("id")
    answer.add_argument("text", help='"yes", or a change: "4h, 30 days, no catalysts"')
    approve = common.command(group, "approve", lab_approve, "paper-trade its proposal", json=True)
    approve.add_argument("id")
    approve.add_argument("--allocation", help="quote currency it trades with (default config)")
    reject = common.command(group, "reject", lab_reject, "turn its proposal down", json=True)
    reject.add_argument("id")
    reject.add_argument("--reason", default="", help="kept with the session")
    resume = common.command(group, "resume", lab_resume, "carry on a stopped session", json=True)
    resume.add_argument("id")
    resume.add_argument("--budget", help="a new budget in USD (one that was spent stops it)")
    cancel = common.command(group, "cancel", lab_cancel, "stop a session for good", json=True)
    cancel.add_argument("id")
    report = common.command(group, "report", lab_report, "a session's report (Markdown)", json=True)
    report.add_argument("id")
    report.add_argument("-o", "--output", help="write it to this file")


def _budget(text: str | None, flag: str = "--budget") -> Decimal | None:
    return common.decimal(text, flag)


def lab_run(args: argparse.Namespace, settings: config.Settings) -> int:
    budget = _budget(args.budget)
    symbol = common.symbol(args.symbol, settings) if args.symbol else None
    interactive = sys.stdin.isatty() and not args.json

    async def work(engine: Engine) -> LabDetail:
        view = await engine.lab_start(args.goal, model=args.model, budget=budget)
        told = 0
        if not args.json:
            print(f"{view.id}  {view.goal}")
        asked_symbol = False
        while True:
            detail, told = await _follow(engine, view.id, told, quiet=args.json)
            waiting = detail.session.waiting or {}
            if detail.session.status != "waiting" or waiting.get("kind") == "proposal":
                return detail
            if symbol and not asked_symbol:
                asked_symbol = True
                await engine.lab_answer(view.id, symbol)
                continue
            if args.yes:
                await engine.lab_answer(view.id, "yes")
                continue
            if not interactive:
                return detail  # it waits: `omc lab answer ID …` carries on
            prompt = f"{waiting.get('text', '')} [Y/n or a change] "
            reply = (await asyncio.to_thread(input, prompt)).strip()
            if reply.lower() in ("n", "no"):
                await engine.lab_cancel(view.id)
                return await engine.lab_detail(view.id)
            await engine.lab_answer(view.id, "yes" if reply.lower() in YES else reply)

    detail = common.with_engine(settings, work)
    return _finish(args, detail)


async def _follow(engine: Engine, session: str, told: int, *, quiet: bool) -> tuple[Any, int]:
    """Print the session's new steps until it stops running; its detail then."""
    while True:
        detail = await engine.lab_detail(session)
        for step in detail.steps[told:]:
            if not quiet and step.kind == "step":
                print(f"  {step.node:>8}  {step.text}")
        told = len(detail.steps)
        if detail.session.status != "running":
            return detail, told
        await asyncio.sleep(POLL_SECONDS)


def _finish(args: argparse.Namespace, detail: LabDetail) -> int:
    view = detail.session
    if args.json:
        common.dump(detail)
        return 0 if view.status in ("done", "waiting") else 1
    if detail.report and (view.status == "done" or (view.waiting or {}).get("kind") == "proposal"):
        print()
        print(detail.report)
    _state(view)
    return 0 if view.status in ("done", "waiting", "cancelled") else 1


def _state(view: LabSessionView) -> None:
    waiting = view.waiting or {}
    print(f"{view.id}  {view.status}  {_cost(view)}")
    if view.status == "waiting" and waiting.get("kind") == "proposal":
        print(f"  {waiting.get('text')}")
        print(f"  omc lab approve {view.id} [--allocation N]  |  omc lab reject {view.id}")
    elif view.status == "waiting":
        print(f"  {waiting.get('text')}")
        print(f'  omc lab answer {view.id} yes  (or a change: "4h, 30 days")')
    elif view.status in ("stopped", "failed"):
        print(f"  {view.error}")
        print(f"  omc lab resume {view.id} [--budget USD]")
    if view.untraced:
        print(f"  {view.untraced} figure(s) in the report trace to no result: marked in it")


def _cost(view: LabSessionView) -> str:
    tokens = view.prompt_tokens + view.completion_tokens
    spent = f"${view.spent:.4f}"
    budget = f" of ${view.budget:.2f}" if view.budget is not None else ""
    model = view.model or "no model"
    unpriced = f", {view.unpriced_calls} at an unknown price" if view.unpriced_calls else ""
    return f"{model}, {view.calls} calls, {tokens:,} tokens, {spent}{budget}{unpriced}"


def _on_session(
    args: argparse.Namespace, settings: config.Settings, call: Any, *, follow: bool = True
) -> int:
    async def work(engine: Engine) -> Any:
        view = await call(engine)
        if not follow:
            return await engine.lab_detail(view.id)
        detail, _ = await _follow(engine, view.id, 0, quiet=True)
        return detail

    return _finish(args, common.with_engine(settings, work))


def lab_answer(args: argparse.Namespace, settings: config.Settings) -> int:
    return _on_session(args, settings, lambda e: e.lab_answer(args.id, args.text))


def lab_approve(args: argparse.Namespace, settings: config.Settings) -> int:
    allocation = common.decimal(args.allocation, "--allocation")
    return _on_session(args, settings, lambda e: e.lab_decide(args.id, True, allocation=allocation))


def lab_reject(args: argparse.Namespace, settings: config.Settings) -> int:
    return _on_session(args, settings, lambda e: e.lab_decide(args.id, False, reason=args.reason))


def lab_resume(args: argparse.Namespace, settings: config.Settings) -> int:
    budget = _budget(args.budget)
    return _on_session(args, settings, lambda e: e.lab_resume(args.id, budget=budget))


def lab_cancel(args: argparse.Namespace, settings: config.Settings) -> int:
    return _on_session(args, settings, lambda e: e.lab_cancel(args.id), follow=False)


def lab_list(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        return await engine.lab_sessions()

    sessions = common.with_engine(settings, work)
    if args.json:
        common.dump(sessions)
        return 0
    if not sessions:
        print('no Lab sessions yet: omc lab run "a goal"')
        return 0
    rows = [
        [s.id, s.status, common.when(s.updated_at), f"${s.spent:.4f}", s.goal[:50]]
        for s in sessions
    ]
    common.table(["session", "status", "updated", "spent", "goal"], rows)
    return 0


def lab_show(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        return await engine.lab_detail(args.id)

    detail = common.with_engine(settings, work)
    if args.json:
        common.dump(detail)
        return 0
    print(f"{detail.session.id}  {detail.session.goal}")
    for step in detail.steps:
        print(f"  {step.node:>8}  {step.text}")
    for rid, found in detail.results.items():
        print(f"  [{rid}] {found['tool']} {_args(found['args'])}")
    _state(detail.session)
    return 0


def _args(args: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in args.items() if v not in ({}, "", None))


def lab_report(args: argparse.Namespace, settings: config.Settings) -> int:
    async def work(engine: Engine) -> Any:
        return await engine.lab_detail(args.id)

    detail = common.with_engine(settings, work)
    if detail.report is None:
        raise common.CommandFailed(
            f"{detail.session.id} has no report yet (it is {detail.session.status})"
        )
    if args.json:
        common.dump(
            {"id": detail.session.id, "report": detail.report, "untraced": detail.session.untraced}
        )
        return 0
    with common.output(args.output) as out:
        out.write(detail.report if detail.report.endswith("\n") else detail.report + "\n")
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0
