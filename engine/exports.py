"""Writing a ledger table out as CSV or JSON lines (the CLI and the desk's explorer share it)."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

FORMATS = ("csv", "jsonl")


async def write_table(db: Any, table: str, out: TextIO, fmt: str = "csv", **filters: Any) -> int:
    """Stream the filtered rows of ``table`` to ``out``, newest first; returns the count."""
    from ledgers import queries

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    columns = queries.table_columns(table)
    writer = csv.writer(out) if fmt == "csv" else None
    if writer:
        writer.writerow(columns)
    count = 0
    async for row in queries.iter_rows(db, table, **filters):
        values = [_plain(v) for v in row]
        if writer:
            writer.writerow([json.dumps(v) if isinstance(v, list | dict) else v for v in values])
        else:
            out.write(json.dumps(dict(zip(columns, values, strict=True))) + "\n")
        count += 1
    return count


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # money stays exact: a string, never a float
    return value
