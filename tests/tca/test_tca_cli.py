"""The batch command on the sample data set: CSV and Parquet agree, JSON matches the reference, errors say why."""

from __future__ import annotations

import argparse
import csv
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tca_reference as ref

from gateway.tca import cli
from gateway.tca.analysis import analyse
from gateway.tca.readers import load_files, load_journal

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tca"
FILES = [SAMPLE / "orders.csv", SAMPLE / "fills.csv", SAMPLE / "tape.csv"]
OFFSET = ["--utc-offset-minutes", "-300"]


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_report_on_the_sample_matches_the_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    code = run_cli(
        [
            *map(str, FILES),
            *OFFSET,
            "--group-by",
            "strategy",
            "--group-by",
            "client,bucket",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "by strategy" in printed and "by client, bucket" in printed
    document = json.loads(out_json.read_text())
    assert [g["group_by"] for g in document["groupings"]] == [["strategy"], ["client", "bucket"], ["bucket"]]
    reference = ref.build(rows(FILES[0]), rows(FILES[1]))
    expected = ref.attribute(reference, ("strategy",), 30 * 60 * 10**9)
    got = {row["strategy"]: row for row in document["groupings"][0]["rows"]}
    assert set(got) == {key[0] for key in expected}
    for (strategy,), fields in expected.items():
        total = fields["delay"] + fields["trading"] + fields.get("opportunity", Fraction(0)) + fields["fees"]
        assert got[strategy]["total_cost"] == pytest.approx(float(total), abs=1e-6)
        assert got[strategy]["total_bps"] == pytest.approx(float(total / fields["paper_notional"] * 10_000))
        assert got[strategy]["fills"] == fields["fills"] and got[strategy]["orders"] == fields["orders"]
    by_id = {o["order_id"]: o for o in document["orders"]}
    for order in reference:
        parts = order.components()
        assert by_id[order.order_id]["total_cost"] == pytest.approx(float(parts["total"]), abs=1e-6)
    assert document["diagnostics"]["orders_decision_from_arrival"] == 4
    assert "<svg" in out_html.read_text()


def test_parquet_input_gives_the_same_numbers_as_csv(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    parquet = []
    for path in FILES:
        table = pacsv.read_csv(path)  # typed columns: int64 times, float64 prices, bool own
        target = tmp_path / (path.stem + ".parquet")
        pq.write_table(table, target)
        parquet.append(target)
    assert pa.types.is_floating(pq.read_table(parquet[1]).schema.field("price").type)
    from_csv = analyse(load_files(FILES, utc_offset_ns=-300 * 60 * 10**9))
    from_parquet = analyse(load_files(parquet, utc_offset_ns=-300 * 60 * 10**9))
    for one, other in zip(from_csv.groupings, from_parquet.groupings):
        assert one.labels == other.labels
        np.testing.assert_allclose(one.values, other.values, rtol=1e-12)
    assert from_csv.diagnostics == from_parquet.diagnostics


def test_journal_records_give_the_same_numbers_as_files() -> None:
    records = [{"record": "order", **row} for row in rows(FILES[0])]
    records += [{"record": "fill", **row} for row in rows(FILES[1])]
    records += [{"record": "print", **row} for row in rows(FILES[2])]
    records.append({"record": "heartbeat"})
    from_journal = analyse(load_journal(records, utc_offset_ns=-300 * 60 * 10**9))
    from_files = analyse(load_files(FILES, utc_offset_ns=-300 * 60 * 10**9))
    for one, other in zip(from_files.groupings, from_journal.groupings):
        assert one.labels == other.labels and one.values.tolist() == other.values.tolist()


def test_refused_input_exits_2_with_the_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "orders.csv"
    broken.write_text("order_id,side,quantity,arrival_price\nA,BUY,10,abc\n")
    assert run_cli([str(broken), "--json", str(tmp_path / "x.json"), "--html", str(tmp_path / "x.html")]) == 2
    assert "VALIDATION_PRICE" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    odd = tmp_path / "odd.csv"
    odd.write_text("a,b\n1,2\n")
    assert run_cli([str(odd)]) == 2
    assert "match none of orders" in capsys.readouterr().err
    assert run_cli([str(FILES[0]), "--bucket-minutes", "7"]) == 2
    assert "--bucket-minutes 7" in capsys.readouterr().err
