"""Settings of the simulated venue: one frozen dataclass with defaults that give a plausible liquid market."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.clock import NANOS_PER_SECOND

SESSION_NS = 23_400 * NANOS_PER_SECOND  # 6.5 hours, 09:30 to 16:00


@dataclass(slots=True, frozen=True)
class SimVenueConfig:
    """How the simulated venue behaves; every field has a default, so ``SimVenueConfig()`` is a working venue."""

    name: str = "SIM"
    seed: int = 1
    latency_ns: int = 100_000  # one way; 0 processes a send synchronously inside the call
    interval_ns: int = NANOS_PER_SECOND  # market-data tick: walk, re-quote, background trades
    session_ns: int = SESSION_NS  # open to close
    spread_bps: float = 3.0  # quoted spread as a fraction of price; never narrower than min_spread_ticks
    min_spread_ticks: int = 1
    depth_levels: int = 5  # background market-maker levels per side
    level_gap_ticks: int = 0  # grid of the levels behind the touch; 0: half the spread, at least one tick
    level_size_factor: float = 3.0  # top level size as a multiple of the average per-tick volume
    min_level_lots: int = 1
    daily_volatility: float = 0.02  # standard deviation of the day's return of the random walk
    volume_u_shape: float = 2.0  # intraday volume curve: 0 flat; 2 makes open and close 3x the midday rate
    taker_order_flow_bias: float = 0.1  # extra probability that a taker trades in the direction of the last move
    taker_reach_levels: int = 3  # a background taker sweeps at most this many levels beyond the touch
    enforce_lot_size: bool = True  # reject quantities that are not a multiple of the instrument's lot size
    record_executions: bool = True  # keep every report for executions(); off saves memory in long benchmarks

    def __post_init__(self) -> None:
        if self.latency_ns < 0:
            raise ValueError(f"latency_ns must be >= 0, got {self.latency_ns}")
        if self.interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {self.interval_ns}")
        if self.session_ns < self.interval_ns:
            raise ValueError(f"session_ns {self.session_ns} must be at least interval_ns {self.interval_ns}")
        if self.depth_levels < 1:
            raise ValueError(f"depth_levels must be >= 1, got {self.depth_levels}")
        if self.level_gap_ticks < 0:
            raise ValueError(f"level_gap_ticks must be >= 0 (0: automatic), got {self.level_gap_ticks}")
        if self.min_spread_ticks < 1 or self.min_level_lots < 1:
            raise ValueError("min_spread_ticks and min_level_lots must be >= 1")
        if self.spread_bps < 0 or self.daily_volatility < 0 or self.volume_u_shape < 0 or self.level_size_factor <= 0:
            raise ValueError("spread_bps, daily_volatility and volume_u_shape must be >= 0, level_size_factor > 0")
        if not 0 <= self.taker_order_flow_bias < 0.5:
            raise ValueError(f"taker_order_flow_bias must be in [0, 0.5), got {self.taker_order_flow_bias}")
        if self.taker_reach_levels < 0:
            raise ValueError(f"taker_reach_levels must be >= 0, got {self.taker_reach_levels}")
