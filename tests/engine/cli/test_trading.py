"""The trading commands as a script uses them: --json, exit codes, one book across commands."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.engine.cli.shell import run


def omc(capsys: pytest.CaptureFixture[str], db_url: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "--sim", "--db", db_url, *argv)


def test_an_order_from_the_command_line_moves_the_book(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, err = omc(capsys, db_url, "order", "buy", "btc", "0.01", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["accepted"] and result["order"]["state"] == "filled"
    assert result["order"]["symbol"] == "BTC/AUD"
    price = Decimal(result["fills"][0]["price"])

    code, out, _ = omc(capsys, db_url, "positions", "--json")
    positions = json.loads(out)
    assert code == 0 and [p["symbol"] for p in positions] == ["BTC/AUD"]
    assert Decimal(positions[0]["quantity"]) == Decimal("0.01")
    fee = Decimal(result["fills"][0]["fee"])
    assert Decimal(positions[0]["cost"]) == price * Decimal("0.01") + fee

    code, out, _ = omc(capsys, db_url, "fills", "--json")
    assert [f["fill_id"] for f in json.loads(out)] == [result["fills"][0]["fill_id"]]
    code, out, _ = omc(capsys, db_url, "pnl", "--json")
    pnl = json.loads(out)
    assert Decimal(pnl["cash"]) == Decimal("10000") - price * Decimal("0.01") - fee
    code, out, _ = omc(capsys, db_url, "lots", "--json")
    assert Decimal(json.loads(out)[0]["quantity"]) == Decimal("0.01")


def test_a_refused_order_exits_1_with_the_rule_and_a_repeat_is_not_resent(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.0000000001")
    assert code == 1
    assert "steps of 0.00001" in out
    code, out, err = omc(capsys, db_url, "order", "buy", "BTC", "abc")
    assert code == 2 and out == "" and err == "omc: quantity must be a number, got 'abc'\n"
    code, out, err = omc(capsys, db_url, "order", "sell", "BTC", "0.01", "--json")
    assert code == 1 and json.loads(out)["rule"] == "insufficient_funds"

    args = ("order", "buy", "ETH", "0.1", "--client-id", "mine-1", "--json")
    first = json.loads(omc(capsys, db_url, *args)[1])
    code, out, _ = omc(capsys, db_url, *args)
    again = json.loads(out)
    assert code == 0 and again["rule"] == "duplicate"
    assert again["order"] == first["order"]
    code, out, _ = omc(capsys, db_url, "fills", "--json")
    assert len(json.loads(out)) == 1


def test_the_kill_switch_from_the_command_line(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    assert omc(capsys, db_url, "kill", "on")[0] == 0
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.01", "--json")
    assert code == 1 and json.loads(out)["rule"] == "kill_switch"
    code, out, _ = omc(capsys, db_url, "kill", "status", "--json")
    assert json.loads(out)["kill_switch"] is True
    assert omc(capsys, db_url, "kill", "off")[0] == 0
    assert omc(capsys, db_url, "order", "buy", "BTC", "0.01")[0] == 0


def test_orders_rest_and_cancel(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--json")
    price = Decimal(json.loads(out)["fills"][0]["price"])
    below = (price * Decimal("0.95")).quantize(Decimal("1"))
    code, out, err = omc(
        capsys, db_url, "order", "buy", "BTC", "0.005", "--limit", str(below), "--json"
    )
    assert code == 0, out
    resting = json.loads(out)["order"]
    assert resting["state"] == "open"
    code, out, _ = omc(capsys, db_url, "orders", "--open", "--json")
    assert [o["client_id"] for o in json.loads(out)] == [resting["client_id"]]
    code, out, _ = omc(capsys, db_url, "cancel", resting["client_id"], "--json")
    assert code == 0 and json.loads(out)["state"] == "cancelled"
    assert omc(capsys, db_url, "cancel")[0] == 2  # neither an id nor --all


def test_tax_report_csv(capsys: pytest.CaptureFixture[str], db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    omc(capsys, db_url, "order", "buy", "BTC", "0.01")
    omc(capsys, db_url, "order", "sell", "BTC", "0.004")
    out_file = tmp_path / "tax.csv"
    from datetime import UTC, datetime

    from engine.trading.tax import financial_year  # the current FY holds today's sale

    now = datetime.now(UTC)
    fy = now.year + 1 if now >= financial_year(now.year + 1)[0] else now.year
    code, _, err = omc(capsys, db_url, "tax-report", "--fy", str(fy), "-o", str(out_file))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert (
        lines[0] == "asset,acquired,disposed,quantity,cost_base,proceeds,gain,held_over_12_months"
    )
    assert len(lines) == 2 and lines[1].startswith("BTC,") and lines[1].endswith(",no")
    code, out, _ = omc(capsys, db_url, "tax-report", "--fy", str(fy - 1), "--json")
    assert json.loads(out)["rows"] == []


def test_a_limit_order_with_an_expiry(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--json")
    price = Decimal(json.loads(out)["fills"][0]["price"])
    below = str((price * Decimal("0.95")).quantize(Decimal("1")))
    args = ("order", "buy", "BTC", "0.002", "--limit", below, "--expires", "2h", "--json")
    code, out, err = omc(capsys, db_url, *args)
    assert code == 0, out + err
    order = json.loads(out)["order"]
    created = datetime.fromisoformat(order["created_at"])
    lives = datetime.fromisoformat(order["expires_at"]) - created
    assert abs(lives - timedelta(hours=2)) < timedelta(seconds=1)  # the engine's clock runs
    code, _, err = omc(capsys, db_url, "order", "buy", "BTC", "0.002", "--expires", "2h")
    assert code == 2 and "--expires needs --limit" in err
    code, _, err = omc(
        capsys, db_url, "order", "buy", "BTC", "1", "--limit", below, "--expires", "soon"
    )
    assert code == 2 and "--expires" in err


def test_people_see_cents_and_steps_while_json_stays_exact(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    code, out, _ = omc(capsys, db_url, "order", "buy", "BTC", "0.01")
    assert code == 0 and re.search(r"filled at \d+\.\d{2}, fee \d+\.\d{2} AUD$", out.strip()), out
    code, out, _ = omc(capsys, db_url, "positions")
    book, heads, row = out.splitlines()
    assert book == "book: paper · simulated market"
    cells = dict(zip(re.split(r"\s{2,}", heads.strip()), row.split(), strict=True))
    assert cells["symbol"] == "BTC/AUD" and cells["qty"] == "0.01"
    for money in ("value", "unrealized", "realized"):
        assert re.fullmatch(r"-?\d+\.\d{2}", cells[money]), cells
    assert re.fullmatch(r"\d+(\.\d{1,2})?", cells["avg cost"]), cells  # not 28 digits
    code, out, _ = omc(capsys, db_url, "positions", "--json")
    exact = json.loads(out)[0]["average_cost"]
    assert len(exact.partition(".")[2]) > 2  # the book's own figure, every digit
    code, out, _ = omc(capsys, db_url, "pnl")
    for line in out.splitlines()[1:]:
        assert re.search(r"(-?\d+\.\d{2} AUD|—)$", line), line
    code, out, _ = omc(capsys, db_url, "fills")
    fee = re.split(r"\s{2,}", out.splitlines()[2].strip())[5]
    assert re.fullmatch(r"\d+\.\d{2}", fee), out


def test_the_simulated_market_and_the_venue_keep_separate_books(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    # A market buy: the simulated price depends on the day, so no fixed limit stays in the band.
    code, out, err = omc(capsys, db_url, "order", "buy", "BTC/AUD", "0.001")
    assert code == 0, out + err
    assert out.startswith("book: paper · simulated market\n")
    # The venue's paper book (offline here: nothing needs the venue to read a book) is its own.
    code, out, err = run(capsys, "positions", "--db", db_url)
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "book: paper · coinspot"
    assert "BTC/AUD" not in out
    code, out, err = run(capsys, "pnl", "--json", "--db", db_url)
    assert code == 0 and json.loads(out)["cash"] == "10000"
    code, out, _ = run(capsys, "orders", "--json", "--db", db_url)
    assert code == 0 and json.loads(out) == []
    code, out, _ = omc(capsys, db_url, "orders", "--json")
    assert [o["book"] for o in json.loads(out)] == ["paper:sim"]
