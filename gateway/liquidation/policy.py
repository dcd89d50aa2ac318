"""How the gateway liquidates: tier actions, planner, price ladder and review conditions, from ``[liquidation]``."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from gateway.config import ConfigError
from gateway.liquidation.model import Ordering


@dataclass(slots=True, frozen=True)
class ReviewPolicy:
    """Hold a plan for a human when any of these holds; 0 turns a numeric condition off."""

    on_no_quote: bool = True  # a symbol in the plan has no two-sided quote
    on_halted: bool = True  # a position had to be skipped because its symbol is halted or limit-locked
    max_cost_bps: float = 150.0  # expected cost rate of the plan above this
    max_adv_fraction: float = 0.5  # a line larger than this share of the symbol's average daily volume
    max_line_notional: int = 0  # a line worth more than this (currency)


@dataclass(slots=True, frozen=True)
class TierPolicy:
    reduce_only: bool
    cancel_opening_orders: bool
    cancel_all_orders: bool
    lock_account: bool  # refuse every order not sent by the liquidation
    liquidate: bool


DEFAULT_TIERS = {
    "observation": TierPolicy(False, False, False, False, False),
    "warning": TierPolicy(True, True, False, False, False),
    "mandatory": TierPolicy(True, True, True, True, True),
}


@dataclass(slots=True, frozen=True)
class LiquidationPolicy:
    ordering: Ordering = Ordering.RELIEF_PER_COST
    fee_bps: float = 1.0  # explicit fees, in the expected cost rate
    impact_coefficient: float = 0.7  # Y in impact = Y * daily_volatility * sqrt(quantity / ADV)
    daily_volatility: float = 0.02
    max_participation: float = 0.2  # of recent market volume, per line
    volume_window_s: float = 60.0  # "recent" for the participation cap
    band_start_bps: float = 5.0  # first rung: this far through the reference price (sell: below)
    band_step_bps: float = 10.0  # each escalation moves this much further
    band_max_bps: float = 150.0  # the widest limit rung; beyond it, market if allowed
    reprice_interval_s: float = 2.0
    allow_market: bool = True
    behind_tolerance: float = 0.1  # behind the linear schedule by more than this share of the line: escalate faster
    final_window_s: float = 30.0  # this close to the deadline: take what the book offers, cap lifted
    default_deadline_s: float = 900.0
    min_child_lots: int = 1
    review: ReviewPolicy = ReviewPolicy()
    tiers: dict[str, TierPolicy] = field(default_factory=lambda: dict(DEFAULT_TIERS))


def _number(table: dict[str, Any], key: str, default: float, path: str, low: float = 0.0,
            high: float | None = None) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}{key}: expected a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ConfigError(f"{path}{key}: must be in {bounds}, got {value}")
    return float(value)


def _flag(table: dict[str, Any], key: str, default: bool, path: str) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}{key}: expected true or false, got {value!r}")
    return value


def _refuse_unknown(table: dict[str, Any], known: set[str], path: str) -> None:
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{path}{sorted(unknown)[0]}: unknown key; known keys are {', '.join(sorted(known))}")


def parse_policy(table: dict[str, Any] | None) -> LiquidationPolicy:
    table = dict(table or {})
    path = "liquidation."
    defaults = LiquidationPolicy()
    review_table = table.pop("review", {})
    tiers_table = table.pop("tiers", {})
    known = {f.name for f in fields(LiquidationPolicy)} - {"review", "tiers"}
    _refuse_unknown(table, known, path)
    ordering_text = table.get("ordering", defaults.ordering.value)
    try:
        ordering = Ordering(ordering_text)
    except ValueError:
        raise ConfigError(f"{path}ordering: must be one of {', '.join(o.value for o in Ordering)}, "
                          f"got {ordering_text!r}") from None
    review_defaults = ReviewPolicy()
    _refuse_unknown(review_table, {f.name for f in fields(ReviewPolicy)}, f"{path}review.")
    review = ReviewPolicy(
        on_no_quote=_flag(review_table, "on_no_quote", review_defaults.on_no_quote, f"{path}review."),
        on_halted=_flag(review_table, "on_halted", review_defaults.on_halted, f"{path}review."),
        max_cost_bps=_number(review_table, "max_cost_bps", review_defaults.max_cost_bps, f"{path}review."),
        max_adv_fraction=_number(review_table, "max_adv_fraction", review_defaults.max_adv_fraction, f"{path}review."),
        max_line_notional=int(_number(review_table, "max_line_notional", 0, f"{path}review.")),
    )
    tiers = dict(DEFAULT_TIERS)
    for name, tier_table in tiers_table.items():
        if name not in DEFAULT_TIERS:
            raise ConfigError(f"{path}tiers.{name}: unknown tier; tiers are observation, warning, mandatory")
        tier_path = f"{path}tiers.{name}."
        base = DEFAULT_TIERS[name]
        _refuse_unknown(tier_table, {f.name for f in fields(TierPolicy)}, tier_path)
        tiers[name] = TierPolicy(*(_flag(tier_table, f.name, getattr(base, f.name), tier_path)
                                   for f in fields(TierPolicy)))
    band_start = _number(table, "band_start_bps", defaults.band_start_bps, path)
    band_max = _number(table, "band_max_bps", defaults.band_max_bps, path)
    if band_max < band_start:
        raise ConfigError(f"{path}band_max_bps: must be >= band_start_bps ({band_start}), got {band_max}")
    return LiquidationPolicy(
        ordering=ordering,
        fee_bps=_number(table, "fee_bps", defaults.fee_bps, path),
        impact_coefficient=_number(table, "impact_coefficient", defaults.impact_coefficient, path),
        daily_volatility=_number(table, "daily_volatility", defaults.daily_volatility, path),
        max_participation=_number(table, "max_participation", defaults.max_participation, path, 0.001, 1.0),
        volume_window_s=_number(table, "volume_window_s", defaults.volume_window_s, path, 1.0),
        band_start_bps=band_start,
        band_step_bps=_number(table, "band_step_bps", defaults.band_step_bps, path, 0.1),
        band_max_bps=band_max,
        reprice_interval_s=_number(table, "reprice_interval_s", defaults.reprice_interval_s, path, 0.001),
        allow_market=_flag(table, "allow_market", defaults.allow_market, path),
        behind_tolerance=_number(table, "behind_tolerance", defaults.behind_tolerance, path, 0.0, 1.0),
        final_window_s=_number(table, "final_window_s", defaults.final_window_s, path),
        default_deadline_s=_number(table, "default_deadline_s", defaults.default_deadline_s, path, 1.0),
        min_child_lots=int(_number(table, "min_child_lots", defaults.min_child_lots, path, 1)),
        review=review,
        tiers=tiers,
    )
