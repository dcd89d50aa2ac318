"""Plan a liquidation: which positions first, how much of each, expected impact, cost and time, and whether a human
must look at it first. Pure: market facts come in, a Plan comes out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from gateway.liquidation.model import (
    Instruction,
    Target,
    Ordering,
    Plan,
    PlanLine,
    SkippedPosition,
    TargetKind,
)
from gateway.liquidation.policy import LiquidationPolicy
from gateway.liquidation.target import required_sale
from gateway.model import Instrument

SESSION_SECONDS = 23_400
COST_RATE_ITERATIONS = 4  # S depends on f and f on the plan for S: a few rounds settle it to well under a bp


@dataclass(slots=True, frozen=True)
class SymbolView:
    """What the gateway knows of a symbol's market when planning."""

    instrument: Instrument
    reference_price: int  # price units: mid if quoted, else last trade, else the instrument's reference
    has_quote: bool
    spread_bps: float
    halted: bool
    limit_locked_down: bool  # at limit down with no bid above it: nothing can be sold
    limit_locked_up: bool


def impact_rate(policy: LiquidationPolicy, quantity: int, average_daily_volume: int) -> float:
    """Square-root model: Y * sigma * sqrt(Q / ADV), as a fraction of price."""
    if quantity <= 0 or average_daily_volume <= 0:
        return 0.0
    return policy.impact_coefficient * policy.daily_volatility * math.sqrt(quantity / average_daily_volume)


def cost_rate(policy: LiquidationPolicy, view: SymbolView, quantity: int) -> float:
    """Expected cost of selling ``quantity`` as a fraction of its value: fees, half the spread, impact."""
    return (policy.fee_bps + view.spread_bps / 2) / 10_000 + impact_rate(
        policy, quantity, view.instrument.average_daily_volume)


def _mark(view: SymbolView) -> Fraction:
    return Fraction(view.reference_price, view.instrument.price_scale)


def _quantity_for_value(value: Fraction, view: SymbolView, position: int) -> int:
    """The fewest whole lots worth at least ``value`` at the mark, never more than the position."""
    if value <= 0:
        return 0
    lot = view.instrument.lot_size
    shares = math.ceil(value / _mark(view))
    lots = -(-shares // lot)
    return min(position, lots * lot)


class Planner:
    def __init__(self, policy: LiquidationPolicy) -> None:
        self.policy = policy

    def plan(self, instruction: Instruction, positions: dict[str, int], views: dict[str, SymbolView],
             liquidate_last: frozenset[str]) -> Plan:
        target = instruction.target
        assert target is not None
        skipped: list[SkippedPosition] = []
        candidates: list[tuple[str, int, str]] = []  # symbol, quantity available to trade, side
        wanted = target.quantities if target.kind is TargetKind.POSITIONS else None
        for symbol in sorted(set(positions) | set(wanted or {})):
            position = positions.get(symbol, 0)
            view = views.get(symbol)
            if wanted is not None:
                if symbol not in wanted:
                    continue
                side = "SELL" if position > 0 else "BUY"
                available = min(abs(position), wanted[symbol])
            else:
                side, available = "SELL", position
            if view is None or available <= 0:
                if wanted is not None or position:
                    # a short is covered only when a positions target names it: selling cannot relieve it
                    reason = "unknown_symbol" if view is None else "short_position" if position < 0 else "no_position"
                    skipped.append(SkippedPosition(symbol, position, reason))
                continue
            if view.halted:
                skipped.append(SkippedPosition(symbol, position, "halted"))
                continue
            if (side == "SELL" and view.limit_locked_down) or (side == "BUY" and view.limit_locked_up):
                skipped.append(SkippedPosition(symbol, position, "limit_locked"))
                continue
            candidates.append((symbol, available, side))
        candidates = self._order(candidates, views, instruction, liquidate_last)
        notes: list[str] = []
        if target.kind is TargetKind.POSITIONS:
            lines = [self._line(symbol, quantity, side, positions.get(symbol, 0), views[symbol], symbol in liquidate_last)
                     for symbol, quantity, side in candidates]
            planned = sum((line.value for line in lines), Fraction(0))
            missing = sum((wanted[s.symbol] * _mark(views[s.symbol]) for s in skipped
                           if s.symbol in views and wanted and s.symbol in wanted), Fraction(0))
            required, shortfall = planned + missing, missing
            rate = self._plan_cost_rate(lines)
        elif target.kind is TargetKind.NOTIONAL:
            required, lines, shortfall = self._allocate(target.notional, candidates, positions, views, liquidate_last)
            rate = target.cost_rate if target.cost_rate is not None else self._plan_cost_rate(lines)
        else:
            rate = target.cost_rate if target.cost_rate is not None else self._settled_cost_rate(target, candidates,
                                                                                                   views)
            sale = required_sale(target.assets, target.loan, target.target_ratio, rate)
            if sale is None:
                sale = sum((q * _mark(views[s]) for s, q, _ in candidates), Fraction(0))
                notes = [f"target ratio {float(target.target_ratio):.4g} cannot be restored by selling at expected "
                         f"cost {float(rate) * 10_000:.1f} bps: selling everything tradable"]
            required, lines, shortfall = self._allocate(sale, candidates, positions, views, liquidate_last)
        return Plan(instruction.instruction_id, instruction.account, target.kind, required, rate, lines, skipped,
                    shortfall, notes + self._review_reasons(lines, skipped, views, rate))

    def _order(self, candidates: list[tuple[str, int, str]], views: dict[str, SymbolView], instruction: Instruction,
               liquidate_last: frozenset[str]) -> list[tuple[str, int, str]]:
        ordering = self.policy.ordering

        def relief_per_cost(item: tuple[str, int, str]) -> float:
            symbol, quantity, _ = item
            haircut = float(instruction.haircuts.get(symbol, 1))
            return -haircut / max(cost_rate(self.policy, views[symbol], quantity), 1e-12)

        def adv_share(item: tuple[str, int, str]) -> float:
            symbol, quantity, _ = item
            return quantity / max(1, views[symbol].instrument.average_daily_volume)

        if ordering is Ordering.MOST_LIQUID:
            ranked = sorted(candidates, key=lambda item: (adv_share(item), item[0]))
        elif ordering is Ordering.RISK_ENGINE and instruction.symbol_order:
            given = {symbol: index for index, symbol in enumerate(instruction.symbol_order)}
            ranked = sorted(candidates, key=lambda item: (given.get(item[0], len(given)), relief_per_cost(item),
                                                          item[0]))
        else:
            ranked = sorted(candidates, key=lambda item: (relief_per_cost(item), item[0]))
        # "liquidate last" where possible: after everything else, in the same order among themselves
        return [c for c in ranked if c[0] not in liquidate_last] + [c for c in ranked if c[0] in liquidate_last]

    def _settled_cost_rate(self, target: Target, candidates: list[tuple[str, int, str]],
                           views: dict[str, SymbolView]) -> Fraction:
        """f for the ratio target: the sale depends on f and f on what the sale takes, so iterate, in floats (f is an
        estimate), until it settles to a thousandth of a basis point; the sale itself is then computed exactly."""
        fee = self.policy.fee_bps / 10_000
        rate = fee
        assets, loan, ratio = float(target.assets), float(target.loan), float(target.target_ratio)
        for _ in range(COST_RATE_ITERATIONS):
            denominator = ratio * (1 - rate) - 1
            if loan <= 0 or denominator <= 0:
                break
            remaining = (ratio * loan - assets) / denominator
            value = cost = 0.0
            for symbol, available, _ in candidates:
                if remaining <= 0:
                    break
                view = views[symbol]
                mark = view.reference_price / view.instrument.price_scale
                lot = view.instrument.lot_size
                quantity = min(available, -(-math.ceil(remaining / mark) // lot) * lot)
                value += quantity * mark
                cost += quantity * mark * cost_rate(self.policy, view, quantity)
                remaining -= quantity * mark
            settled = cost / value if value else fee
            if abs(settled - rate) < 1e-7:
                rate = settled
                break
            rate = settled
        return Fraction(round(rate * 1e10), 10**10)

    def _allocate(self, sale: Fraction, candidates: list[tuple[str, int, str]], positions: dict[str, int],
                  views: dict[str, SymbolView],
                  liquidate_last: frozenset[str]) -> tuple[Fraction, list[PlanLine], Fraction]:
        """Take whole lots in plan order until ``sale`` is covered; what cannot be covered is the shortfall."""
        remaining = sale
        lines: list[PlanLine] = []
        for symbol, available, side in candidates:
            if remaining <= 0:
                break
            view = views[symbol]
            quantity = _quantity_for_value(remaining, view, available)
            if quantity <= 0:
                continue
            line = self._line(symbol, quantity, side, positions.get(symbol, 0), view, symbol in liquidate_last)
            lines.append(line)
            remaining -= line.value
        return sale, lines, max(Fraction(0), remaining)

    def _line(self, symbol: str, quantity: int, side: str, position: int, view: SymbolView,
              liquidate_last: bool) -> PlanLine:
        instrument = view.instrument
        value = quantity * _mark(view)
        impact = impact_rate(self.policy, quantity, instrument.average_daily_volume)
        rate = cost_rate(self.policy, view, quantity)
        volume_per_second = self.policy.max_participation * instrument.average_daily_volume / SESSION_SECONDS
        return PlanLine(
            symbol=symbol, side=side, quantity=quantity, position=position,
            reference_price=view.reference_price, reference_price_text=instrument.format_price(view.reference_price),
            value=value, expected_impact_bps=round(impact * 10_000, 2), expected_cost=round(float(value) * rate, 2),
            expected_duration_s=round(quantity / volume_per_second, 1) if volume_per_second else math.inf,
            liquidate_last=liquidate_last,
        )

    def _plan_cost_rate(self, lines: list[PlanLine]) -> Fraction:
        """The plan's expected cost per unit of value: an estimate, so float arithmetic, kept to 1e-10 as a Fraction."""
        value = sum(float(line.value) for line in lines)
        if not value:
            return Fraction(self.policy.fee_bps) / 10_000
        return Fraction(round(sum(line.expected_cost for line in lines) / value * 1e10), 10**10)

    def _review_reasons(self, lines: list[PlanLine], skipped: list[SkippedPosition], views: dict[str, SymbolView],
                        rate: Fraction) -> list[str]:
        review = self.policy.review
        reasons: list[str] = []
        for line in lines:
            view = views[line.symbol]
            if review.on_no_quote and not view.has_quote:
                reasons.append(f"no quote for {line.symbol}")
            adv = view.instrument.average_daily_volume
            if review.max_adv_fraction and line.quantity > review.max_adv_fraction * adv:
                reasons.append(f"{line.symbol} line of {line.quantity} is above {review.max_adv_fraction:.0%} of "
                               f"average daily volume {adv}")
            if review.max_line_notional and line.value > review.max_line_notional:
                reasons.append(f"{line.symbol} line worth {float(line.value):.2f} is above {review.max_line_notional}")
        if review.on_halted:
            for skip in skipped:
                if skip.reason in ("halted", "limit_locked"):
                    reasons.append(f"{skip.symbol} skipped: {skip.reason.replace('_', ' ')}")
        if review.max_cost_bps and float(rate) * 10_000 > review.max_cost_bps:
            reasons.append(f"expected cost {float(rate) * 10_000:.1f} bps is above {review.max_cost_bps} bps")
        return reasons
