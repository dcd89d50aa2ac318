"""Tiered forced liquidation: the risk engine's instruction, the plan, and the events the risk engine sees.

Money here is exact: sale amounts are Fractions of whole currency until they meet a price, quantities are integer
shares, prices integer price units of their instrument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction


class Tier(str, Enum):
    """The risk engine's lines, in order of severity; RECOVERED clears the account."""

    RECOVERED = "recovered"
    OBSERVATION = "observation"
    WARNING = "warning"
    MANDATORY = "mandatory"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Tier.RECOVERED: 0, Tier.OBSERVATION: 1, Tier.WARNING: 2, Tier.MANDATORY: 3}


class TargetKind(str, Enum):
    NOTIONAL = "notional"  # sell this much value
    POSITIONS = "positions"  # reduce these positions by these quantities
    RATIO = "ratio"  # sell until (A - S) / (D - S(1 - f)) reaches the target maintenance ratio


class Ordering(str, Enum):
    RELIEF_PER_COST = "relief_per_cost"  # most margin relief per unit of expected cost first
    MOST_LIQUID = "most_liquid"  # smallest share of daily volume first
    RISK_ENGINE = "risk_engine"  # the order the instruction gives


@dataclass(slots=True, frozen=True)
class Target:
    kind: TargetKind
    notional: Fraction = Fraction(0)  # NOTIONAL
    quantities: dict[str, int] = field(default_factory=dict)  # POSITIONS: symbol -> quantity to reduce by
    assets: Fraction = Fraction(0)  # RATIO: A
    loan: Fraction = Fraction(0)  # RATIO: D
    target_ratio: Fraction = Fraction(0)  # RATIO: e.g. 3/2 for 150%
    cost_rate: Fraction | None = None  # RATIO: f; None lets the planner estimate fees plus impact


@dataclass(slots=True, frozen=True)
class Instruction:
    instruction_id: str
    account: str
    tier: Tier
    reason: str
    target: Target | None  # required for MANDATORY
    deadline_ns: int
    positions: dict[str, int] | None  # as the risk engine sees them; None: the gateway's own position book
    symbol_order: tuple[str, ...] = ()  # for Ordering.RISK_ENGINE
    haircuts: dict[str, Fraction] = field(default_factory=dict)  # margin relief per unit of value, by symbol
    principal: str = ""
    ts_received: int = 0

    @property
    def underwater(self) -> Fraction:
        """How far under its line the account is; larger goes first. Ratio targets: target minus current ratio."""
        target = self.target
        if target is not None and target.kind is TargetKind.RATIO and target.loan > 0:
            return target.target_ratio - target.assets / target.loan
        return Fraction(0)


@dataclass(slots=True)
class PlanLine:
    """One position to reduce: how much, at what expected cost and speed."""

    symbol: str
    side: str  # "SELL" for a long, "BUY" to cover a short
    quantity: int
    position: int
    reference_price: int  # price units: the decision price (mid when the instruction arrived)
    reference_price_text: str
    value: Fraction  # quantity * reference price, in currency
    expected_impact_bps: float
    expected_cost: float  # currency: fees + half spread + impact
    expected_duration_s: float  # at the participation cap against the instrument's volume
    liquidate_last: bool = False


@dataclass(slots=True)
class SkippedPosition:
    symbol: str
    position: int
    reason: str  # "halted", "limit_locked", "no_position", "not_requested"


@dataclass(slots=True)
class Plan:
    instruction_id: str
    account: str
    target_kind: TargetKind
    required_sale: Fraction  # currency value to sell (for POSITIONS: the value of the quantities)
    cost_rate: Fraction
    lines: list[PlanLine]
    skipped: list[SkippedPosition]
    shortfall: Fraction  # value the plan cannot cover with what can be traded now
    review_reasons: list[str]

    @property
    def planned_value(self) -> Fraction:
        return sum((line.value for line in self.lines), Fraction(0))


def money(value: Fraction) -> str:
    """Currency text with two decimals, rounded half away from zero: for events, never for arithmetic."""
    cents = value * 100
    whole = int(cents + (Fraction(1, 2) if cents >= 0 else Fraction(-1, 2)))
    sign = "-" if whole < 0 else ""
    return f"{sign}{abs(whole) // 100}.{abs(whole) % 100:02d}"


# --- events: what the risk engine sees on its stream ----------------------------------------------------------------


@dataclass(slots=True)
class LiquidationTierChanged:
    ts_event: int
    account: str
    instruction_id: str
    tier: Tier
    previous_tier: Tier
    reason: str
    canceled_orders: int
    preempted_parents: int
    event: str = "LiquidationTierChanged"


@dataclass(slots=True)
class LiquidationPlanned:
    ts_event: int
    account: str
    instruction_id: str
    liquidation_id: str
    target_kind: TargetKind
    required_sale: str
    expected_cost_rate_bps: float
    lines: list[dict[str, object]]
    skipped: list[dict[str, object]]
    shortfall: str
    held_for_review: bool
    review_reasons: list[str]
    event: str = "LiquidationPlanned"


@dataclass(slots=True)
class LiquidationReviewed:
    ts_event: int
    account: str
    liquidation_id: str
    decision: str  # approved, modified, rejected
    principal: str
    lines: list[dict[str, object]]
    event: str = "LiquidationReviewed"


@dataclass(slots=True)
class LiquidationStarted:
    ts_event: int
    account: str
    liquidation_id: str
    instruction_id: str
    event: str = "LiquidationStarted"


@dataclass(slots=True)
class LiquidationProgressed:
    ts_event: int
    account: str
    liquidation_id: str
    symbol: str
    filled_quantity: int  # this line
    line_quantity: int
    last_quantity: int
    last_price: str
    sold_value: str  # all lines, at fill prices
    remaining_shortfall: str  # value still to sell to meet the target
    ratio_now: str | None  # RATIO targets: (A - sold at mark) / (D - net proceeds)
    rung: int  # the ladder step the line is on
    event: str = "LiquidationProgressed"


@dataclass(slots=True)
class LiquidationFinished:
    ts_event: int
    account: str
    liquidation_id: str
    instruction_id: str
    outcome: str  # target_met, completed (a reviewer's modified plan), failed, superseded, de-escalated, rejected
    reason: str
    sold_value: str
    remaining_shortfall: str
    event: str = "LiquidationFinished"
