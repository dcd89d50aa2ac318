"""Make liquidations survive a crash: rebuild tiers, instructions, plans and reviews from the journal's
``liquidation.*`` records, then resume running ladders from the children the engine rebuilt.

The manager journals before it acts: the instruction, the plan, each review and each finish. Replay applies them in
order without sending, publishing or arming anything; ``resume`` then re-creates the ladders of running liquidations,
adopts their children from ``engine.orders`` (fills already counted, ids never reused) and arms their first tick.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import structlog

from gateway.liquidation.ladder import LadderChild, LineState
from gateway.liquidation.manager import AccountTier, Liquidation, LiquidationManager, LiquidationStatus
from gateway.liquidation.model import Instruction, Plan, PlanLine, SkippedPosition, Target, TargetKind, Tier
from gateway.liquidation.policy import TierPolicy
from gateway.model import OrderStatus

log = structlog.get_logger(__name__)


def instruction_from_record(record: dict[str, Any]) -> Instruction:
    target = record["target"]
    return Instruction(
        instruction_id=record["instruction_id"], account=record["account"], tier=Tier(record["tier"]),
        reason=record["reason"], deadline_ns=record["deadline_ns"], positions=record["positions"],
        symbol_order=tuple(record["symbol_order"]),
        haircuts={k: Fraction(v) for k, v in record["haircuts"].items()},
        principal=record["principal"], ts_received=record["ts_received"],
        target=None if target is None else Target(
            TargetKind(target["kind"]), notional=Fraction(target["notional"]), quantities=target["quantities"],
            assets=Fraction(target["assets"]), loan=Fraction(target["loan"]),
            target_ratio=Fraction(target["target_ratio"]),
            cost_rate=None if target["cost_rate"] is None else Fraction(target["cost_rate"])),
    )


def line_from_record(values: list[Any]) -> PlanLine:
    (symbol, side, quantity, position, reference_price, reference_text, value, impact_bps, cost, duration,
     liquidate_last) = values
    return PlanLine(symbol, side, quantity, position, reference_price, reference_text, Fraction(value), impact_bps,
                    cost, duration, liquidate_last)


class LiquidationRecovery:
    """The journal's Recoverable for the ``liquidation.`` prefix."""

    def __init__(self, manager: LiquidationManager) -> None:
        self.manager = manager
        self._instructions: dict[str, Instruction] = {}

    # --- Recoverable --------------------------------------------------------------------------------------------

    def replay(self, kind: str, payload: Any) -> None:
        manager = self.manager
        manager.journaled.append((kind, payload))
        if kind == "liquidation.instruction":
            instruction = instruction_from_record(payload)
            self._instructions[instruction.instruction_id] = instruction
            state = manager.accounts.setdefault(instruction.account, AccountTier())
            previous = state.tier
            state.tier, state.instruction_id = instruction.tier, instruction.instruction_id
            policy = manager.policy.tiers.get(instruction.tier.value, TierPolicy(False, False, False, False, False))
            manager._apply_flags(instruction.account, policy)
            manager._answers[instruction.instruction_id] = {
                "instruction_id": instruction.instruction_id, "account": instruction.account,
                "tier": instruction.tier.value, "previous_tier": previous.value, "recovered": True}
        elif kind == "liquidation.planned":
            instruction = self._instructions[payload["instruction_id"]]
            plan = Plan(payload["instruction_id"], payload["account"], TargetKind(payload["target_kind"]),
                        Fraction(payload["required_sale"]), Fraction(payload["cost_rate"]),
                        [line_from_record(values) for values in payload["lines"]],
                        [SkippedPosition(*values) for values in payload["skipped"]], Fraction(payload["shortfall"]),
                        list(payload["review_reasons"]))
            liquidation = Liquidation(payload["liquidation_id"], instruction, plan,
                                      (Fraction(payload["priority"][0]), payload["priority"][1]),
                                      LiquidationStatus.HELD if payload["held"] else LiquidationStatus.RUNNING)
            manager.liquidations[liquidation.liquidation_id] = liquidation
            manager.accounts.setdefault(plan.account, AccountTier()).liquidation = liquidation
            manager._sequence = max(manager._sequence, int(liquidation.liquidation_id[1:]))
            manager._answers[instruction.instruction_id]["liquidation_id"] = liquidation.liquidation_id
        elif kind == "liquidation.review":
            liquidation = manager.liquidations[payload["liquidation_id"]]
            liquidation.plan.lines = [line_from_record(values) for values in payload["lines"]]
            if payload["decision"] == "modified":
                liquidation.modified_by = payload["principal"]
            liquidation.status = LiquidationStatus.DONE if payload["decision"] == "rejected" else \
                LiquidationStatus.RUNNING
        elif kind == "liquidation.extended":
            liquidation = manager.liquidations[payload["liquidation_id"]]
            liquidation.plan.lines = [line_from_record(values) for values in payload["lines"]]
        elif kind == "liquidation.finished":
            liquidation = manager.liquidations[payload["liquidation_id"]]
            liquidation.status = LiquidationStatus.DONE
            liquidation.outcome = payload["outcome"]
        else:
            log.error("liquidation_record_unknown", kind=kind)

    def snapshot_state(self) -> Any:
        return [[kind, payload] for kind, payload in self.manager.journaled]

    def restore_state(self, state: Any) -> None:
        for kind, payload in state:
            self.replay(kind, payload)

    def resume(self) -> None:
        """Re-create running ladders from the children the engine rebuilt, and arm their first tick."""
        manager = self.manager
        engine = manager.engine
        children: dict[str, list[Any]] = {}
        for order in engine.orders.by_id.values():
            if order.liquidation and order.parent_id:
                children.setdefault(order.parent_id, []).append(order)
        for liquidation in manager.liquidations.values():
            if liquidation.status is not LiquidationStatus.RUNNING or liquidation.tracker is not None:
                continue
            manager._build_lines(liquidation)
            tracker = liquidation.tracker
            assert tracker is not None
            for ladder in liquidation.lines.values():
                for order in sorted(children.get(ladder.parent_id, []), key=lambda o: int(o.order_id.rsplit("E", 1)[1])):
                    ladder.child_sequence = max(ladder.child_sequence, int(order.order_id.rsplit("E", 1)[1]))
                    if order.filled_quantity:
                        ladder.filled += order.filled_quantity
                        ladder.filled_cost += order.filled_cost
                        tracker.on_fill(ladder.symbol, order.filled_quantity,
                                        Fraction(order.filled_cost, order.filled_quantity
                                                 * ladder.instrument.price_scale))
                    if order.is_working:
                        ladder.child = LadderChild(order.order_id, order.quantity, order.limit_price,
                                                   order.filled_quantity, order.status in (
                                                       OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED))
                ladder.state = LineState.DONE if ladder.filled >= ladder.quantity else LineState.WORKING
                # the first tick after reconciliation's own timers: it never sends before the venue has spoken
                manager._line_timers[ladder.parent_id] = manager.timers.call_later(
                    int(manager.policy.reprice_interval_s * 1_000_000_000), lambda line_id=ladder.parent_id:
                    manager._tick(line_id))
            log.warning("liquidation_resumed", liquidation_id=liquidation.liquidation_id,
                        account=liquidation.plan.account, sold_value=float(tracker.sold_value),
                        lines={s: ladder.filled for s, ladder in liquidation.lines.items()})
