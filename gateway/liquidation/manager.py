"""The liquidation coordinator: tiers per account, instructions (idempotent, superseding), pre-emption of the account's
own orders and algorithms, plans, manual review, and the ladders that execute them, in priority order.

It follows the engine as an observer and sends children through the engine's ChildOrderPort, like the parent-order
manager does; liquidation children carry ``liquidation=True``, so they pass the account lock and kill switches and use
the share of every venue throttle reserved for them. When a venue throttle is exhausted, waiting lines queue in one
heap: lines not yet started, then next children, then reprices; within each the most underwater account first; and
nothing newer jumps that queue.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog

from algos.base import Action, CancelChild, ReplaceChild, SendChild, WakeAt
from gateway.clock import TimerHandle, TimerQueue
from gateway.engine import Engine, EngineObserver
from gateway.liquidation.ladder import LadderLine, LineState
from gateway.liquidation.model import (
    Instruction,
    Target,
    LiquidationFinished,
    LiquidationPlanned,
    LiquidationProgressed,
    LiquidationReviewed,
    LiquidationStarted,
    LiquidationTierChanged,
    Plan,
    PlanLine,
    TargetKind,
    Tier,
    money,
)
from gateway.liquidation.planner import Planner, SymbolView
from gateway.liquidation.policy import LiquidationPolicy, TierPolicy
from gateway.liquidation.target import TargetTracker
from gateway.model import ErrorCode, Order, Refusal, Side, TradePrint, VenueStatus, refuse

if TYPE_CHECKING:
    from gateway.parents import ParentOrderManager

log = structlog.get_logger(__name__)

THROTTLE_RETRY_NS = 1_000_000  # how soon a line blocked by a venue throttle tries again


class LiquidationStatus(str, Enum):
    HELD = "held"  # waiting for a principal with role risk or admin to approve, modify or reject
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True)
class Liquidation:
    liquidation_id: str
    instruction: Instruction
    plan: Plan
    priority: tuple[Fraction, int]  # (-underwater, arrival): smaller goes first
    status: LiquidationStatus = LiquidationStatus.HELD
    tracker: TargetTracker | None = None
    lines: dict[str, LadderLine] = field(default_factory=dict)  # by symbol
    outcome: str | None = None
    ts_started: int | None = None
    ts_first_child: int | None = None
    ts_finished: int | None = None
    modified_by: str | None = None  # a reviewer changed the lines: they are executed as given, never topped up


@dataclass(slots=True)
class AccountTier:
    tier: Tier = Tier.RECOVERED
    instruction_id: str | None = None
    liquidation: Liquidation | None = None


class LiquidationManager(EngineObserver):
    def __init__(self, engine: Engine, timers: TimerQueue, policy: LiquidationPolicy,
                 parents: ParentOrderManager | None = None) -> None:
        self.engine = engine
        self.timers = timers
        self.clock = timers.clock
        self.policy = policy
        self.parents = parents
        self.planner = Planner(policy)
        self.accounts: dict[str, AccountTier] = {}
        self.liquidations: dict[str, Liquidation] = {}
        self._answers: dict[str, dict[str, Any]] = {}  # instruction id -> the answer it got: the same id acts once
        self._lines: dict[str, tuple[Liquidation, LadderLine]] = {}  # line id -> owner
        self._working_by_symbol: dict[str, dict[str, LadderLine]] = {}  # lines still selling, for the tape
        self._line_timers: dict[str, TimerHandle] = {}
        self._arrivals = itertools.count(1)
        self._sequence = 0
        self._blocked: list[tuple[tuple[int, Fraction, int], int, str]] = []  # lines waiting for a venue slot
        self._blocked_ids: set[str] = set()
        self._blocked_timer: TimerHandle | None = None
        self._releasing: str | None = None  # the line whose turn at the venue it is
        self.journaled: list[tuple[str, Any]] = []  # every liquidation record, live or replayed: the snapshot state
        engine.add_observer(self)

    # --- instructions -------------------------------------------------------------------------------------------

    def _journal(self, kind: str, payload: Any, required: bool = True) -> None:
        """Journal a liquidation record before acting on it, and keep it for snapshots (see recovery.py)."""
        self.engine.journal_record(kind, payload, required)
        self.journaled.append((kind, payload))

    def instruct(self, instruction: Instruction) -> dict[str, Any]:
        """Act on a risk engine's instruction once; the same instruction id again gets the first answer back."""
        seen = self._answers.get(instruction.instruction_id)
        if seen is not None:
            return {**seen, "duplicate": True}
        self._journal("liquidation.instruction", _instruction_record(instruction))
        state = self.accounts.setdefault(instruction.account, AccountTier())
        previous = state.tier
        now = self.clock.now_ns()
        canceled = preempted = 0
        running = state.liquidation if state.liquidation and state.liquidation.status is not LiquidationStatus.DONE \
            else None
        if running is not None and (instruction.tier is not Tier.MANDATORY or instruction.target is not None):
            outcome = "superseded" if instruction.tier is Tier.MANDATORY else "de-escalated"
            self._finish(running, outcome, f"instruction {instruction.instruction_id} ({instruction.tier.value})")
        state.tier = instruction.tier
        state.instruction_id = instruction.instruction_id
        policy = self.policy.tiers.get(instruction.tier.value, TierPolicy(False, False, False, False, False))
        self._apply_flags(instruction.account, policy)
        if policy.cancel_all_orders:
            canceled, preempted = self._cancel_account_orders(instruction.account, opening_only=False)
        elif policy.cancel_opening_orders:
            canceled, preempted = self._cancel_account_orders(instruction.account, opening_only=True)
        self.engine.publish(LiquidationTierChanged(now, instruction.account, instruction.instruction_id,
                                                   instruction.tier, previous, instruction.reason, canceled, preempted))
        log.warning("liquidation_tier_changed", account=instruction.account, tier=instruction.tier.value,
                    previous=previous.value, instruction_id=instruction.instruction_id, canceled_orders=canceled,
                    preempted_parents=preempted)
        answer: dict[str, Any] = {"instruction_id": instruction.instruction_id, "account": instruction.account,
                                  "tier": instruction.tier.value, "previous_tier": previous.value,
                                  "canceled_orders": canceled, "preempted_parents": preempted}
        if policy.liquidate and instruction.target is not None:
            liquidation = self._plan(instruction)
            state.liquidation = liquidation
            answer.update(liquidation_id=liquidation.liquidation_id, status=liquidation.status.value)
        self._answers[instruction.instruction_id] = answer
        return answer

    def _apply_flags(self, account: str, policy: TierPolicy) -> None:
        risk = self.engine.risk
        for flag, accounts in ((policy.reduce_only, risk.reduce_only_accounts), (policy.lock_account,
                                                                                  risk.locked_accounts)):
            if flag:
                accounts.add(account)
            else:
                accounts.discard(account)

    def _cancel_account_orders(self, account: str, opening_only: bool) -> tuple[int, int]:
        """Cancel the account's own working orders (only those adding exposure if ``opening_only``) and algorithms."""
        engine = self.engine
        canceled = 0
        for order in engine.orders.open_orders(account):
            if order.liquidation:
                continue
            if opening_only:
                position = engine.position(account, order.symbol).quantity
                if not engine.risk.increases_exposure(order.side, order.leaves_quantity, position, 0):
                    continue
            if engine.request_cancel(order) is None:
                canceled += 1
        preempted = 0
        if self.parents is not None:
            from algos.base import FinishReason

            for parent in self.parents.parents_for_account(account):
                if not parent.is_working:
                    continue
                position = engine.position(account, parent.symbol).quantity
                if opening_only and not engine.risk.increases_exposure(parent.side, parent.leaves_quantity, position, 0):
                    continue
                self.parents.cancel(parent.parent_id, FinishReason.PREEMPTED)
                preempted += 1
        return canceled, preempted

    # --- planning and review ------------------------------------------------------------------------------------

    def _views(self) -> dict[str, SymbolView]:
        views = {}
        for symbol, instrument in self.engine.instruments.items():
            state = self.engine.market[symbol]
            quote = state.quote
            quoted = quote is not None and quote.bid_size > 0 and quote.ask_size > 0
            reference = self.engine.reference_price(symbol)
            spread_bps = (quote.ask_price - quote.bid_price) * 10_000 / reference if quoted and reference else 0.0
            best_bid = quote.bid_price if quote is not None and quote.bid_size else 0
            best_ask = quote.ask_price if quote is not None and quote.ask_size else 0
            # locked at a limit: the touch on our side is gone or pinned to the limit, the other side sits on it
            locked_down = bool(instrument.limit_down) and best_bid <= instrument.limit_down and (
                0 < best_ask <= instrument.limit_down or (not best_ask and reference <= instrument.limit_down))
            locked_up = bool(instrument.limit_up) and (not best_ask or best_ask >= instrument.limit_up) and (
                best_bid >= instrument.limit_up or (not best_bid and reference >= instrument.limit_up))
            views[symbol] = SymbolView(instrument, reference, quoted, spread_bps, state.status is VenueStatus.HALTED,
                                       locked_down, locked_up)
        return views

    def _plan(self, instruction: Instruction) -> Liquidation:
        account = self.engine.accounts.get(instruction.account)
        if instruction.positions is not None:
            positions = dict(instruction.positions)
        else:
            positions = {symbol: position.quantity
                         for symbol, position in self.engine.account_positions(instruction.account).items()
                         if position.quantity}
        plan = self.planner.plan(instruction, positions, self._views(),
                                 account.liquidate_last if account is not None else frozenset())
        self._sequence += 1
        liquidation = Liquidation(f"L{self._sequence}", instruction, plan,
                                  (-instruction.underwater, next(self._arrivals)))
        self.liquidations[liquidation.liquidation_id] = liquidation
        held = bool(plan.review_reasons)
        self._journal("liquidation.planned", _plan_record(liquidation, held))
        self.engine.publish(self._planned_event(liquidation, held))
        log.warning("liquidation_planned", liquidation_id=liquidation.liquidation_id, account=instruction.account,
                    required_sale=money(plan.required_sale), lines=len(plan.lines), skipped=len(plan.skipped),
                    held=held, review_reasons=plan.review_reasons)
        if not held:
            self._start(liquidation)
        return liquidation

    def _planned_event(self, liquidation: Liquidation, held: bool) -> LiquidationPlanned:
        plan = liquidation.plan
        return LiquidationPlanned(
            self.clock.now_ns(), plan.account, plan.instruction_id, liquidation.liquidation_id, plan.target_kind,
            money(plan.required_sale), round(float(plan.cost_rate) * 10_000, 2), [_line_view(line) for line in plan.lines],
            [{"symbol": s.symbol, "position": s.position, "reason": s.reason} for s in plan.skipped],
            money(plan.shortfall), held, list(plan.review_reasons))

    def held(self) -> list[Liquidation]:
        return [liq for liq in self.liquidations.values() if liq.status is LiquidationStatus.HELD]

    def review(self, liquidation_id: str, decision: str, principal: str,
               quantities: dict[str, int] | None = None) -> Liquidation:
        """Approve, modify (new line quantities, then approve) or reject a held plan."""
        liquidation = self.liquidations.get(liquidation_id)
        if liquidation is None:
            raise refuse(ErrorCode.ORDER_NOT_FOUND, f"liquidation_id {liquidation_id} not found", "liquidation_id")
        if liquidation.status is not LiquidationStatus.HELD:
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE, f"liquidation {liquidation_id} is {liquidation.status.value}, "
                         "not held for review", "liquidation_id")
        if decision == "modified":
            self._modify(liquidation, quantities or {})
            liquidation.modified_by = principal
        self._journal("liquidation.review", {"liquidation_id": liquidation_id, "decision": decision,
                                                          "principal": principal, "quantities": quantities,
                                                          "lines": [_line_record(line) for line in
                                                                    liquidation.plan.lines]})
        self.engine.publish(LiquidationReviewed(self.clock.now_ns(), liquidation.plan.account, liquidation_id, decision,
                                                principal, [_line_view(line) for line in liquidation.plan.lines]))
        log.warning("liquidation_reviewed", liquidation_id=liquidation_id, decision=decision, principal=principal)
        if decision == "rejected":
            self._finish(liquidation, "rejected", f"rejected in review by {principal}")
        else:
            self._start(liquidation)
        return liquidation

    def _modify(self, liquidation: Liquidation, quantities: dict[str, int]) -> None:
        plan = liquidation.plan
        views = self._views()
        by_symbol = {line.symbol: line for line in plan.lines}
        lines: list[PlanLine] = []
        for symbol, quantity in quantities.items():
            view = views.get(symbol)
            if view is None:
                raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"lines.{symbol}: symbol is not known", "lines")
            position = by_symbol[symbol].position if symbol in by_symbol else \
                self.engine.position(plan.account, symbol).quantity
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                raise refuse(ErrorCode.VALIDATION_QUANTITY, f"lines.{symbol}: quantity must be a whole number >= 0, "
                             f"got {quantity!r}", "lines")
            if quantity > abs(position):
                raise refuse(ErrorCode.VALIDATION_QUANTITY, f"lines.{symbol}: quantity {quantity} exceeds the position "
                             f"{position}", "lines")
            if quantity % view.instrument.lot_size and quantity != abs(position):
                raise refuse(ErrorCode.VALIDATION_LOT_SIZE, f"lines.{symbol}: quantity {quantity} is not a multiple "
                             f"of the lot size {view.instrument.lot_size}", "lines")
            if quantity:
                lines.append(self.planner._line(symbol, quantity, "SELL" if position > 0 else "BUY", position, view,
                                                by_symbol[symbol].liquidate_last if symbol in by_symbol else False))
        lines += [line for line in plan.lines if line.symbol not in quantities]
        plan.lines = lines

    # --- execution ----------------------------------------------------------------------------------------------

    def _start(self, liquidation: Liquidation) -> None:
        self._build_lines(liquidation)
        plan = liquidation.plan
        tracker = liquidation.tracker
        assert tracker is not None
        self.engine.publish(LiquidationStarted(self.clock.now_ns(), plan.account, liquidation.liquidation_id,
                                               plan.instruction_id))
        if not plan.lines:
            self._finish(liquidation, "target_met" if tracker.met() else "failed",
                         "nothing to sell" if tracker.met() else "no tradable position covers the target")
            return
        self._start_ready_lines(liquidation)

    def _build_lines(self, liquidation: Liquidation) -> None:
        """The target tracker and one ladder per plan line, not yet started."""
        now = self.clock.now_ns()
        plan = liquidation.plan
        instruction = liquidation.instruction
        liquidation.status = LiquidationStatus.RUNNING
        liquidation.ts_started = now
        scales = {line.symbol: self.engine.instruments[line.symbol].price_scale for line in plan.lines}
        marks = {line.symbol: Fraction(line.reference_price, scales[line.symbol]) for line in plan.lines}
        assert instruction.target is not None
        liquidation.tracker = TargetTracker(instruction.target, plan.required_sale, plan.cost_rate,
                                            Fraction(self.policy.fee_bps) / 10_000, marks,
                                            {line.symbol: line.quantity for line in plan.lines})
        for line in plan.lines:
            self._add_ladder(liquidation, line, now)

    def _add_ladder(self, liquidation: Liquidation, line: PlanLine, now: int) -> LadderLine:
        ladder = LadderLine(f"{liquidation.liquidation_id}-{line.symbol}", liquidation.plan.account, "liquidation",
                            self.engine.instruments[line.symbol], Side(line.side), line.quantity,
                            line.reference_price, self.policy, now, liquidation.instruction.deadline_ns)
        liquidation.lines[line.symbol] = ladder
        self._lines[ladder.parent_id] = (liquidation, ladder)
        self._working_by_symbol.setdefault(line.symbol, {})[ladder.parent_id] = ladder
        return ladder

    def _start_ready_lines(self, liquidation: Liquidation) -> None:
        """Start each line whose symbol has none of the account's own orders still open: cancel first, then sell."""
        open_symbols = {order.symbol for order in self.engine.orders.open_orders(liquidation.plan.account)
                        if not order.liquidation}
        for ladder in liquidation.lines.values():
            if ladder.state is LineState.WAITING and ladder.symbol not in open_symbols:
                ladder.start()
                self._tick(ladder.parent_id)

    def _tick(self, line_id: str) -> None:
        owner = self._lines.get(line_id)
        if owner is None:
            return
        liquidation, ladder = owner
        self._line_timers.pop(line_id, None)
        if line_id in self._blocked_ids:
            return  # it will tick when its turn at the venue comes
        if self._blocked and line_id != self._releasing and _venue_priority(liquidation, ladder) >= self._blocked[0][0]:
            self._block(liquidation, ladder)  # it must not take a venue slot that more urgent work waits for
            return
        market = self.engine.market[ladder.symbol]
        actions = ladder.tick(self.clock.now_ns(), market.quote, market.last_trade_price,
                              market.status is not VenueStatus.OPEN)
        self._run(liquidation, ladder, actions)

    def _run(self, liquidation: Liquidation, ladder: LadderLine, actions: list[Action]) -> None:
        engine = self.engine
        for action in actions:
            if isinstance(action, SendChild):
                refusal = engine.send_child(ladder, action.child_id, action.side, action.order_type, action.quantity,
                                            action.limit_price, action.time_in_force)
                if refusal is None:
                    if liquidation.ts_first_child is None:
                        liquidation.ts_first_child = self.clock.now_ns()
                else:
                    self._on_send_refused(liquidation, ladder, refusal)
            elif isinstance(action, CancelChild):
                refusal = engine.cancel_child(action.child_id)
                if refusal is not None:
                    log.info("liquidation_cancel_refused", child_id=action.child_id, code=refusal.code.value)
            elif isinstance(action, ReplaceChild):
                refusal = engine.replace_child(action.child_id, action.quantity, action.limit_price)
                if refusal is not None:
                    ladder.on_child_cancel_rejected(action.child_id)
                    log.info("liquidation_replace_refused", child_id=action.child_id, code=refusal.code.value,
                             reason=refusal.message)
            elif isinstance(action, WakeAt):
                previous = self._line_timers.get(ladder.parent_id)
                if previous is not None:
                    previous.cancel()
                self._line_timers[ladder.parent_id] = self.timers.call_at(action.due_ns,
                                                                          partial(self._tick, ladder.parent_id))
        self._check_done(liquidation)

    def _on_send_refused(self, liquidation: Liquidation, ladder: LadderLine, refusal: Refusal) -> None:
        if refusal.code is ErrorCode.RISK_THROTTLE_VENUE:
            ladder.on_send_deferred()  # waiting for a slot is not a failure
            self._block(liquidation, ladder)
            return
        if refusal.code is ErrorCode.VENUE_UNAVAILABLE:
            ladder.on_send_deferred()  # the venue is down: keep trying every tick, however long the outage
            log.warning("liquidation_venue_unavailable", line=ladder.parent_id, reason=refusal.message)
            return
        ladder.on_send_refused()
        log.warning("liquidation_child_refused", line=ladder.parent_id, code=refusal.code.value,
                    reason=refusal.message, refusals=ladder.refusals)
        if ladder.exhausted:
            ladder.state = LineState.DONE
            ladder.stop_reason = f"children refused {ladder.refusals} times: {refusal.message}"

    def _block(self, liquidation: Liquidation, ladder: LadderLine) -> None:
        if ladder.parent_id not in self._blocked_ids:
            self._blocked_ids.add(ladder.parent_id)
            heapq.heappush(self._blocked, (_venue_priority(liquidation, ladder), ladder.child_sequence,
                                           ladder.parent_id))
        if self._blocked_timer is None:
            self._blocked_timer = self.timers.call_later(THROTTLE_RETRY_NS, self._release_blocked)

    def _release_blocked(self) -> None:
        """Give waiting lines their turn at the venue, most underwater first, until the throttle says no again."""
        self._blocked_timer = None
        while self._blocked:
            _, _, line_id = self._blocked[0]
            owner = self._lines.get(line_id)
            heapq.heappop(self._blocked)
            self._blocked_ids.discard(line_id)
            if owner is None or owner[1].done:
                continue
            liquidation, ladder = owner
            before = ladder.child_sequence
            self._releasing = line_id
            try:
                self._tick(line_id)
            finally:
                self._releasing = None
            if line_id in self._blocked_ids and ladder.child_sequence == before:
                break  # the throttle is still closed: it went back to the head of the queue
        if self._blocked and self._blocked_timer is None:
            self._blocked_timer = self.timers.call_later(THROTTLE_RETRY_NS, self._release_blocked)

    def _check_done(self, liquidation: Liquidation) -> None:
        if liquidation.status is not LiquidationStatus.RUNNING:
            return
        if not all(ladder.done for ladder in liquidation.lines.values()):
            return
        tracker = liquidation.tracker
        assert tracker is not None
        if tracker.met():
            self._finish(liquidation, "target_met", "the target is met")
            return
        if liquidation.modified_by is not None:
            self._finish(liquidation, "completed", f"the plan as modified by {liquidation.modified_by} is done; "
                         "the target is not met")
            return
        if self._top_up(liquidation, tracker.remaining()):
            return
        reasons = sorted({ladder.stop_reason for ladder in liquidation.lines.values() if ladder.stop_reason})
        skipped = [f"{s.symbol} {s.reason}" for s in liquidation.plan.skipped]
        detail = "; ".join(reasons + skipped) or "every planned line is done and the target is not met"
        self._finish(liquidation, "failed", detail)

    def _top_up(self, liquidation: Liquidation, remaining: Fraction) -> bool:
        """Fills came in below the mark, so the planned lines fell short: extend them by the lots still needed, then,
        if they hold no more, plan the rest over the account's other positions. Journaled before it acts."""
        if liquidation.instruction.target is None or liquidation.instruction.target.kind is TargetKind.POSITIONS:
            return False
        extended: list[LadderLine] = []
        for line in liquidation.plan.lines:
            ladder = liquidation.lines[line.symbol]
            spare = abs(line.position) - ladder.quantity
            if spare <= 0 or ladder.stop_reason is not None or remaining <= 0:
                continue
            mark = Fraction(ladder.decision_price, ladder.instrument.price_scale)
            lot = ladder.instrument.lot_size
            extra = min(spare, -(-int(-(-remaining // mark)) // lot) * lot)
            ladder.quantity += extra
            line.quantity = ladder.quantity
            remaining -= extra * mark
            extended.append(ladder)
        new_lines: list[PlanLine] = []
        if remaining > 0:
            others = {symbol: position.quantity
                      for symbol, position in self.engine.account_positions(liquidation.plan.account).items()
                      if position.quantity > 0 and symbol not in liquidation.lines}
            if others:
                instruction = liquidation.instruction
                rest = Instruction(instruction.instruction_id, instruction.account, instruction.tier,
                                   instruction.reason, Target(TargetKind.NOTIONAL, notional=remaining),
                                   instruction.deadline_ns, others, instruction.symbol_order, instruction.haircuts)
                account = self.engine.accounts.get(liquidation.plan.account)
                new_lines = self.planner.plan(rest, others, self._views(),
                                              account.liquidate_last if account else frozenset()).lines
        if not extended and not new_lines:
            return False
        liquidation.plan.lines.extend(new_lines)
        self._journal("liquidation.extended", {"liquidation_id": liquidation.liquidation_id,
                                               "lines": [_line_record(line) for line in liquidation.plan.lines]})
        log.info("liquidation_extended", liquidation_id=liquidation.liquidation_id,
                 extended={ladder.symbol: ladder.quantity for ladder in extended},
                 added={line.symbol: line.quantity for line in new_lines})
        now = self.clock.now_ns()
        for line in new_lines:
            liquidation.tracker.marks[line.symbol] = Fraction(line.reference_price,  # type: ignore[union-attr]
                                                              self.engine.instruments[line.symbol].price_scale)
            self._add_ladder(liquidation, line, now)
        for ladder in extended:
            ladder.state = LineState.WORKING
            self._tick(ladder.parent_id)
        self._start_ready_lines(liquidation)
        return True

    def _finish(self, liquidation: Liquidation, outcome: str, reason: str) -> None:
        if liquidation.status is LiquidationStatus.DONE:
            return
        for ladder in liquidation.lines.values():
            if not ladder.done:
                self._run_stop(liquidation, ladder, outcome)
        liquidation.status = LiquidationStatus.DONE
        liquidation.outcome = outcome
        liquidation.ts_finished = self.clock.now_ns()
        self._journal("liquidation.finished", {"liquidation_id": liquidation.liquidation_id,
                                                            "outcome": outcome, "reason": reason}, required=False)
        tracker = liquidation.tracker
        sold = tracker.sold_value if tracker is not None else Fraction(0)
        remaining = tracker.remaining() if tracker is not None else liquidation.plan.required_sale
        event = LiquidationFinished(self.clock.now_ns(), liquidation.plan.account, liquidation.liquidation_id,
                                    liquidation.plan.instruction_id, outcome, reason, money(sold), money(remaining))
        self.engine.publish(event)
        log.warning("liquidation_finished", liquidation_id=liquidation.liquidation_id, outcome=outcome, reason=reason,
                    sold_value=event.sold_value, remaining_shortfall=event.remaining_shortfall)

    def _run_stop(self, liquidation: Liquidation, ladder: LadderLine, reason: str) -> None:
        timer = self._line_timers.pop(ladder.parent_id, None)
        if timer is not None:
            timer.cancel()
        for action in ladder.stop(reason):
            if isinstance(action, CancelChild):
                self.engine.cancel_child(action.child_id)

    # --- engine events ------------------------------------------------------------------------------------------

    def on_order_update(self, order: Order, event: str, last_quantity: int, last_price: int | None) -> None:
        if not order.liquidation:
            self._on_account_order(order)
            return
        owner = self._lines.get(order.parent_id or "")
        if owner is None:
            return
        liquidation, ladder = owner
        child_id = order.order_id
        if event == "OrderAccepted":
            ladder.on_child_accepted(child_id)
        elif event == "OrderFilled" and last_price is not None:
            ladder.on_child_filled(child_id, last_quantity, last_price)
            self._on_fill(liquidation, ladder, last_quantity, last_price)
        elif event == "OrderReplaced":
            ladder.on_child_replaced(child_id)
        elif event == "OrderCancelRejected":
            ladder.on_child_cancel_rejected(child_id)
        elif event in ("OrderCanceled", "OrderExpired", "OrderRejected"):
            ladder.on_child_closed(child_id, refused=event == "OrderRejected")
            if ladder.state is LineState.WORKING and event != "OrderRejected" and liquidation.status is \
                    LiquidationStatus.RUNNING:
                self._tick(ladder.parent_id)  # a canceled rung (market <-> limit switch) is resent at once
        self._check_done(liquidation)

    def _on_fill(self, liquidation: Liquidation, ladder: LadderLine, quantity: int, price: int) -> None:
        tracker = liquidation.tracker
        if tracker is None:
            return
        instrument = ladder.instrument
        tracker.on_fill(ladder.symbol, quantity, Fraction(price, instrument.price_scale))
        ratio = tracker.ratio_now()
        self.engine.publish(LiquidationProgressed(
            self.clock.now_ns(), ladder.account, liquidation.liquidation_id, ladder.symbol, ladder.filled,
            ladder.quantity, quantity, instrument.format_price(price), money(tracker.sold_value),
            money(tracker.remaining()), None if ratio is None else f"{float(ratio):.4f}", ladder.rung))
        if liquidation.status is LiquidationStatus.RUNNING and tracker.met():
            self._finish(liquidation, "target_met", "the target is met")

    def _on_account_order(self, order: Order) -> None:
        """One of the account's own orders changed: a line waiting for its cancel may start now."""
        state = self.accounts.get(order.account)
        if state is None or state.liquidation is None or order.is_working:
            return
        liquidation = state.liquidation
        if liquidation.status is LiquidationStatus.RUNNING:
            self._start_ready_lines(liquidation)

    def on_trade(self, trade: TradePrint) -> None:
        lines = self._working_by_symbol.get(trade.symbol)
        if not lines:
            return
        for line_id, ladder in list(lines.items()):
            if ladder.done:
                del lines[line_id]
            else:
                ladder.on_trade(trade.ts_event, trade.quantity, trade.own)

    # --- views --------------------------------------------------------------------------------------------------

    def view(self, liquidation: Liquidation) -> dict[str, Any]:
        tracker = liquidation.tracker
        return {
            "liquidation_id": liquidation.liquidation_id,
            "account": liquidation.plan.account,
            "instruction_id": liquidation.plan.instruction_id,
            "status": liquidation.status.value,
            "outcome": liquidation.outcome,
            "required_sale": money(liquidation.plan.required_sale),
            "review_reasons": liquidation.plan.review_reasons,
            "lines": [{**_line_view(line), **({"filled_quantity": liquidation.lines[line.symbol].filled,
                                                "rung": liquidation.lines[line.symbol].rung,
                                                "state": liquidation.lines[line.symbol].state.value}
                                               if line.symbol in liquidation.lines else {})}
                      for line in liquidation.plan.lines],
            "skipped": [{"symbol": s.symbol, "position": s.position, "reason": s.reason}
                        for s in liquidation.plan.skipped],
            "sold_value": money(tracker.sold_value) if tracker else "0.00",
            "remaining_shortfall": money(tracker.remaining()) if tracker else money(liquidation.plan.required_sale),
        }


def _venue_priority(liquidation: Liquidation, ladder: LadderLine) -> tuple[int, Fraction, int]:
    """Who gets the next venue slot: a line that has not started yet, then a line's next child, then a reprice; within
    each, the most underwater account, then the earliest instruction. So a burst starts every account, most
    underwater first, before any running line takes a second slot."""
    stage = 0 if ladder.child_sequence == 0 else 1 if ladder.child is None else 2
    return (stage, *liquidation.priority)


def _line_view(line: PlanLine) -> dict[str, object]:
    return {"symbol": line.symbol, "side": line.side, "quantity": line.quantity, "position": line.position,
            "reference_price": line.reference_price_text, "value": money(line.value),
            "expected_impact_bps": line.expected_impact_bps, "expected_cost": line.expected_cost,
            "expected_duration_s": line.expected_duration_s, "liquidate_last": line.liquidate_last}


def _line_record(line: PlanLine) -> list[Any]:
    return [line.symbol, line.side, line.quantity, line.position, line.reference_price, line.reference_price_text,
            str(line.value), line.expected_impact_bps, line.expected_cost, line.expected_duration_s,
            line.liquidate_last]


def _plan_record(liquidation: Liquidation, held: bool) -> dict[str, Any]:
    plan = liquidation.plan
    return {"liquidation_id": liquidation.liquidation_id, "instruction_id": plan.instruction_id,
            "account": plan.account, "target_kind": plan.target_kind.value, "required_sale": str(plan.required_sale),
            "cost_rate": str(plan.cost_rate), "shortfall": str(plan.shortfall), "held": held,
            "lines": [_line_record(line) for line in plan.lines],
            "skipped": [[s.symbol, s.position, s.reason] for s in plan.skipped],
            "review_reasons": list(plan.review_reasons), "priority": [str(liquidation.priority[0]),
                                                                      liquidation.priority[1]]}


def _instruction_record(instruction: Instruction) -> dict[str, Any]:
    target = instruction.target
    return {
        "instruction_id": instruction.instruction_id, "account": instruction.account, "tier": instruction.tier.value,
        "reason": instruction.reason, "deadline_ns": instruction.deadline_ns, "principal": instruction.principal,
        "ts_received": instruction.ts_received, "positions": instruction.positions,
        "symbol_order": list(instruction.symbol_order),
        "haircuts": {k: str(v) for k, v in instruction.haircuts.items()},
        "target": None if target is None else {
            "kind": target.kind.value, "notional": str(target.notional), "quantities": target.quantities,
            "assets": str(target.assets), "loan": str(target.loan), "target_ratio": str(target.target_ratio),
            "cost_rate": None if target.cost_rate is None else str(target.cost_rate)},
    }


__all__ = ["Liquidation", "LiquidationManager", "LiquidationStatus", "TargetKind"]
