"""The HTML report in a real headless Chromium: the plots render with a size and the tables show the groups."""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import pytest

from gateway.tca import cli

CHROMIUM = "/usr/bin/chromium"
SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tca"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is absent (apt-get install chromium)")


def test_report_renders_plots_and_group_rows(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    html = tmp_path / "report.html"
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    files = [str(SAMPLE / name) for name in ("orders.csv", "fills.csv", "tape.csv")]
    args = parser.parse_args(
        [*files, "--utc-offset-minutes", "-300", "--json", str(tmp_path / "r.json"), "--html", str(html)]
    )
    assert cli.run(args) == 0
    with (SAMPLE / "orders.csv").open(newline="") as handle:
        strategies = {row["strategy"] for row in csv.DictReader(handle)}

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(html.as_uri())
            for chart in ("slippage-distribution", "shortfall-by-strategy", "cost-by-time-of-day"):
                box = page.locator(f"svg#{chart}").bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100, chart
                bars = page.locator(f"svg#{chart} rect.bar")
                assert bars.count() > 0, chart
                sizes = bars.evaluate_all("els => els.map(e => { const b = e.getBBox(); return [b.width, b.height]; })")
                assert all(w > 0 and h > 0 for w, h in sizes), chart
            group_rows = page.locator('table[data-group-by="strategy"] tbody tr')
            assert set(group_rows.evaluate_all("rows => rows.map(r => r.dataset.group)")) == strategies
            assert group_rows.count() == len(strategies)
            first_cells = page.locator('table[data-group-by="strategy"] tbody tr td.key').all_inner_texts()
            assert set(first_cells) == strategies
            buckets = page.locator('table[data-group-by="bucket"] tbody tr').evaluate_all(
                "rows => rows.map(r => r.dataset.group)"
            )
            assert buckets == sorted(buckets) and buckets[0] >= "09:30" and buckets[-1] < "16:00"
        finally:
            browser.close()
