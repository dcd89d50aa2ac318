"""Render a TcaResult as a text table, a JSON document and a self-contained HTML page with inline SVG plots."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import numpy as np

from gateway.tca import svg
from gateway.tca.analysis import BENCHMARKS, BUCKET, COMPONENTS, GroupTable, TcaResult

TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    # (record key, header, format)
    ("orders", "orders", "d"),
    ("fills", "fills", "d"),
    ("paper_notional", "notional", ",.0f"),
    ("fill_rate", "fill%", "pct"),
    ("delay_bps", "delay", ".1f"),
    ("trading_bps", "trading", ".1f"),
    ("opportunity_bps", "opport.", ".1f"),
    ("fees_bps", "fees", ".1f"),
    ("total_bps", "total bps", ".1f"),
    ("total_cost", "total cost", ",.2f"),
    ("outliers", "outliers", "d"),
)
COMPONENT_COLORS = {
    "delay": svg.PALETTE[0],
    "trading": svg.PALETTE[1],
    "opportunity": svg.PALETTE[2],
    "fees": svg.PALETTE[3],
}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if fmt == "pct":
        return f"{100.0 * value:.1f}"
    return format(value, fmt)


def text_table(table: GroupTable) -> str:
    """Return the grouping as an aligned text table, costs in bps of paper notional."""
    rows = table.rows()
    header = [*table.group_by, *(title for _, title, _ in TABLE_COLUMNS)]
    body = [
        [str(row[key]) for key in table.group_by] + [_cell(row[key], fmt) for key, _, fmt in TABLE_COLUMNS]
        for row in rows
    ]
    widths = [
        max(len(header[i]), *(len(line[i]) for line in body)) if body else len(header[i]) for i in range(len(header))
    ]
    n_keys = len(table.group_by)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i < n_keys else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    title = f"by {', '.join(table.group_by) or 'all'} (costs in bps of paper notional; positive is a cost)"
    return "\n".join([title, line(header), "  ".join("-" * w for w in widths), *(line(cells) for cells in body)])


def _float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def order_records(result: TcaResult) -> list[dict[str, Any]]:
    """Return one plain dict per parent order."""
    costs = result.orders
    out: list[dict[str, Any]] = []
    for row in range(costs.order_id.shape[0]):
        record: dict[str, Any] = {
            "order_id": str(costs.order_id[row]),
            "side": "BUY" if costs.side[row] > 0 else "SELL",
            "quantity": int(costs.quantity[row]),
            "included": bool(costs.included[row]),
            "exclusion": str(costs.exclusion[row]) or None,
            "filled_quantity": int(costs.filled_quantity[row]),
            "average_price": _float(costs.average_price[row]),
            "paper_notional": _float(costs.paper_notional[row]),
            "outlier": bool(costs.outlier[row]),
        }
        for name in COMPONENTS:
            record[f"{name}_cost"] = _float(costs.currency[name][row])
            record[f"{name}_bps"] = _float(costs.bps[name][row])
        for name in BENCHMARKS:
            record[f"slippage_vs_{name}_bps"] = _float(costs.slippage_bps[name][row])
        out.append(record)
    return out


def json_document(result: TcaResult, inputs: Sequence[str]) -> dict[str, Any]:
    """Return the whole analysis as JSON-ready data."""
    return {
        "inputs": list(inputs),
        "settings": {
            "bucket_minutes": result.bucket_width_ns // 60_000_000_000,
            "utc_offset_minutes": result.utc_offset_ns // 60_000_000_000,
            "outlier_z": result.outlier_z,
        },
        "diagnostics": result.diagnostics,
        "groupings": [{"group_by": list(table.group_by), "rows": table.rows()} for table in result.groupings],
        "orders": order_records(result),
    }


def find_table(result: TcaResult, group_by: tuple[str, ...]) -> GroupTable | None:
    return next((table for table in result.groupings if table.group_by == group_by), None)


def slippage_histogram(result: TcaResult, bins: int = 30) -> tuple[list[float], list[int], int]:
    """Return bin edges and counts of per-order slippage vs arrival, the tails beyond 1%/99% folded into the ends."""
    values = result.orders.slippage_bps["arrival"]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [0.0, 1.0], [0], 0
    low, high = np.percentile(values, [1, 99]) if values.size >= 50 else (values.min(), values.max())
    if high <= low:
        low, high = low - 1.0, high + 1.0
    folded = int(np.count_nonzero((values < low) | (values > high)))
    counts, edges = np.histogram(np.clip(values, low, high), bins=bins, range=(low, high))
    return [float(e) for e in edges], [int(c) for c in counts], folded


STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}
th.key,td.key{text-align:left}
tr.outlier td{background:#fff3f3}
.chart{display:block;margin:8px 0;background:#fff;border:1px solid #eee}
.chart .grid{stroke:#eee}.chart .zero{stroke:#888}.chart .total{stroke:#000;stroke-width:2}
.chart text{font-size:11px;fill:#333}.chart .title{font-size:13px;font-weight:600}
.note{color:#666;font-size:12px}
dl{display:grid;grid-template-columns:max-content max-content;gap:2px 16px;font-size:13px}
"""


def _html_table(table: GroupTable) -> str:
    rows = table.rows()
    key_attr = ",".join(table.group_by) or "all"
    head = "".join(f'<th class="key">{escape(k)}</th>' for k in table.group_by)
    head += "".join(f"<th>{escape(title)}</th>" for _, title, _ in TABLE_COLUMNS)
    lines = [f'<table class="group-table" data-group-by="{escape(key_attr)}"><thead><tr>{head}</tr></thead><tbody>']
    for row in rows:
        label = " / ".join(str(row[k]) for k in table.group_by)
        cells = "".join(f'<td class="key">{escape(str(row[k]))}</td>' for k in table.group_by)
        cells += "".join(
            f'<td data-column="{key}">{escape(_cell(row[key], fmt))}</td>' for key, _, fmt in TABLE_COLUMNS
        )
        lines.append(f'<tr data-group="{escape(label)}">{cells}</tr>')
    lines.append("</tbody></table>")
    return "".join(lines)


def html_page(result: TcaResult, inputs: Sequence[str]) -> str:
    """Return a self-contained HTML report: plots as inline SVG, tables, diagnostics and the worst orders."""
    edges, counts, folded = slippage_histogram(result)
    plots = [svg.histogram("slippage-distribution", "Slippage against arrival, per order", edges, counts, "bps")]
    if folded:
        plots.append(f'<p class="note">{folded} orders beyond the 1st/99th percentile are counted in the end bins.</p>')
    by_strategy = find_table(result, ("strategy",))
    if by_strategy is not None:
        labels = [label[0] for label in by_strategy.labels]
        series = [
            svg.Series(name, [float(v) for v in by_strategy.bps(name)], COMPONENT_COLORS[name])
            for name in ("delay", "trading", "opportunity", "fees")
        ]
        totals = [float(v) for v in by_strategy.bps("total")]
        plots.append(
            svg.stacked_bars(
                "shortfall-by-strategy", "Implementation shortfall by strategy, in parts", labels, series, "bps", totals
            )
        )
    by_bucket = find_table(result, (BUCKET,))
    if by_bucket is not None:
        labels = [label[0] for label in by_bucket.labels]
        plots.append(
            svg.bars(
                "cost-by-time-of-day",
                "Cost by time of day (total shortfall)",
                labels,
                [float(v) for v in by_bucket.bps("total")],
                "bps",
            )
        )
    tables = [f"<h2>By {escape(', '.join(t.group_by) or 'all')}</h2>{_html_table(t)}" for t in result.groupings]
    diagnostics = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in result.diagnostics.items())
    worst = _worst_orders(result)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Unwind TCA report</title>'
        f"<style>{STYLE}</style></head><body><h1>Transaction cost analysis</h1>"
        f'<p class="note">Inputs: {escape(", ".join(inputs))}. Costs are implementation shortfall against the '
        "decision price, positive is a cost; bps are of the paper notional (quantity x decision price), groups as "
        f"ratio of sums; buckets are {result.bucket_width_ns // 60_000_000_000} minutes of local time "
        f"(UTC{result.utc_offset_ns // 60_000_000_000:+d} min).</p>"
        f"<h2>Plots</h2>{''.join(plots)}{''.join(tables)}"
        f"<h2>Most expensive orders</h2>{worst}<h2>Data quality</h2><dl>{diagnostics}</dl></body></html>"
    )


def _worst_orders(result: TcaResult, limit: int = 15) -> str:
    costs = result.orders
    total_bps = costs.bps["total"]
    rows = [i for i in np.argsort(-np.nan_to_num(total_bps, nan=-np.inf)) if np.isfinite(total_bps[i])][:limit]
    head = (
        '<tr><th class="key">order</th><th>side</th><th>qty</th><th>filled</th><th>total bps</th>'
        "<th>vs arrival bps</th><th>vs interval VWAP bps</th><th>outlier</th></tr>"
    )
    body = []
    for i in rows:
        cls = ' class="outlier"' if costs.outlier[i] else ""
        vwap = costs.slippage_bps["interval_vwap"][i]
        arrival = costs.slippage_bps["arrival"][i]
        body.append(
            f'<tr{cls}><td class="key">{escape(str(costs.order_id[i]))}</td>'
            f"<td>{'BUY' if costs.side[i] > 0 else 'SELL'}"
            f"</td><td>{int(costs.quantity[i])}</td><td>{int(costs.filled_quantity[i])}</td><td>{total_bps[i]:.1f}</td>"
            f"<td>{'-' if not np.isfinite(arrival) else f'{arrival:.1f}'}</td>"
            f"<td>{'-' if not np.isfinite(vwap) else f'{vwap:.1f}'}</td>"
            f"<td>{'yes' if costs.outlier[i] else ''}</td></tr>"
        )
    return f'<table class="orders-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
