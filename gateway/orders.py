"""The order state machine on FIX semantics, and the store that indexes orders by every id they are known by.

``apply_report`` is the only way an order's status changes after it was sent. A transition the table does not allow
is refused and logged, never applied; a fill whose execution id was already seen is ignored; quantities never go
negative and the filled quantity never exceeds the order quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from gateway.model import TERMINAL_STATUSES, ExecType, ExecutionReport, Order, OrderStatus

log = structlog.get_logger(__name__)

S = OrderStatus
_OPEN = frozenset({S.PENDING_NEW, S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE})
_ACKED_OPEN = frozenset({S.NEW, S.PARTIALLY_FILLED, S.PENDING_CANCEL, S.PENDING_REPLACE})

# exec type -> statuses it may arrive in. Fills may precede the venue's ack (an IOC can fill before its ack reaches us).
ALLOWED_FROM: dict[ExecType, frozenset[OrderStatus]] = {
    ExecType.PENDING_NEW: frozenset({S.PENDING_NEW}),
    # the venue's ack may cross our cancel or replace request on the wire
    ExecType.NEW: frozenset({S.PENDING_NEW, S.PENDING_CANCEL, S.PENDING_REPLACE}),
    ExecType.TRADE: _OPEN,
    ExecType.PENDING_CANCEL: _OPEN,
    ExecType.PENDING_REPLACE: _OPEN,
    ExecType.CANCELED: _OPEN,
    ExecType.REPLACED: frozenset({S.PENDING_REPLACE}),
    ExecType.REJECTED: frozenset({S.PENDING_NEW}),
    ExecType.EXPIRED: _OPEN,
    ExecType.TRIGGERED: _ACKED_OPEN | {S.PENDING_NEW},
    # "too late to cancel": the order may have filled (or been canceled) while the request was on its way
    ExecType.CANCEL_REJECTED: frozenset({S.PENDING_CANCEL, S.PENDING_REPLACE}) | TERMINAL_STATUSES,
    ExecType.TRADE_CORRECT: frozenset(OrderStatus),
    ExecType.TRADE_CANCEL: frozenset(OrderStatus),
    ExecType.RESTATED: _OPEN,
    ExecType.ORDER_STATUS: frozenset(OrderStatus),
}

EVENT_NAME: dict[ExecType, str] = {
    ExecType.PENDING_NEW: "OrderPendingNew",
    ExecType.NEW: "OrderAccepted",
    ExecType.TRADE: "OrderFilled",
    ExecType.PENDING_CANCEL: "OrderPendingCancel",
    ExecType.PENDING_REPLACE: "OrderPendingReplace",
    ExecType.CANCELED: "OrderCanceled",
    ExecType.REPLACED: "OrderReplaced",
    ExecType.REJECTED: "OrderRejected",
    ExecType.EXPIRED: "OrderExpired",
    ExecType.TRIGGERED: "OrderTriggered",
    ExecType.CANCEL_REJECTED: "OrderCancelRejected",
    ExecType.TRADE_CORRECT: "OrderFillCorrected",
    ExecType.TRADE_CANCEL: "OrderFillBusted",
    ExecType.RESTATED: "OrderRestated",
    ExecType.ORDER_STATUS: "OrderStatusReported",
}


@dataclass(slots=True)
class FillRecord:
    order_id: str
    quantity: int
    price: int


@dataclass(slots=True)
class Transition:
    """What a report did to an order: the event to publish and the position change it implies."""

    event: str
    fill_quantity: int = 0  # a fill to apply to the position
    fill_price: int = 0
    reversed_quantity: int = 0  # an earlier fill to take back out (bust, or the old side of a correction)
    reversed_price: int = 0


def _working_status(order: Order) -> OrderStatus:
    if order.filled_quantity >= order.quantity:
        return S.FILLED
    return S.PARTIALLY_FILLED if order.filled_quantity else S.NEW


class OrderStore:
    """Every order by gateway id and by each ClOrdID it was sent under; fills by execution id."""

    def __init__(self) -> None:
        self.by_id: dict[str, Order] = {}
        self.by_venue_id: dict[str, Order] = {}
        self.client_ids: dict[str, set[str]] = {}  # account -> client order ids seen today
        self.open_by_account: dict[str, dict[str, Order]] = {}  # account -> its working orders, by id
        self.fills: dict[tuple[str, str], FillRecord] = {}  # (venue, exec_id) -> fill

    def add(self, order: Order) -> None:
        self.by_id[order.order_id] = order
        self.by_venue_id[order.venue_client_order_id] = order
        # get-then-create rather than setdefault, which would build a new set and dict for every order (hot path)
        client_ids = self.client_ids.get(order.account)
        if client_ids is None:
            client_ids = self.client_ids[order.account] = set()
        client_ids.add(order.client_order_id)
        if order.is_working:
            working = self.open_by_account.get(order.account)
            if working is None:
                working = self.open_by_account[order.account] = {}
            working[order.order_id] = order

    def has_client_order_id(self, account: str, client_order_id: str) -> bool:
        seen = self.client_ids.get(account)
        return seen is not None and client_order_id in seen

    def open_orders(self, account: str | None = None) -> list[Order]:
        if account is not None:
            return list(self.open_by_account.get(account, {}).values())
        return [order for orders in self.open_by_account.values() for order in orders.values()]

    def open_count(self, account: str) -> int:
        orders = self.open_by_account.get(account)
        return len(orders) if orders is not None else 0

    def mark_pending(self, order: Order, pending_client_order_id: str, status: OrderStatus) -> None:
        order.pending_client_order_id = pending_client_order_id
        order.status_before_pending = order.status
        order.status = status
        self.by_venue_id[pending_client_order_id] = order

    def find(self, report: ExecutionReport) -> Order | None:
        order = self.by_venue_id.get(report.client_order_id)
        if order is None and report.orig_client_order_id:
            order = self.by_venue_id.get(report.orig_client_order_id)
        return order

    def apply_report(self, order: Order, report: ExecutionReport) -> Transition | None:
        """Move ``order`` by ``report``; None when the report is refused or a duplicate (nothing changed)."""
        exec_type = report.exec_type
        allowed = ALLOWED_FROM[exec_type]
        if order.status not in allowed:
            log.warning(
                "order_transition_refused",
                order_id=order.order_id,
                status=order.status.value,
                exec_type=exec_type.value,
                exec_id=report.exec_id,
            )
            return None
        was_open = order.is_working
        transition = self._apply(order, report)
        if transition is not None:
            order.ts_updated = report.ts_event
            if was_open and not order.is_working:
                self.open_by_account[order.account].pop(order.order_id, None)
        return transition

    def _apply(self, order: Order, report: ExecutionReport) -> Transition | None:
        exec_type = report.exec_type
        name = EVENT_NAME[exec_type]
        if exec_type is ExecType.TRADE:
            return self._apply_fill(order, report, name)
        if exec_type is ExecType.NEW:
            order.venue_order_id = report.venue_order_id
            if order.status is S.PENDING_NEW:
                order.status = S.NEW
        elif exec_type is ExecType.PENDING_NEW or exec_type is ExecType.TRIGGERED:
            pass
        elif exec_type is ExecType.PENDING_CANCEL:
            order.status = S.PENDING_CANCEL
        elif exec_type is ExecType.PENDING_REPLACE:
            order.status = S.PENDING_REPLACE
        elif exec_type is ExecType.CANCELED or exec_type is ExecType.EXPIRED:
            order.status = S.CANCELED if exec_type is ExecType.CANCELED else S.EXPIRED
            order.pending_client_order_id = None
        elif exec_type is ExecType.REJECTED:
            order.status = S.REJECTED
            order.reject_reason = report.reject_reason
        elif exec_type is ExecType.REPLACED:
            self._apply_replaced(order, report)
        elif exec_type is ExecType.CANCEL_REJECTED:
            order.pending_client_order_id = None
            order.pending_quantity = None
            order.pending_limit_price = None
            if not order.status.is_terminal:
                order.status = _working_status(order)
            order.reject_reason = report.reject_reason
        elif exec_type is ExecType.TRADE_CANCEL or exec_type is ExecType.TRADE_CORRECT:
            return self._apply_correction(order, report, name)
        else:  # RESTATED / ORDER_STATUS: reconciliation looks at these; the status itself moves by other reports
            return Transition(name)
        return Transition(name)

    def _apply_fill(self, order: Order, report: ExecutionReport, name: str) -> Transition | None:
        key = (report.venue, report.exec_id or "")
        if report.exec_id is None or key in self.fills:
            log.info("fill_duplicate_ignored", order_id=order.order_id, exec_id=report.exec_id)
            return None
        quantity = report.last_quantity
        if quantity <= 0 or order.filled_quantity + quantity > order.quantity:
            log.warning(
                "fill_refused_overfill",
                order_id=order.order_id,
                exec_id=report.exec_id,
                last_quantity=quantity,
                filled_quantity=order.filled_quantity,
                quantity=order.quantity,
            )
            return None
        self.fills[key] = FillRecord(order.order_id, quantity, report.last_price)
        order.filled_quantity += quantity
        order.filled_cost += quantity * report.last_price
        if order.filled_quantity == order.quantity:
            order.status = S.FILLED
            order.pending_client_order_id = None
        elif order.status is not S.PENDING_CANCEL and order.status is not S.PENDING_REPLACE:
            order.status = S.PARTIALLY_FILLED
        return Transition(name, quantity, report.last_price)

    def _apply_replaced(self, order: Order, report: ExecutionReport) -> None:
        new_quantity = order.pending_quantity if order.pending_quantity is not None else order.quantity
        order.quantity = max(new_quantity, order.filled_quantity)
        if order.pending_limit_price is not None:
            order.limit_price = order.pending_limit_price
        order.venue_client_order_id = report.client_order_id
        order.pending_client_order_id = None
        order.pending_quantity = None
        order.pending_limit_price = None
        order.status = _working_status(order)

    def _apply_correction(self, order: Order, report: ExecutionReport, name: str) -> Transition | None:
        key = (report.venue, report.ref_exec_id or "")
        original = self.fills.get(key)
        if original is None or original.order_id != order.order_id:
            log.warning("fill_correction_unknown_exec", order_id=order.order_id, ref_exec_id=report.ref_exec_id)
            return None
        if report.exec_type is ExecType.TRADE_CANCEL:
            new_quantity, new_price = 0, original.price
        else:
            new_quantity, new_price = report.last_quantity, report.last_price
        quantity_delta = new_quantity - original.quantity
        if order.filled_quantity + quantity_delta > order.quantity or new_quantity < 0:
            log.warning("fill_correction_refused", order_id=order.order_id, ref_exec_id=report.ref_exec_id)
            return None
        transition = Transition(name, new_quantity, new_price, original.quantity, original.price)
        order.filled_quantity += quantity_delta
        order.filled_cost += new_quantity * new_price - original.quantity * original.price
        original.quantity, original.price = new_quantity, new_price
        if not order.status.is_terminal:  # a done order stays done at the venue: a bust does not reopen it
            order.status = _working_status(order)
        return transition
