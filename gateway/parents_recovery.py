"""Make parent orders survive a crash: rebuild each parent and its algorithm from the journal's ``parent.*`` records,
then adopt the children the engine rebuilt and re-arm every unfinished parent's schedule from the clock.

The manager journals before it acts (``ParentOrderManager.recorder``): the submission (quantity after cash
conversion, arrival price, and the start and end times as resolved then), pause, resume, amend (the validated terms),
cancel and finish. Replay rebuilds parents and algorithms from these records without sending, publishing or arming
anything. ``resume`` then takes each parent's children from ``engine.orders``: their fills are the parent's fills, the
working ones are its algorithm's children again, and child numbers continue past the highest used (the engine refuses
a ClOrdID used before). Unfinished parents wait (status ACCEPTED: quotes and prints do not make them trade) until
reconciliation has applied what happened while the gateway was down: on ``RecoveryCompleted`` each gets its first
tick, or after ``fallback_delay_ns`` if no reconciliation reports (a replay that is never reconciled). From that tick
a TWAP works what is left over the time that is left; a parent whose end passed while down follows its end behaviour.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import structlog

from algos import create_algorithm
from algos.base import AlgoState, Amendment, Child, ChildPurpose, FinishReason
from gateway.clock import NANOS_PER_SECOND, SimClock, TimerHandle
from gateway.config import Principal, Role
from gateway.model import Order, OrderStatus, RefusalError, Side, TimeInForce
from gateway.parents import ParentOrder, ParentOrderManager
from gateway.tca.live import LiveShortfall

log = structlog.get_logger(__name__)

# longer than reconciliation may take (venues connect, then 10 s for their answers): schedules wait for it
FALLBACK_DELAY_NS = 15 * NANOS_PER_SECOND
_LISTENER = Principal("parent-recovery", Role.RISK, "")  # internal: sees RecoveryCompleted, which goes to all-seers
_ACKNOWLEDGED = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class ParentRecovery:
    """The journal's Recoverable for the ``parent.`` prefix; also the manager's recorder of those records."""

    def __init__(self, manager: ParentOrderManager, engine: Any, fallback_delay_ns: int = FALLBACK_DELAY_NS) -> None:
        self.manager = manager
        self.engine = engine
        self.fallback_delay_ns = fallback_delay_ns
        self.records: list[list[Any]] = []  # every parent record of the day, in journal order: the snapshot state
        self._rebuilt: dict[str, ParentOrder] = {}  # replayed, waiting for resume()
        self._waiting: list[ParentOrder] = []  # resumed, waiting for reconciliation before their first tick
        self._subscription: Any = None
        self._start: TimerHandle | None = None
        manager.recorder = self.record

    def record(self, kind: str, payload: dict[str, Any], required: bool = True) -> None:
        """Journal one record; raises RefusalError (JOURNAL_UNAVAILABLE) when ``required`` and the journal is down."""
        self.engine.journal_record(kind, payload, required)
        self.records.append([kind, payload])

    # --- Recoverable --------------------------------------------------------------------------------------------

    def replay(self, kind: str, payload: Any) -> None:
        self.records.append([kind, payload])
        if kind == "parent.submitted":
            self._rebuild(payload)
            return
        parent = self._rebuilt.get(payload["parent_id"])
        if parent is None:
            log.error("parent_record_for_unknown_parent", kind=kind, parent_id=payload["parent_id"])
            return
        algorithm = parent.algorithm
        if algorithm.state is AlgoState.DONE:
            return  # a finished parent stays finished
        if kind == "parent.paused":
            algorithm.state = AlgoState.PAUSED
        elif kind == "parent.resumed":
            if algorithm.state is AlgoState.PAUSED:
                algorithm.state = AlgoState.PENDING  # its first tick after the restart starts it again
        elif kind == "parent.amended":
            algorithm.take_terms(Amendment(payload["quantity"], payload["limit_price"], payload["limit_price_set"],
                                           payload["end_ns"], payload["participation"]))
            if parent.tca is not None:
                parent.tca.quantity = algorithm.quantity
        elif kind == "parent.canceled":
            if algorithm.state is not AlgoState.STOPPING:
                algorithm.state = AlgoState.STOPPING
                algorithm.stop_reason = FinishReason(payload["reason"])
        elif kind == "parent.finished":
            reason = FinishReason(payload["reason"])
            algorithm.state = AlgoState.DONE
            algorithm.stop_reason = reason
            parent.finish_reason = reason
            parent.ts_finished = payload["ts"]
        else:
            log.error("parent_record_unknown", kind=kind)

    def snapshot_state(self) -> Any:
        return self.records

    def restore_state(self, state: Any) -> None:
        for kind, payload in state:
            self.replay(kind, payload)

    def resume(self) -> None:
        """Adopt each rebuilt parent's children from ``engine.orders``, continue the ids, and wait for reconciliation
        (at most ``fallback_delay_ns``) before the first ticks."""
        manager, store = self.manager, self.engine.orders
        children: dict[str, list[Order]] = {}
        for order in store.by_id.values():
            if order.parent_id and not order.liquidation:
                children.setdefault(order.parent_id, []).append(order)
        fills_per_order = Counter(fill.order_id for fill in store.fills.values())
        pattern = re.compile(rf"^{re.escape(manager.id_prefix)}(\d+)$")
        for parent_id in (*self._rebuilt, *children):
            match = pattern.match(parent_id)
            if match:
                manager.parent_sequence = max(manager.parent_sequence, int(match.group(1)))
        for parent in self._rebuilt.values():
            self._adopt(parent, children.get(parent.parent_id, []), fills_per_order)
            manager.add_parent(parent)
            if parent.is_working:
                self._waiting.append(parent)
                log.warning("parent_resumed", parent_id=parent.parent_id, status=parent.status.value,
                            filled=parent.filled_quantity, quantity=parent.quantity,
                            working_children=len(parent.algorithm.children),
                            child_sequence=parent.algorithm.child_sequence)
        log.info("parents_recovered", parents=len(self._rebuilt), working=len(self._waiting),
                 parent_sequence=manager.parent_sequence)
        self._rebuilt.clear()
        if self._waiting:
            self._subscription = self.engine.subscribe(_LISTENER, self._on_event)
            self._start = manager.timers.call_later(self.fallback_delay_ns, self._start_schedules)

    def _on_event(self, event: Any) -> None:
        if getattr(event, "event", None) == "RecoveryCompleted" and self._waiting:
            self._arm_first_ticks()  # the venues have spoken: first ticks now (timers, nothing sent from in here)
            self.manager.timers.call_later(0, self._unsubscribe)  # not while the engine iterates its subscribers

    def _start_schedules(self) -> None:
        """No reconciliation reported in time: start anyway."""
        self._arm_first_ticks()
        self._unsubscribe()

    def _arm_first_ticks(self) -> None:
        if self._start is not None:
            self._start.cancel()
            self._start = None
        now = self.manager.clock.now_ns()
        for parent in self._waiting:
            if parent.is_working:
                self.manager._arm(parent, now)
        self._waiting.clear()

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self.engine.unsubscribe(self._subscription)
            self._subscription = None

    # --- rebuilding -----------------------------------------------------------------------------------------------

    def _rebuild(self, record: dict[str, Any]) -> None:
        manager = self.manager
        parent_id, symbol = record["parent_id"], record["symbol"]
        instrument = manager.instruments.get(symbol)
        if instrument is None:
            log.error("parent_not_rebuilt", parent_id=parent_id, reason=f"symbol {symbol!r} is no longer configured")
            return
        side = Side(record["side"])
        quantity = record["quantity"]
        start_ns, end_ns = record["start_ns"], record["end_ns"]
        try:
            # built as it was: "now" is its resolved start, so a duration or a start in the past resolves the same
            algorithm = create_algorithm(record["algo"], parent_id=parent_id, instrument=instrument, side=side,
                                         quantity=quantity, params=record["params"], clock=SimClock(start_ns),
                                         curves=manager.curves, tape=manager._tape(symbol))
            tca = LiveShortfall.start(side, quantity, record["arrival_price"], instrument.price_precision)
        except RefusalError as error:  # the configuration changed under it (a curve, a price limit)
            log.error("parent_not_rebuilt", parent_id=parent_id, reason=error.refusal.message)
            return
        algorithm.clock = manager.clock
        algorithm.common.start_ns, algorithm.common.end_ns = start_ns, end_ns  # the journal's word is final
        algorithm.base_ns = start_ns
        self._rebuilt[parent_id] = ParentOrder(
            parent_id=parent_id, client_order_id=record["client_order_id"], account=record["account"],
            principal=record["principal"], symbol=symbol, side=side, algo=algorithm.name, params=record["params"],
            instrument=instrument, algorithm=algorithm, arrival_price=record["arrival_price"],
            ts_created=record["ts_created"], cash_amount=record["cash_amount"], tca=tca,
        )

    def _adopt(self, parent: ParentOrder, orders: list[Order], fills_per_order: Counter[str]) -> None:
        """Give the parent its children's fills and its working children back; its child numbers continue after."""
        algorithm = parent.algorithm
        orders.sort(key=lambda order: _child_number(order.order_id))
        i_would_price = algorithm.common.i_would_price
        filled = cost = i_would_used = fills = 0
        working: list[Child] = []
        for order in orders:
            filled += order.filled_quantity
            cost += order.filled_cost
            fills += fills_per_order[order.order_id]
            parent.child_fills[order.order_id] = (order.filled_quantity, order.filled_cost)
            # the purpose was not journaled: an IOC at the I-would price was the I-would, other IOCs crossed
            purpose = ChildPurpose.SCHEDULE
            if order.time_in_force is TimeInForce.IOC or order.time_in_force is TimeInForce.FOK:
                purpose = ChildPurpose.CATCH_UP
                if i_would_price is not None and order.limit_price == i_would_price:
                    purpose = ChildPurpose.I_WOULD
                    i_would_used += order.filled_quantity + order.leaves_quantity
            if algorithm.state is AlgoState.DONE:
                continue
            self.manager.follow_child(parent, order.order_id)  # late corrections of done children count too
            if order.is_working:
                working.append(_child_of(order, purpose))
        sequence = max((_child_number(order.order_id) for order in orders), default=0)
        algorithm.restore(working, filled, cost, sequence, i_would_used)
        if parent.tca is not None:
            parent.tca.filled_quantity, parent.tca.filled_cost, parent.tca.fills = filled, cost, fills


def _child_number(child_id: str) -> int:
    _, _, number = child_id.rpartition("-E")
    return int(number) if number.isdigit() else 0


def _child_of(order: Order, purpose: ChildPurpose) -> Child:
    """The algorithm's view of a working child, from the engine's order."""
    replacing = order.status is OrderStatus.PENDING_REPLACE
    return Child(
        child_id=order.order_id, purpose=purpose, order_type=order.order_type, time_in_force=order.time_in_force,
        quantity=order.quantity, limit_price=order.limit_price, priced_ns=order.ts_updated or order.ts_created,
        filled=order.filled_quantity,
        accepted=order.status in _ACKNOWLEDGED or order.status_before_pending in _ACKNOWLEDGED,
        cancel_pending=order.status is OrderStatus.PENDING_CANCEL, replace_pending=replacing,
        pending_quantity=order.pending_quantity if replacing else None,
        pending_limit_price=order.pending_limit_price if replacing else None,
    )
