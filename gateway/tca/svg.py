"""Draw small bar charts as inline SVG text, so the HTML report needs no plotting library and no network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 760
HEIGHT = 320
MARGIN_LEFT = 64
MARGIN_RIGHT = 16
MARGIN_TOP = 28
MARGIN_BOTTOM = 64
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948")


@dataclass(slots=True)
class Series:
    name: str
    values: list[float]
    color: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Return round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.0f}"
    return f"{value:.3g}"


class _Frame:
    """The plotting area: maps data values to pixels and draws the value axis."""

    def __init__(self, low: float, high: float) -> None:
        ticks = nice_ticks(min(low, 0.0), max(high, 0.0))
        self.low = min(ticks[0], low, 0.0)
        self.high = max(ticks[-1], high, 0.0)
        if self.high == self.low:
            self.high = self.low + 1.0
        self.ticks = [t for t in ticks if self.low <= t <= self.high]
        self.top = MARGIN_TOP
        self.bottom = HEIGHT - MARGIN_BOTTOM
        self.left = MARGIN_LEFT
        self.right = WIDTH - MARGIN_RIGHT

    def y(self, value: float) -> float:
        return self.bottom - (value - self.low) / (self.high - self.low) * (self.bottom - self.top)

    def axis(self, unit: str) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" class="grid"/>')
            parts.append(
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_fmt(tick)}</text>'
            )
        zero = self.y(0.0)
        parts.append(f'<line x1="{self.left}" y1="{zero:.1f}" x2="{self.right}" y2="{zero:.1f}" class="zero"/>')
        middle = (self.top + self.bottom) / 2
        parts.append(
            f'<text x="14" y="{middle:.1f}" transform="rotate(-90 14 {middle:.1f})"'
            f' text-anchor="middle" class="unit">{escape(unit)}</text>'
        )
        return parts


def _open(chart_id: str, title: str) -> list[str]:
    return [
        (
            f'<svg id="{escape(chart_id)}" class="chart" xmlns="http://www.w3.org/2000/svg"'
            f' width="{WIDTH}" height="{HEIGHT}"'
            f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        ),
        f'<text x="{WIDTH / 2}" y="16" text-anchor="middle" class="title">{escape(title)}</text>',
    ]


def _category_labels(frame: _Frame, labels: Sequence[str], slot: float) -> list[str]:
    parts = []
    every = max(1, math.ceil(14 / slot))  # rotated labels need about 14 px each, or they overlap
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = frame.left + slot * (index + 0.5)
        y = frame.bottom + 14
        parts.append(
            f'<text x="{x:.1f}" y="{y}" transform="rotate(-35 {x:.1f} {y})" text-anchor="end" class="label">'
            f"{escape(label)}</text>"
        )
    return parts


def _empty(chart_id: str, title: str) -> str:
    parts = _open(chart_id, title)
    parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">no data</text></svg>')
    return "".join(parts)


def stacked_bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str,
    totals: Sequence[float] | None = None,
) -> str:
    """Draw one bar per label with the series stacked, positives up and negatives down, and a total marker."""
    finite = [[v if math.isfinite(v) else 0.0 for v in s.values] for s in series]
    if not labels:
        return _empty(chart_id, title)
    ups = [sum(max(col[i], 0.0) for col in finite) for i in range(len(labels))]
    downs = [sum(min(col[i], 0.0) for col in finite) for i in range(len(labels))]
    frame = _Frame(min(downs), max(ups))
    parts = _open(chart_id, title) + frame.axis(unit)
    slot = (frame.right - frame.left) / len(labels)
    width = max(slot * 0.6, 1.0)
    for i, label in enumerate(labels):
        x = frame.left + slot * i + (slot - width) / 2
        up, down = 0.0, 0.0
        for s, values in zip(series, finite):
            value = values[i]
            if value == 0.0:
                continue
            base = up if value > 0 else down
            y0, y1 = frame.y(base), frame.y(base + value)
            if value > 0:
                up += value
            else:
                down += value
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{min(y0, y1):.1f}" width="{width:.1f}"'
                f' height="{max(abs(y1 - y0), 0.5):.1f}"'
                f' fill="{s.color}"><title>{escape(label)} {escape(s.name)}: {value:.2f} {escape(unit)}</title></rect>'
            )
        if totals is not None and math.isfinite(totals[i]):
            y = frame.y(totals[i])
            parts.append(
                f'<line class="total" x1="{x - 3:.1f}" y1="{y:.1f}" x2="{x + width + 3:.1f}" y2="{y:.1f}">'
                f"<title>{escape(label)} total: {totals[i]:.2f} {escape(unit)}</title></line>"
            )
    parts += _category_labels(frame, labels, slot)
    legend_x = frame.left
    for s in series:
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 14}" width="10" height="10" fill="{s.color}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{HEIGHT - 5}" class="legend">{escape(s.name)}</text>')
        legend_x += 14 + 8 * len(s.name) + 18
    parts.append("</svg>")
    return "".join(parts)


def bars(
    chart_id: str, title: str, labels: Sequence[str], values: Sequence[float], unit: str, color: str = PALETTE[0]
) -> str:
    """Draw one bar per label (NaN bars are left out)."""
    return stacked_bars(chart_id, title, labels, [Series(unit, list(values), color)], unit)


def histogram(
    chart_id: str, title: str, edges: Sequence[float], counts: Sequence[int], unit: str, color: str = PALETTE[0]
) -> str:
    """Draw counts over bins given by their edges, with the value axis for counts and bin edges below."""
    if not counts or sum(counts) == 0:
        return _empty(chart_id, title)
    frame = _Frame(0.0, float(max(counts)))
    parts = _open(chart_id, title) + frame.axis("orders")
    slot = (frame.right - frame.left) / len(counts)
    for i, count in enumerate(counts):
        if count == 0:
            continue
        x = frame.left + slot * i
        y = frame.y(count)
        parts.append(
            f'<rect class="bar" x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(slot - 1, 0.5):.1f}"'
            f' height="{frame.bottom - y:.1f}"'
            f' fill="{color}"><title>{edges[i]:.1f} to {edges[i + 1]:.1f} {escape(unit)}: {count}</title></rect>'
        )
    for tick in nice_ticks(edges[0], edges[-1], 8):
        if edges[0] <= tick <= edges[-1]:
            x = frame.left + (tick - edges[0]) / (edges[-1] - edges[0]) * (frame.right - frame.left)
            parts.append(
                f'<text x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="middle" class="tick">{_fmt(tick)}</text>'
            )
    parts.append(
        f'<text x="{(frame.left + frame.right) / 2}" y="{frame.bottom + 36}" text-anchor="middle" class="unit">'
        f"{escape(unit)}</text></svg>"
    )
    return "".join(parts)
