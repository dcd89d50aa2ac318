"""Intraday volume curves for VWAP: the share of the session's volume expected by each moment.

A curve is a list of buckets over the session (as fractions of it) with a weight each; within a bucket volume is
spread evenly, so the cumulative curve is piecewise linear. Load one from CSV at start-up (never on the order path),
register it by name, or let VWAP build the default U shape (heavy at the open and the close, light at midday).
"""

from __future__ import annotations

import csv
import math
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path


@dataclass(slots=True, frozen=True)
class VolumeCurve:
    """Buckets ``[edges[i], edges[i+1])`` of the session (0 = open, 1 = close), ``cumulative[i]`` at ``edges[i]``."""

    edges: tuple[float, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def from_weights(cls, weights: list[float], edges: list[float] | None = None) -> VolumeCurve:
        """Equal-width buckets unless ``edges`` (len(weights) + 1 increasing fractions from 0 to 1) are given."""
        if not weights or any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
            raise ValueError("a volume curve needs non-negative weights that are not all zero")
        count = len(weights)
        if edges is None:
            edges = [index / count for index in range(count + 1)]
        if len(edges) != count + 1 or edges[0] != 0.0 or edges[-1] != 1.0:
            raise ValueError("curve edges must run from 0 to 1 with one more edge than weights")
        if any(b <= a for a, b in pairwise(edges)):
            raise ValueError("curve edges must increase")
        total = sum(weights)
        running = 0.0
        cumulative = [0.0]
        for weight in weights:
            running += weight / total
            cumulative.append(running)
        cumulative[-1] = 1.0
        return cls(tuple(edges), tuple(cumulative))

    @property
    def buckets(self) -> int:
        return len(self.edges) - 1

    def fraction_by(self, position: float) -> float:
        """Share of the session's volume expected by ``position`` (0 = open, 1 = close)."""
        if position <= 0.0:
            return 0.0
        if position >= 1.0:
            return 1.0
        index = bisect_right(self.edges, position) - 1
        left, right = self.edges[index], self.edges[index + 1]
        low, high = self.cumulative[index], self.cumulative[index + 1]
        return low + (high - low) * (position - left) / (right - left)

    def bucket_weights(self) -> list[float]:
        return [b - a for a, b in pairwise(self.cumulative)]


@lru_cache(maxsize=64)
def u_shaped_curve(buckets: int = 13) -> VolumeCurve:
    """The default: about three times the midday rate at the open and the close, with a little more at the close."""
    if buckets < 1:
        raise ValueError("a curve needs at least one bucket")
    weights = []
    for index in range(buckets):
        centre = (index + 0.5) / buckets
        weights.append(1.0 + 2.0 * (2.0 * centre - 1.0) ** 2 + (0.5 if index == buckets - 1 and buckets > 2 else 0.0))
    return VolumeCurve.from_weights(weights)


def load_curve_csv(path: str | Path) -> VolumeCurve:
    """Read ``minute,weight`` rows: a bucket starts ``minute`` minutes after the open; the last is as wide as the one
    before it. ``minute`` may also be a clock time ``HH:MM`` (the first row is then the open). Raise ValueError naming
    the file and the row."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in (reader.fieldnames or [])}
        if "minute" not in fields or "weight" not in fields:
            raise ValueError(f"{path}: needs a header with columns 'minute' and 'weight'")
        starts: list[float] = []
        weights: list[float] = []
        for line, row in enumerate(reader, start=2):
            minute_text = (row.get(fields["minute"]) or "").strip()
            weight_text = (row.get(fields["weight"]) or "").strip()
            try:
                minute = _minutes(minute_text)
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"{path}:{line}: minute {minute_text!r} or weight {weight_text!r} is not a number")
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"{path}:{line}: weight must be a non-negative number, got {weight_text!r}")
            if starts and minute <= starts[-1]:
                raise ValueError(f"{path}:{line}: minutes must increase, got {minute_text!r} after {starts[-1]:g}")
            starts.append(minute)
            weights.append(weight)
    if not starts:
        raise ValueError(f"{path}: has no buckets")
    if sum(weights) <= 0:
        raise ValueError(f"{path}: weights are all zero")
    if len(starts) == 1:
        return VolumeCurve.from_weights(weights)
    open_minute = starts[0]
    close_minute = starts[-1] + (starts[-1] - starts[-2])
    span = close_minute - open_minute
    edges = [(start - open_minute) / span for start in starts] + [1.0]
    return VolumeCurve.from_weights(weights, edges)


def _minutes(text: str) -> float:
    if ":" in text:
        hours, _, minutes = text.partition(":")
        return int(hours) * 60 + float(minutes)
    return float(text)
