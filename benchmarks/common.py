"""Helpers every benchmark shares: HDR histograms of nanoseconds, a printed table, the JSON file, the machine."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
from hdrh.histogram import HdrHistogram

OUT_DIR = Path(__file__).resolve().parent / "out"
HIGHEST_NS = 60 * 1_000_000_000  # one minute: anything slower is clamped and counted, never dropped
SIGNIFICANT_FIGURES = 3


class LatencyHistogram:
    """An HDR histogram of nanosecond samples that clamps (and counts) values beyond its range instead of losing them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.histogram = HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_FIGURES)
        self.clamped = 0

    def record(self, nanoseconds: int) -> None:
        if nanoseconds < 1:
            nanoseconds = 1
        elif nanoseconds > HIGHEST_NS:
            nanoseconds = HIGHEST_NS
            self.clamped += 1
        self.histogram.record_value(nanoseconds)

    def record_all(self, samples: Iterable[int]) -> LatencyHistogram:
        for sample in samples:
            self.record(sample)
        return self

    def summary(self) -> dict[str, Any]:
        """Count and p50/p99/p99.9/max in microseconds (HDR values: within 0.1% of the recorded ones)."""
        hist = self.histogram
        if hist.get_total_count() == 0:
            return {"name": self.name, "count": 0}
        return {
            "name": self.name,
            "count": hist.get_total_count(),
            "p50_us": hist.get_value_at_percentile(50) / 1000,
            "p99_us": hist.get_value_at_percentile(99) / 1000,
            "p99_9_us": hist.get_value_at_percentile(99.9) / 1000,
            "max_us": hist.get_max_value() / 1000,
            "mean_us": round(hist.get_mean_value() / 1000, 3),
            "clamped": self.clamped,
        }


def latency_table(summaries: list[dict[str, Any]], title: str) -> str:
    """Render latency summaries as a Markdown table (what is printed is what goes into RESULTS.md)."""
    lines = [f"**{title}**", "", "| measurement | count | p50 µs | p99 µs | p99.9 µs | max µs |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in summaries:
        if not row.get("count"):
            lines.append(f"| {row['name']} | 0 | | | | |")
            continue
        lines.append(f"| {row['name']} | {row['count']:,} | {row['p50_us']:.1f} | {row['p99_us']:.1f} | "
                     f"{row['p99_9_us']:.1f} | {row['max_us']:.1f} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Describe where the numbers were measured: CPU model (lscpu), cores, Python, OS."""
    model = platform.processor() or "unknown"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
            "implementation": platform.python_implementation(), "os": f"{platform.system()} {platform.release()}"}


def write_json(name: str, document: dict[str, Any]) -> Path:
    """Write ``document`` to benchmarks/out/<name>.json and return the path."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return path


def command_line() -> str:
    """The command that ran this benchmark, as typed from the repository root."""
    return " ".join(["python", *sys.argv])
