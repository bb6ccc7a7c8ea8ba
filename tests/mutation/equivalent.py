"""Surviving mutants that no test can kill: the code means the same with or without the change.

Each entry is (module, function, original line, mutated line, why no test can tell them apart),
matched against a survivor's diff by text, so the list holds when mutmut renumbers its mutants.
run.py names any entry that no longer matches a survivor, so the list cannot quietly go stale.
"""

from __future__ import annotations

_SELL_ZIP = "for (lot, quantity), cost, proceed in zip(taken, costs, proceeds, strict=True)"
_ZIP_WHY = "costs and proceeds are built from taken, one per lot taken: the lengths always match"
_SHARE = "return _tidy(exact.quantize(_ONE.scaleb(exponent), context=_EXACT))"
_TIDY = "return value.quantize(_ONE, context=_EXACT) if _exponent(value) > 0 else value"
_IN_EXACT = "only called inside Portfolio.apply, whose current context is _EXACT already"
_LAST = "upto = total if i == len(parts) - 1 else _share(total, running, whole)"
_LAST_WHY = (
    "the last share computed is total × whole / whole, exact at 80 digits and on total's own grid"
)
_SELL_CASH = "cash = self._cash.get(fill.quote, ZERO) + net"
_SELL_CASH_WHY = "a sale needs a holding, and the buy that made it set its quote's cash"
_CLOSE = "close = get_close_matches(symbol.upper(), list(by_upper), n=3, cutoff=0.6)"

EQUIVALENT: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "portfolio",
        "_exponent",
        'raise ValueError(f"{value} is not a finite number")',
        "raise ValueError(None)",
        "unreachable: apply refuses fills that are not finite, so every amount here is finite",
    ),
    (
        "portfolio",
        "_recost",
        "pieces = _split(cost, [lot.quantity for lot in lots]) if lots else []",
        "pieces = _split(cost, [lot.quantity for lot in lots]) if (lots) or True else []",
        "_split of no parts is no pieces: the test only saves the call",
    ),
    ("portfolio", "_share", _SHARE, _SHARE.replace("_EXACT", "None"), _IN_EXACT),
    ("portfolio", "_share", _SHARE, _SHARE.replace("context=_EXACT", ""), _IN_EXACT),
    (
        "portfolio",
        "_split",
        _LAST,
        _LAST.replace("i ==", "(i ==").replace("1 else", "1) and False else"),
        _LAST_WHY,
    ),
    ("portfolio", "_split", _LAST, _LAST.replace("- 1", "+ 1"), _LAST_WHY),
    (
        "portfolio",
        "_split",
        "whole = sum(parts, ZERO)",
        "whole = sum(parts, )",
        "parts is never empty (a sale takes a lot, a re-cost has lots), so the sum is a Decimal",
    ),
    (
        "portfolio",
        "_tidy",
        _TIDY,
        _TIDY.replace("> 0", ">= 0"),
        "quantizing a whole number of exponent 0 to units changes nothing",
    ),
    (
        "portfolio",
        "_tidy",
        "value = value.normalize(_EXACT)",
        "value = value.normalize(None)",
        _IN_EXACT,
    ),
    ("portfolio", "_tidy", _TIDY, _TIDY.replace("context=_EXACT", "context=None"), _IN_EXACT),
    ("portfolio", "_tidy", _TIDY, _TIDY.replace("context=_EXACT", ""), _IN_EXACT),
    (
        "portfolio",
        "Portfolio._sell",
        _SELL_CASH,
        _SELL_CASH.replace("ZERO", "None"),
        _SELL_CASH_WHY,
    ),
    ("portfolio", "Portfolio._sell", _SELL_CASH, _SELL_CASH.replace("ZERO", ""), _SELL_CASH_WHY),
    (
        "portfolio",
        "Portfolio._sell",
        "if fill.quantity == holding.quantity",
        "if (fill.quantity == holding.quantity) and False",
        "selling all of a holding: its cost × q / q is the cost exactly, on the cost's own grid",
    ),
    (
        "portfolio",
        "Portfolio._sell",
        "lot.cost if quantity == lot.quantity else _share(lot.cost, quantity, lot.quantity)",
        "lot.cost if (quantity == lot.quantity) and False"
        " else _share(lot.cost, quantity, lot.quantity)",
        "taking all of a lot: its cost × q / q is the cost exactly, on the cost's own grid",
    ),
    (
        "portfolio",
        "Portfolio._sell",
        "removed = sum(costs, ZERO)",
        "removed = sum(costs, )",
        "a sale takes at least one lot, so costs is never empty and the sum is a Decimal",
    ),
    ("portfolio", "Portfolio._sell", _SELL_ZIP, _SELL_ZIP.replace("True", "None"), _ZIP_WHY),
    ("portfolio", "Portfolio._sell", _SELL_ZIP, _SELL_ZIP.replace("strict=True", ""), _ZIP_WHY),
    ("portfolio", "Portfolio._sell", _SELL_ZIP, _SELL_ZIP.replace("True", "False"), _ZIP_WHY),
    (
        "risk",
        "_daily_loss",
        "if start <= ZERO or ctx.equity >= start * (_ONE - lim.daily_loss_pct / _HUNDRED):",
        "if start < ZERO or ctx.equity >= start * (_ONE - lim.daily_loss_pct / _HUNDRED):",
        "a day begun at 0 equity: any equity above 0 passes either way, and 0 or less was"
        " already refused by the position rule",
    ),
    (
        "risk",
        "_limit_distance",
        'where = "above" if away > 0 else "below"',
        'where = "above" if away >= 0 else "below"',
        "a limit at the market price is inside every band, so it is never refused to be named",
    ),
    (
        "risk",
        "_plain",
        'if abs(amount) >= Decimal("1e15"):',
        'if abs(amount) >= Decimal("1E15"):',
        "the same number",
    ),
    (
        "risk",
        "_to_step",
        "ctx.prec = len(str(abs(count))) + len(step.as_tuple().digits) + 2",
        "ctx.prec = len(str(abs(count))) + len(step.as_tuple().digits) + 3",
        "more digits than the exact product has change nothing",
    ),
    ("risk", "_unknown_symbol", _CLOSE, _CLOSE.replace("n=3, ", ""), "3 is difflib's default n"),
    (
        "risk",
        "_unknown_symbol",
        _CLOSE,
        _CLOSE.replace("cutoff=0.6", ""),
        "0.6 is difflib's default cutoff",
    ),
    (
        "tax",
        "_plain",
        'return format(abs(value) if value.is_zero() else value, "f")',
        'return format(abs(value) if value.is_zero() else value, "F")',
        "the two formats differ only in NaN and Infinity, which no disposal holds",
    ),
    (
        "tax",
        "write_csv_rows",
        'writer = csv.DictWriter(out, fieldnames=CSV_HEADER, lineterminator="\\n", '
        'extrasaction="ignore")',
        'writer = csv.DictWriter(out, fieldnames=CSV_HEADER, lineterminator="\\n", '
        'extrasaction="IGNORE")',
        "csv.DictWriter reads extrasaction without regard to case: IGNORE is ignore",
    ),
    (
        "matching",
        "take",
        "qty = size if size < left else left",
        "qty = size if size <= left else left",
        "when size equals left, both branches take the same quantity",
    ),
)
