"""TWAP: equal shares of the order in equal slices of time, kept inside a tolerance band of the straight line.

At each slice boundary the next slice rests at the touch (or the mid, or crosses, by ``aggression``). Filled plus
working never exceeds the line plus the band, so it never runs ahead; when the filled quantity falls more than the band
behind the line it crosses the spread back to the line. Parameters beyond the common ones:

- ``slice_interval_s`` or ``slices``: the slice length (default about 30 slices of 1 s to 5 min).
- ``tolerance``: the band as a fraction of the order (default 0.05, widened to one slice if a slice is larger);
  an explicit band narrower than one slice is refused, because a whole slice could not then rest at once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from algos.base import ScheduledAlgorithm
from algos.params import CommonParams, ParamReader, read_slice_interval, read_tolerance
from gateway.model import Instrument


class TwapAlgorithm(ScheduledAlgorithm):
    name: ClassVar[str] = "TWAP"

    def __init__(self, *args: Any, slice_interval_ns: int, tolerance: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slice_interval_ns = slice_interval_ns
        self.tolerance = tolerance
        self._planned_wake_ns = 0  # the next slice boundary (with its jitter), kept until it has passed
        self._slice_index = 0  # which boundary of the grid from the base that is

    @classmethod
    def read_params(
        cls, reader: ParamReader, common: CommonParams, instrument: Instrument, quantity: int, **context: Any
    ) -> dict[str, Any]:
        assert common.end_ns is not None
        interval_ns = read_slice_interval(reader, common.end_ns - common.start_ns)
        largest_slice = cls.largest_slice_share(common, interval_ns, reader, instrument)
        tolerance = read_tolerance(reader, largest_slice, "one slice", quantity, common.min_child_quantity,
                                   instrument.lot_size)
        return {"slice_interval_ns": interval_ns, "tolerance": tolerance}

    @classmethod
    def largest_slice_share(
        cls, common: CommonParams, interval_ns: int, reader: ParamReader, instrument: Instrument
    ) -> float:
        assert common.end_ns is not None
        return min(1.0, interval_ns / (common.end_ns - common.start_ns))

    # --- the schedule ---------------------------------------------------------------------------------------------

    def schedule_fraction(self, now_ns: int) -> float:
        """Share of the re-planned remainder due by ``now_ns``: nothing at the base, everything at the end."""
        end = self.common.end_ns
        assert end is not None
        if now_ns <= self.base_ns:
            return 0.0
        if now_ns >= end:
            return 1.0
        return self._fraction_between(now_ns, end)

    def _fraction_between(self, now_ns: int, end_ns: int) -> float:
        """The schedule strictly inside (base, end): a straight line."""
        return (now_ns - self.base_ns) / (end_ns - self.base_ns)

    @property
    def band(self) -> float:
        return max(float(self.instrument.lot_size), self.tolerance * self.quantity)

    def target(self, now_ns: int) -> float:
        if self.overtime or self.completing:
            return float(self.quantity)
        return self.base_filled + (self.quantity - self.base_filled) * self.schedule_fraction(now_ns)

    def lower(self, now_ns: int) -> float:
        return self.target(now_ns) - self.band

    def upper(self, now_ns: int) -> float:
        return self.target(now_ns) + self.band

    def release_target(self, now_ns: int, next_wake_ns: int) -> float:
        return self.target(next_wake_ns)

    def next_wake(self, now_ns: int) -> int:
        end = self.common.end_ns
        assert end is not None
        interval = self.slice_interval_ns
        if self.overtime or now_ns >= end:
            return now_ns + interval
        if self._planned_wake_ns > now_ns:
            return self._planned_wake_ns
        # the next grid point after the last one planned (a jittered wake may come early: never plan one twice)
        index = max(self._slice_index + 1, (now_ns - self.base_ns) // interval + 1)
        self._slice_index = index
        wake = self.base_ns + index * interval
        if wake < end and self.common.randomize_time > 0:
            jitter = int(self.common.randomize_time * interval * (2.0 * self.rng.random() - 1.0))
            wake = max(now_ns + 1, wake + jitter)
        wake = min(wake, end)
        self._planned_wake_ns = wake
        return wake

    def rebase(self, now_ns: int) -> None:
        super().rebase(now_ns)
        self._planned_wake_ns = 0
        self._slice_index = 0
