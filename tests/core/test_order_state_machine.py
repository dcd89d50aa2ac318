"""The order state machine: allowed transitions apply, impossible ones are refused and change nothing."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import ExecType, ExecutionReport, Order, OrderStatus, OrderType, Side, TimeInForce
from gateway.orders import ALLOWED_FROM, OrderStore


def new_order(quantity: int = 100) -> Order:
    return Order("U1", "c1", "ACC", "alice", "ACME", Side.BUY, OrderType.LIMIT, TimeInForce.DAY, quantity, 10_000,
                 None, None, "SIM", 0, venue_client_order_id="U1")


def report(exec_type: ExecType, quantity: int = 0, price: int = 10_000, exec_id: str | None = None,
           client_order_id: str = "U1", ref_exec_id: str | None = None) -> ExecutionReport:
    return ExecutionReport("SIM", exec_type, client_order_id, exec_id=exec_id, last_quantity=quantity,
                           last_price=price, ref_exec_id=ref_exec_id)


def test_a_normal_life_new_partial_fill() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    assert store.apply_report(order, report(ExecType.NEW)).event == "OrderAccepted"
    assert order.status is OrderStatus.NEW
    assert store.apply_report(order, report(ExecType.TRADE, 40, 10_001, "e1")).fill_quantity == 40
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.leaves_quantity == 60
    store.apply_report(order, report(ExecType.TRADE, 60, 10_000, "e2"))
    assert order.status is OrderStatus.FILLED and order.filled_quantity == 100
    assert order.filled_cost == 40 * 10_001 + 60 * 10_000
    assert store.open_count("ACC") == 0


@pytest.mark.parametrize(
    ("status", "exec_type"),
    [
        (OrderStatus.FILLED, ExecType.TRADE),
        (OrderStatus.FILLED, ExecType.CANCELED),
        (OrderStatus.CANCELED, ExecType.NEW),
        (OrderStatus.REJECTED, ExecType.TRADE),
        (OrderStatus.NEW, ExecType.REJECTED),
        (OrderStatus.NEW, ExecType.REPLACED),
        (OrderStatus.EXPIRED, ExecType.NEW),
        (OrderStatus.PARTIALLY_FILLED, ExecType.NEW),
    ],
)
def test_an_impossible_transition_is_refused_and_changes_nothing(status: OrderStatus, exec_type: ExecType) -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    order.status = status
    before = dataclasses.replace(order)
    assert store.apply_report(order, report(exec_type, 10, exec_id="x1")) is None
    assert order == before


def test_a_fill_with_a_seen_execution_id_is_ignored() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    store.apply_report(order, report(ExecType.NEW))
    assert store.apply_report(order, report(ExecType.TRADE, 30, exec_id="e1")) is not None
    assert store.apply_report(order, report(ExecType.TRADE, 30, exec_id="e1")) is None
    assert order.filled_quantity == 30


def test_an_overfill_is_refused() -> None:
    store = OrderStore()
    order = new_order(50)
    store.add(order)
    store.apply_report(order, report(ExecType.NEW))
    assert store.apply_report(order, report(ExecType.TRADE, 60, exec_id="e1")) is None
    assert order.filled_quantity == 0 and order.status is OrderStatus.NEW


def test_cancel_reject_restores_the_working_status() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    store.apply_report(order, report(ExecType.NEW))
    store.apply_report(order, report(ExecType.TRADE, 10, exec_id="e1"))
    store.mark_pending(order, "U1.C1", OrderStatus.PENDING_CANCEL)
    store.apply_report(order, report(ExecType.CANCEL_REJECTED, client_order_id="U1.C1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED


def test_an_ack_crossing_our_cancel_and_a_late_cancel_reject_are_accepted() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    store.mark_pending(order, "U1.C1", OrderStatus.PENDING_CANCEL)  # cancel sent before the venue's ack arrived
    assert store.apply_report(order, report(ExecType.NEW)) is not None
    assert order.status is OrderStatus.PENDING_CANCEL
    store.apply_report(order, report(ExecType.TRADE, 100, exec_id="e1"))  # it filled before the cancel got there
    assert order.status is OrderStatus.FILLED
    assert store.apply_report(order, report(ExecType.CANCEL_REJECTED, client_order_id="U1.C1")) is not None
    assert order.status is OrderStatus.FILLED and order.pending_client_order_id is None


def test_replace_applies_the_new_quantity_and_price_and_the_new_clordid() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    store.apply_report(order, report(ExecType.NEW))
    order.pending_quantity, order.pending_limit_price = 200, 10_050
    store.mark_pending(order, "U1.R1", OrderStatus.PENDING_REPLACE)
    store.apply_report(order, report(ExecType.TRADE, 20, exec_id="e1"))  # a fill while the replace is in flight
    assert order.status is OrderStatus.PENDING_REPLACE
    store.apply_report(order, report(ExecType.REPLACED, client_order_id="U1.R1"))
    assert (order.quantity, order.limit_price, order.venue_client_order_id) == (200, 10_050, "U1.R1")
    assert order.status is OrderStatus.PARTIALLY_FILLED and order.leaves_quantity == 180


def test_a_bust_takes_the_fill_back_and_a_correction_changes_it() -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    store.apply_report(order, report(ExecType.NEW))
    store.apply_report(order, report(ExecType.TRADE, 30, 10_000, "e1"))
    corrected = store.apply_report(order, report(ExecType.TRADE_CORRECT, 25, 10_010, "e2", ref_exec_id="e1"))
    assert (corrected.reversed_quantity, corrected.fill_quantity) == (30, 25)
    assert order.filled_quantity == 25 and order.filled_cost == 25 * 10_010
    busted = store.apply_report(order, report(ExecType.TRADE_CANCEL, exec_id="e3", ref_exec_id="e1"))
    assert busted.reversed_quantity == 25 and order.filled_quantity == 0
    assert order.status is OrderStatus.NEW


EXEC_TYPES = list(ExecType)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(EXEC_TYPES), st.sampled_from([0, 10, 25, 50, 75, 100, 120]), st.integers(0, 5)), max_size=30))
def test_no_sequence_of_reports_breaks_the_invariants(steps: list[tuple[ExecType, int, int]]) -> None:
    store = OrderStore()
    order = new_order()
    store.add(order)
    corrected = False  # a bust of a done order leaves it done with less filled: the venue will not reopen it
    for exec_type, quantity, exec_number in steps:
        status_before = order.status
        result = store.apply_report(order, report(exec_type, quantity, exec_id=f"e{exec_number}",
                                                  ref_exec_id=f"e{exec_number}"))
        if status_before not in ALLOWED_FROM[exec_type]:
            assert result is None and order.status is status_before
        corrected |= result is not None and exec_type in (ExecType.TRADE_CANCEL, ExecType.TRADE_CORRECT)
        assert 0 <= order.filled_quantity <= order.quantity
        assert order.leaves_quantity >= 0
        if order.status is OrderStatus.FILLED and not corrected:
            assert order.filled_quantity == order.quantity
        assert store.open_count("ACC") == (1 if order.is_working else 0)
