"""VWAP: follow the intraday volume curve, inside a tolerance band, never above a share of the market's volume.

The schedule is the curve's cumulative share between the order's start and end (re-planned from here on resume or
amend). Slicing, the band, catch-up and requoting are TWAP's; only the shape of the line differs. Parameters beyond
the common ones:

- ``curve``: a list of bucket weights (equal buckets over the session) or the name of a curve registered with the
  host (loaded from CSV at start-up with ``algos.curves.load_curve_csv``); default the U shape of ``buckets`` buckets.
- ``buckets``: buckets of the default U-shaped curve (default 13, half-hours of a 6.5 h day).
- ``session_start`` / ``session_end``: the span the curve describes (default: the order's own start and end).
- ``max_participation``: never more than this share of all printed volume (ours included), counted from the start;
  own prints are not market volume. The cap wins over the schedule: when it binds the order falls behind.
- ``slice_interval_s`` / ``slices`` and ``tolerance`` as for TWAP (the band is checked against the largest slice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from algos.curves import VolumeCurve, u_shaped_curve
from algos.params import CommonParams, ParamReader, parameter_error, read_slice_interval, read_tolerance
from algos.twap import TwapAlgorithm
from gateway.model import Instrument

MAX_PARTICIPATION_LIMIT = 0.5


def participation_multiplier(rate: float) -> float:
    """Our shares per share others print, for a share ``rate`` of all volume (ours included): r / (1 - r)."""
    return rate / (1.0 - rate)


def check_rate(name: str, rate: float) -> None:
    if not 0.0 < rate <= MAX_PARTICIPATION_LIMIT:
        raise parameter_error(name, f"must be greater than 0 and at most {MAX_PARTICIPATION_LIMIT:g}, got {rate:g}")


class VwapAlgorithm(TwapAlgorithm):
    name: ClassVar[str] = "VWAP"

    def __init__(
        self,
        *args: Any,
        curve: VolumeCurve,
        session_start_ns: int,
        session_end_ns: int,
        max_participation: float | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.curve = curve
        self.session_start_ns = session_start_ns
        self.session_end_ns = session_end_ns
        self.max_participation = max_participation

    @classmethod
    def read_params(
        cls,
        reader: ParamReader,
        common: CommonParams,
        instrument: Instrument,
        quantity: int,
        curves: Mapping[str, VolumeCurve] | None = None,
        **context: Any,
    ) -> dict[str, Any]:
        assert common.end_ns is not None
        curve = cls._read_curve(reader, curves or {})
        session_start = reader.timestamp("session_start")
        session_end = reader.timestamp("session_end")
        session_start = common.start_ns if session_start is None else session_start
        session_end = common.end_ns if session_end is None else session_end
        if session_end <= session_start:
            raise parameter_error("session_end", f"must be after session_start, got {session_end} <= {session_start}")
        max_participation = reader.number("max_participation", None)
        if max_participation is not None:
            check_rate("max_participation", max_participation)
        interval_ns = read_slice_interval(reader, common.end_ns - common.start_ns)
        largest = _largest_slice(curve, session_start, session_end, common.start_ns, common.end_ns, interval_ns)
        tolerance = read_tolerance(reader, largest, "the largest slice", quantity, common.min_child_quantity,
                                   instrument.lot_size)
        return {
            "slice_interval_ns": interval_ns,
            "tolerance": tolerance,
            "curve": curve,
            "session_start_ns": session_start,
            "session_end_ns": session_end,
            "max_participation": max_participation,
        }

    @staticmethod
    def _read_curve(reader: ParamReader, curves: Mapping[str, VolumeCurve]) -> VolumeCurve:
        buckets = reader.integer("buckets", None, minimum=1, maximum=1440)
        raw = reader.raw("curve")
        if raw is None:
            return u_shaped_curve(13 if buckets is None else buckets)
        if buckets is not None:
            raise parameter_error("buckets", "shapes the default curve only; it cannot go with curve")
        if isinstance(raw, str):
            curve = curves.get(raw)
            if curve is None:
                known = ", ".join(sorted(curves)) or "none"
                raise parameter_error("curve", f"{raw!r} is not a registered curve (registered: {known})")
            return curve
        weights = reader.weights("curve")
        assert weights is not None
        return VolumeCurve.from_weights(weights)

    # --- the schedule ---------------------------------------------------------------------------------------------

    def _curve_at(self, moment_ns: int) -> float:
        span = self.session_end_ns - self.session_start_ns
        return self.curve.fraction_by((moment_ns - self.session_start_ns) / span)

    def _fraction_between(self, now_ns: int, end_ns: int) -> float:
        low = self._curve_at(self.base_ns)
        whole = self._curve_at(end_ns) - low
        if whole <= 1e-12:  # the curve expects no volume in the window: fall back to time
            return super()._fraction_between(now_ns, end_ns)
        return (self._curve_at(now_ns) - low) / whole

    def upper(self, now_ns: int) -> float:
        bound = super().upper(now_ns)
        if self.max_participation is not None and not self.completing:
            bound = min(bound, participation_multiplier(self.max_participation) * self.market_volume)
        return bound

    def check_participation(self, participation: float) -> None:
        check_rate("participation", participation)

    def participation_changed(self, participation: float) -> None:
        self.max_participation = participation


def _largest_slice(
    curve: VolumeCurve, session_start: int, session_end: int, start: int, end: int, interval_ns: int
) -> float:
    """The biggest share of the order any one slice carries under this curve."""
    span = session_end - session_start
    low = curve.fraction_by((start - session_start) / span)
    whole = curve.fraction_by((end - session_start) / span) - low
    if whole <= 1e-12:
        return min(1.0, interval_ns / (end - start))
    largest = 0.0
    previous = 0.0
    moment = start
    while moment < end:
        moment = min(end, moment + interval_ns)
        share = (curve.fraction_by((moment - session_start) / span) - low) / whole
        largest = max(largest, share - previous)
        previous = share
    return min(1.0, largest)
