"""POV: trade a steady share of the market's volume as it prints, inside a min/max band.

Participation is our share of all printed volume, ours included (what a TCA report shows): for a rate r the algorithm
owes r / (1 - r) shares for every share others print. Own prints (``TradePrint.own``) are never market volume, so the
algorithm does not chase its own tail. Each print of others raises the target by the rate at that moment; resting
slices work the target, filled plus working never exceeds the max rate of the volume seen, and a fall below the min
rate, judged at each timed look (``check_interval_s``), crosses the spread back to the target. Parameters beyond the
common ones:

- ``participation``: the target rate (0 < r <= 0.5), at the start if ``end_participation`` is given.
- ``end_participation``: the rate at the end time; the rate moves linearly between them (needs an end time).
- ``min_participation`` / ``max_participation``: the band (default 0.8x the lowest and 1.2x the highest target rate).
- ``check_interval_s``: how often it looks without a print, to requote and watch the end time (default 5 s).

Child sizes are whole lots, so the band is kept to within one lot (or one ``min_child_quantity``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from algos.base import AlgoState, ScheduledAlgorithm
from algos.params import CommonParams, EndBehavior, ParamReader, parameter_error, seconds_to_ns
from algos.vwap import MAX_PARTICIPATION_LIMIT, check_rate, participation_multiplier
from gateway.model import Instrument

DEFAULT_CHECK_INTERVAL_S = 5.0
DEFAULT_BAND_LOW = 0.8
DEFAULT_BAND_HIGH = 1.2


class PovAlgorithm(ScheduledAlgorithm):
    name: ClassVar[str] = "POV"
    end_required: ClassVar[bool] = False
    wants_prints: ClassVar[bool] = True

    def __init__(
        self,
        *args: Any,
        start_rate: float,
        end_rate: float,
        min_rate: float,
        max_rate: float,
        band_given: bool,
        check_interval_ns: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.start_rate = start_rate
        self.end_rate = end_rate
        self.min_rate = min_rate
        self.max_rate = max_rate
        self.band_given = band_given
        self.check_interval_ns = check_interval_ns
        self.volume_base = 0  # market volume at the last re-plan
        self.owed = 0.0  # shares owed since the last re-plan: the sum of rate x multiplier over others' prints
        self._next_check_ns = 0

    @classmethod
    def read_params(
        cls, reader: ParamReader, common: CommonParams, instrument: Instrument, quantity: int, **context: Any
    ) -> dict[str, Any]:
        start_rate = reader.number("participation", None)
        if start_rate is None:
            raise parameter_error("participation", "is required (the target share of market volume, e.g. 0.1)")
        check_rate("participation", start_rate)
        end_rate = reader.number("end_participation", None)
        if end_rate is None:
            end_rate = start_rate
        else:
            check_rate("end_participation", end_rate)
            if common.end_ns is None:
                raise parameter_error("end_participation", "needs an end_time or duration_s to move towards")
        low, high = min(start_rate, end_rate), max(start_rate, end_rate)
        min_rate = reader.number("min_participation", None)
        max_rate = reader.number("max_participation", None)
        band_given = min_rate is not None or max_rate is not None
        if min_rate is None:
            min_rate = DEFAULT_BAND_LOW * low
        elif not 0.0 <= min_rate <= low:
            raise parameter_error("min_participation", f"must be between 0 and the lowest target rate {low:g}, got {min_rate:g}")
        if max_rate is None:
            max_rate = min(MAX_PARTICIPATION_LIMIT, DEFAULT_BAND_HIGH * high)
        elif not high <= max_rate <= MAX_PARTICIPATION_LIMIT:
            raise parameter_error(
                "max_participation",
                f"must be between the highest target rate {high:g} and {MAX_PARTICIPATION_LIMIT:g}, got {max_rate:g}",
            )
        check_s = reader.number("check_interval_s", DEFAULT_CHECK_INTERVAL_S, minimum=0.1, maximum=3600.0)
        assert check_s is not None
        return {
            "start_rate": start_rate,
            "end_rate": end_rate,
            "min_rate": min_rate,
            "max_rate": max_rate,
            "band_given": band_given,
            "check_interval_ns": seconds_to_ns(check_s),
        }

    # --- the schedule ---------------------------------------------------------------------------------------------

    def rate(self, now_ns: int) -> float:
        end = self.common.end_ns
        if end is None or self.start_rate == self.end_rate:
            return self.start_rate
        start = self.common.start_ns
        position = min(1.0, max(0.0, (now_ns - start) / (end - start)))
        return self.start_rate + (self.end_rate - self.start_rate) * position

    def _since_base(self) -> int:
        return self.market_volume - self.volume_base

    def target(self, now_ns: int) -> float:
        if self.completing or self.overtime:
            return float(self.quantity)
        return self.base_filled + self.owed

    def lower(self, now_ns: int) -> float:
        if self.completing or self.overtime:
            return float(self.quantity)
        return self.base_filled + participation_multiplier(self.min_rate) * self._since_base() if self.min_rate else 0.0

    def upper(self, now_ns: int) -> float:
        if self.completing or self.overtime:
            return float(self.quantity)
        return self.base_filled + participation_multiplier(self.max_rate) * self._since_base()

    def release_target(self, now_ns: int, next_wake_ns: int) -> float:
        return self.target(now_ns)

    def next_wake(self, now_ns: int) -> int:
        """The next timed look: a fixed grid, so that a stream of prints never pushes it away."""
        if self._next_check_ns > now_ns:
            return self._next_check_ns
        wake = now_ns + self.check_interval_ns
        end = self.common.end_ns
        if end is not None and now_ns < end:
            wake = min(wake, end)
        self._next_check_ns = wake
        return wake

    def rebase(self, now_ns: int) -> None:
        super().rebase(now_ns)
        self.volume_base = self.market_volume
        self.owed = 0.0
        self._next_check_ns = 0

    def _market_volume_added(self, quantity: int) -> None:
        if self.state is not AlgoState.RUNNING:
            return  # volume while paused is owed nothing: resume re-plans from the volume seen then
        now = self.clock.now_ns()
        self.owed += participation_multiplier(self.rate(now)) * quantity
        committed = self.committed
        if self.base_filled + self.owed <= committed:
            return  # what is resting already covers what is owed: nothing to decide on this print
        room = self.upper(now) - committed
        if room < self.common.min_child_quantity and room < self.quantity - committed:
            return  # owed, but a child would take it over its max rate: wait for more volume
        self._decide(catch_up=False)  # rest more now; whether it fell below the band is judged at the timed look

    def expected_completion(self, now_ns: int) -> int | None:
        if self.filled >= self.quantity:
            return now_ns
        elapsed = now_ns - self.base_ns
        volume = self._since_base()
        if elapsed <= 0 or volume <= 0:
            return self.common.end_ns
        own_per_ns = participation_multiplier(self.rate(now_ns)) * volume / elapsed
        eta = now_ns + int((self.quantity - self.filled) / own_per_ns)
        end = self.common.end_ns
        if end is not None and self.common.end_behavior is not EndBehavior.CONTINUE:
            return min(eta, end)
        return eta

    def check_participation(self, participation: float) -> None:
        check_rate("participation", participation)
        if self.band_given and not self.min_rate <= participation <= self.max_rate:
            raise parameter_error(
                "participation", f"{participation:g} is outside the band [{self.min_rate:g}, {self.max_rate:g}]"
            )

    def participation_changed(self, participation: float) -> None:
        self.start_rate = self.end_rate = participation
        if not self.band_given:
            self.min_rate = DEFAULT_BAND_LOW * participation
            self.max_rate = min(MAX_PARTICIPATION_LIMIT, DEFAULT_BAND_HIGH * participation)
        self.rebase(self.clock.now_ns())

