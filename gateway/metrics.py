"""In-process measurements that cost next to nothing on the hot path: raw samples, summarised off the path."""

from __future__ import annotations

from array import array


class LatencyRecorder:
    """Nanosecond samples of command-decoded -> handed-to-venue, kept up to ``capacity`` (then the oldest go)."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self.samples = array("q")
        self.enabled = True

    def record(self, nanoseconds: int) -> None:
        if self.enabled:
            samples = self.samples
            if len(samples) >= self.capacity:
                del samples[: self.capacity // 2]
            samples.append(nanoseconds)

    def clear(self) -> None:
        del self.samples[:]

    def summary(self) -> dict[str, float]:
        """Count and percentiles in microseconds, by sorting a copy (off the hot path)."""
        ordered = sorted(self.samples)
        if not ordered:
            return {"count": 0}

        def at(quantile: float) -> float:
            return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] / 1000

        return {"count": len(ordered), "p50_us": at(0.5), "p99_us": at(0.99), "p999_us": at(0.999),
                "max_us": ordered[-1] / 1000}
