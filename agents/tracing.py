"""Every figure in a Lab report traced to the tool result it came from.

Tool results have ids of ``r`` and a number (``RESULT_ID``); the narrative cites them in square
brackets: "the 14-bar RSI averaged 61.2 [r3] and the hit rate was 54.1% [r7]". ``trace`` looks
for each figure's value in the results it cites, ``mark_untraced`` flags the figures it could
not find, and ``fmt`` / ``cite`` render a result's value so that it always traces.

What is a figure (``extract_figures``):

- A number as a reader sees it: 61.2, 1,234.5, -3 (or −3), +3, 54.1%, 1.2k / 3.4M / 2B
  (thousand, million, billion), 1e-3, optionally after a currency: $, A$, US$, NZ$, €, £, or a
  code and a space (AUD 1,234). A sign counts only when nothing word-like stands before it, so
  "3-5%" is a range of two unsigned figures.
- Not a figure, because it names or orders things rather than measuring them:
  - a number touching a word: r7, RSI14, ma_cross_20, v1.2.3, 14-bar, and timeframes such as
    1h, 4h, 15m, 1d. Touching means a letter, digit or ``_`` right next to it, or ``-`` or ``/``
    with a letter beyond, or ``_`` or ``.`` with a letter or digit beyond. Only k, M and B scale
    a number, so 15m is a timeframe and 15M is fifteen million;
  - ISO dates and times (2026-12-07, 14:30, 2026-12-07T14:30:00Z): they are the parameters a
    tool was asked about and come back as text, so there is no number to trace them to;
  - a list marker at the start of a line (1. or 2)) and a heading's section number (## 2.1);
  - anything inside a citation or a URL.
- Code, inline or fenced, is read like prose: a number in a code block is a figure too.

A figure carries the first citation after it in the same sentence. A sentence ends at ``.``,
``!`` or ``?`` before white space, at a line break and at a table cell's border ``|``; so a
citation goes before the full stop, and a paragraph wrapped over lines needs one per line.

When a value matches a figure (``Figure.matches``): rounding the value half-up (a tie away from
zero) at the figure's last written place gives the figure, exactly as ``fmt`` rounds. So 61.2
matches 61.15 up to 61.2499…, and not 61.25, which rounds to 61.3; 1.2k matches 1,150 up to
1,249. A percentage matches the value in percent (54.1) or as a fraction (0.541). A figure
written with a sign matches only values of that sign; an unsigned one matches by magnitude, as
prose says "fell 3.2%" of a change of −0.032. The values are ints, floats (read as they print:
0.1 is 0.1), Decimals, and strings holding a number, as exact amounts travel in JSON; never
bools. A cited figure is looked for only in the results it cites; an uncited one in all of them,
and counts as traced but uncited.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal

RESULT_ID = re.compile(r"r\d+")
UNTRACED_TAG = "[⚠ untraced]"  # plain text: reads the same rendered, raw, in a table or in code

# Scaling a figure, the bounds half a unit either side of it, and rounding for print are exact.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
_SCALE = {"k": 3, "M": 6, "B": 9}
_MINUS = frozenset("-−")
_HALF = Decimal("0.5")
_NUMERIC = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

_TOKENS = re.compile(
    r"""
      (?P<marker> ^[ \t]*(?:>[ \t]*)* (?:\#{1,6}[ \t]+\d+(?:\.\d+)*[.)]? | \d{1,9}[.)]) (?=\s|$) )
    | (?P<citation> \[[ \t]*r\d+(?:[ \t]*,[ \t]*r\d+)*[ \t]*\] )
    | (?P<url> https?://[^\s<>()\[\]]+ )
    | (?P<moment> \d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?
                | \d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)? )
    | (?P<figure>
          (?P<sign>[-+−])?
          (?P<currency> (?:A|US|NZ)?\$ | € | £ | (?:AUD|USD|USDT|USDC|EUR|GBP)[ \t] )?
          (?P<inner_sign>[-+−])?
          (?P<digits> \d{1,3}(?:,\d{3})+(?!\d) | \d+ ) (?:\.(?P<fraction>\d+))?
          (?:[eE](?P<exponent>[-+−]?\d{1,3}))?
          (?P<suffix>[kMB])?
          (?P<percent>%)? )
    | (?P<boundary> [.!?](?=\s|$) | \n | \| )
    """,
    re.MULTILINE | re.VERBOSE,
)
# A joiner makes a number part of a word when what lies beyond it passes the test.
_JOINERS = {"-": str.isalpha, "/": str.isalpha, "_": str.isalnum, ".": str.isalnum}


@dataclass(frozen=True, slots=True)
class Figure:
    """A number in a report: where it is, what it says, and the results it cites."""

    start: int
    end: int
    text: str  # as written, with its sign, currency, suffix and percent sign
    value: Decimal  # scaled by its suffix or exponent; a percentage stays in percent: 54.1
    places: int  # decimal places written: 1 for 61.2 and for 1.2k
    step: Decimal  # the unit of the last written place, scaled: 0.1 for 61.2, 100 for 1.2k
    percent: bool
    signed: bool  # written with + or −, so only a value of that sign matches
    currency: str  # "$", "A$", "AUD" or ""
    citations: tuple[str, ...]

    def matches(self, value: Decimal) -> bool:
        """Whether ``value`` rounds half-up to this figure at its last written place."""
        targets = [(self.value, self.step)]
        if self.percent:
            targets.append((self.value.scaleb(-2, _EXACT), self.step.scaleb(-2, _EXACT)))
        return any(_rounds_to(value, target, step, self.signed) for target, step in targets)


@dataclass(frozen=True, slots=True)
class Trace:
    """A figure and the result value it was found in (``r7.metrics.hit_rate``), if any."""

    figure: Figure
    result_id: str | None
    path: str | None

    @property
    def traced(self) -> bool:
        return self.path is not None


@dataclass(frozen=True, slots=True)
class TraceReport:
    """Every figure of a report with its trace; ``traced`` includes ``traced_uncited``."""

    traces: tuple[Trace, ...]

    @property
    def figures(self) -> int:
        return len(self.traces)

    @property
    def traced(self) -> int:
        return sum(t.traced for t in self.traces)

    @property
    def traced_uncited(self) -> int:
        return sum(t.traced and not t.figure.citations for t in self.traces)

    @property
    def untraced(self) -> int:
        return self.figures - self.traced


def extract_figures(markdown: str) -> list[Figure]:
    """Every figure in ``markdown`` in order, each with the citation that applies to it."""
    figures: list[Figure] = []
    pending: list[Figure] = []  # this sentence's figures, waiting for a citation
    for token in _TOKENS.finditer(markdown):
        kind = token.lastgroup
        if kind == "figure":
            figure = _figure(markdown, token)
            if figure is not None:
                pending.append(figure)
        elif kind == "citation":
            ids = tuple(RESULT_ID.findall(token[0]))
            figures += (replace(figure, citations=ids) for figure in pending)
            pending.clear()
        elif kind == "boundary":
            figures += pending
            pending.clear()
    return figures + pending


def trace(markdown: str, results: Mapping[str, object]) -> TraceReport:
    """Look for each figure in the results it cites, or in every result when it cites none."""
    traces = []
    for figure in extract_figures(markdown):
        ids = [rid for rid in figure.citations or results if rid in results]
        found = next(
            (
                (rid, path)
                for rid in ids
                for path, value in _numbers(results[rid], rid)
                if figure.matches(value)
            ),
            (None, None),
        )
        traces.append(Trace(figure, *found))
    return TraceReport(tuple(traces))


def mark_untraced(markdown: str, report: TraceReport) -> str:
    """``markdown`` with each untraced figure tagged and listed in a footer; as is if none."""
    missing = [t.figure for t in report.traces if not t.traced]
    if not missing:
        return markdown
    pieces: list[str] = []
    last = 0
    for figure in missing:
        pieces += [markdown[last : figure.end], " ", UNTRACED_TAG]
        last = figure.end
    pieces.append(markdown[last:])
    listed = [
        f"- line {_line(markdown, figure.start)}: {figure.text} ({_cites(figure)})"
        for figure in missing
    ]
    return "\n".join(
        [
            "".join(pieces).rstrip(),
            "",
            "---",
            "",
            f"**⚠ Untraced figures ({len(missing)})**: not found in the results they cite, "
            "or in any result when uncited.",
            "",
            *listed,
            "",
        ]
    )


def fmt(
    value: Decimal | float | int | str, places: int, *, percent: bool = False, signed: bool = False
) -> str:
    """``value`` rounded half-up to ``places`` decimals, thousands grouped: 1,234.50.

    ``percent`` shows a fraction as a percentage (0.541 → 54.1%); ``signed`` puts + before a
    positive value. Raises ValueError for a value that is not a finite number.
    """
    if places < 0:
        raise ValueError(f"places must be 0 or more, not {places}")
    number = _number(value)
    if number is None:
        raise ValueError(f"{value!r} is not a finite number")
    if percent:
        number = number.scaleb(2, _EXACT)
    rounded = number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP, _EXACT)
    if rounded.is_zero():
        rounded = rounded.copy_abs()  # "-0.0" would claim a sign the figure cannot trace
    sign = "+" if signed and rounded > 0 else ""
    return f"{sign}{rounded:,f}{'%' if percent else ''}"


def cite(
    result_id: str,
    value: Decimal | float | int | str,
    places: int,
    *,
    percent: bool = False,
    signed: bool = False,
) -> str:
    """``value`` as ``fmt`` renders it, followed by its citation: ``54.1% [r7]``."""
    if not RESULT_ID.fullmatch(result_id):
        raise ValueError(f"{result_id!r} is not a result id such as r7")
    return f"{fmt(value, places, percent=percent, signed=signed)} [{result_id}]"


def _line(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _cites(figure: Figure) -> str:
    return f"cites {', '.join(figure.citations)}" if figure.citations else "uncited"


def _figure(text: str, token: re.Match[str]) -> Figure | None:
    start, end = token.span()
    sign = token["sign"] or token["inner_sign"] or ""
    if token["sign"] and _at(text, start - 1).isalnum():  # a hyphen after a word, not a minus
        start += 1
        sign = token["inner_sign"] or ""
    if _touches_word(text, start - 1, -1) or _touches_word(text, end, 1):
        return None
    fraction = token["fraction"] or ""
    exponent = token["exponent"] or "0"
    power = int(exponent.replace("−", "-")) + _SCALE.get(token["suffix"] or "", 0)
    value = Decimal(f"{token['digits'].replace(',', '')}.{fraction}").scaleb(power, _EXACT)
    return Figure(
        start=start,
        end=end,
        text=text[start:end],
        value=value.copy_negate() if sign in _MINUS else value,
        places=len(fraction),
        step=Decimal(1).scaleb(power - len(fraction), _EXACT),
        percent=bool(token["percent"]),
        signed=bool(sign),
        currency=(token["currency"] or "").strip(),
        citations=(),
    )


def _touches_word(text: str, i: int, direction: int) -> bool:
    char = _at(text, i)
    if char.isalnum():
        return True
    beyond = _JOINERS.get(char)
    return beyond is not None and beyond(_at(text, i + direction))


def _at(text: str, i: int) -> str:
    return text[i] if 0 <= i < len(text) else ""


def _rounds_to(value: Decimal, target: Decimal, step: Decimal, signed: bool) -> bool:
    if signed and value and target and (value < 0) != (target < 0):
        return False
    half = _EXACT.multiply(step, _HALF)
    magnitude = target.copy_abs()
    # Half-up rounds a tie away from zero: the tie below the figure's magnitude reaches it.
    return _EXACT.subtract(magnitude, half) <= value.copy_abs() < _EXACT.add(magnitude, half)


def _numbers(node: object, path: str) -> Iterator[tuple[str, Decimal]]:
    if isinstance(node, Mapping):
        for key, child in node.items():
            yield from _numbers(child, f"{path}.{key}")
    elif isinstance(node, list | tuple):
        for i, child in enumerate(node):
            yield from _numbers(child, f"{path}[{i}]")
    else:
        number = _number(node)
        if number is not None:
            yield path, number


def _number(node: object) -> Decimal | None:
    if isinstance(node, bool):
        return None
    if isinstance(node, int):
        return Decimal(node)
    if isinstance(node, float):
        return Decimal(repr(node)) if math.isfinite(node) else None
    if isinstance(node, Decimal):
        return node if node.is_finite() else None
    if isinstance(node, str) and _NUMERIC.fullmatch(node):
        return Decimal(node)
    return None
