"""The ParentOrderManager against a scripted port: refusals before any child, cash orders, re-entrant venues, one timer
structure, controls, the kill switch and a failing algorithm."""

from __future__ import annotations

from typing import Any

import pytest

from algos.base import FinishReason
from gateway.clock import NANOS_PER_SECOND as S
from gateway.clock import SimClock, TimerQueue
from gateway.model import (
    ErrorCode,
    Instrument,
    KillScope,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Refusal,
    RefusalError,
    SetKillSwitch,
    Side,
    SubmitParent,
    TimeInForce,
)
from gateway.parents import ParentOrder, ParentOrderManager, ParentStatus

T0 = 1_795_000_000 * S
ACME = Instrument("ACME", tick_size=1, lot_size=100, price_precision=2, reference_price=10_000, limit_down=9_000,
                  limit_up=11_000, average_daily_volume=4_000_000)


class ScriptedPort:
    """Records every call; with ``fill_at_once`` it answers a send inside the call (accepted, then filled in full)."""

    def __init__(self, manager_box: list[ParentOrderManager], quote: Quote | None) -> None:
        self.box = manager_box
        self.quote = quote
        self.orders: dict[str, Order] = {}
        self.sent: list[tuple[str, int, int | None, TimeInForce]] = []
        self.canceled: list[str] = []
        self.events: list[Any] = []
        self.fill_at_once = False
        self.refuse: Refusal | None = None

    def send_child(self, parent: ParentOrder, child_id: str, side: Side, order_type: OrderType, quantity: int,
                   limit_price: int | None, time_in_force: TimeInForce) -> Refusal | None:
        if self.refuse is not None:
            return self.refuse
        self.sent.append((child_id, quantity, limit_price, time_in_force))
        order = Order(child_id, child_id, parent.account, parent.principal, parent.symbol, side, order_type,
                      time_in_force, quantity, limit_price, None, None, "SIM", 0, parent.parent_id,
                      venue_client_order_id=child_id)
        self.orders[child_id] = order
        if self.fill_at_once:
            manager = self.box[0]
            order.status = OrderStatus.NEW
            manager.on_child_update(order, "OrderAccepted", 0, None)
            price = limit_price or 10_000
            order.filled_quantity, order.filled_cost, order.status = quantity, quantity * price, OrderStatus.FILLED
            manager.on_child_update(order, "OrderFilled", quantity, price)
        return None

    def cancel_child(self, child_id: str) -> Refusal | None:
        self.canceled.append(child_id)
        return None

    def replace_child(self, child_id: str, quantity: int, limit_price: int | None) -> Refusal | None:
        return None

    def publish(self, event: object) -> None:
        self.events.append(event)

    def last_quote(self, symbol: str) -> Quote | None:
        return self.quote

    def ack(self, child_id: str, status: OrderStatus, event: str) -> None:
        order = self.orders[child_id]
        order.status = status
        self.box[0].on_child_update(order, event, 0, None)

    def fill(self, child_id: str, quantity: int, price: int) -> None:
        order = self.orders[child_id]
        order.filled_quantity += quantity
        order.filled_cost += quantity * price
        order.status = OrderStatus.FILLED if order.filled_quantity == order.quantity else OrderStatus.PARTIALLY_FILLED
        self.box[0].on_child_update(order, "OrderFilled", quantity, price)

    def named(self, name: str) -> list[Any]:
        return [e for e in self.events if e.event == name]


TOUCH = Quote("SIM", "ACME", 9_999, 500, 10_001, 500, 0)


def build(quote: Quote | None = TOUCH) -> tuple[ParentOrderManager, ScriptedPort, TimerQueue, SimClock]:
    clock = SimClock(T0)
    timers = TimerQueue(clock)
    box: list[ParentOrderManager] = []
    port = ScriptedPort(box, quote)
    manager = ParentOrderManager(port, timers, {"ACME": ACME})
    box.append(manager)
    return manager, port, timers, clock


def twap(quantity: int | None = 10_000, params: dict[str, Any] | None = None, client_order_id: str = "c1",
         account: str = "ACC1", cash: int | None = None) -> SubmitParent:
    return SubmitParent(account, "ACME", Side.BUY, quantity, "TWAP", params or {"duration_s": 600, "slices": 10},
                        client_order_id, cash)


@pytest.mark.parametrize(
    ("command", "code", "field"),
    [
        (twap(params={"duration_s": 600, "slices": 10, "limit_price": "abc"}), ErrorCode.VALIDATION_PARAMETER,
         "limit_price"),
        (SubmitParent("ACC1", "NOPE", Side.BUY, 100, "TWAP", {"duration_s": 60}, "c1"),
         ErrorCode.VALIDATION_UNKNOWN_SYMBOL, "symbol"),
        (twap(quantity=150), ErrorCode.VALIDATION_LOT_SIZE, "quantity"),
        (twap(quantity=0), ErrorCode.VALIDATION_QUANTITY, "quantity"),
        (twap(quantity=None), ErrorCode.VALIDATION_QUANTITY, "quantity"),
        (twap(quantity=1_000, cash=100_000), ErrorCode.VALIDATION_FIELD, "cash_amount"),
        (twap(quantity=None, cash=50), ErrorCode.VALIDATION_QUANTITY, "cash_amount"),
    ],
)
def test_a_bad_submit_is_refused_before_any_child_and_changes_nothing(command: SubmitParent, code: ErrorCode,
                                                                       field: str) -> None:
    manager, port, timers, _ = build()
    with pytest.raises(RefusalError) as caught:
        manager.submit(command, "alice")
    assert (caught.value.refusal.code, caught.value.refusal.field) == (code, field)
    assert port.sent == [] and port.events == [] and len(timers) == 0 and manager.active_count == 0
    assert manager.submit(twap(), "alice").parent_id == "P1"  # the refused one took no id


def test_a_duplicate_client_order_id_is_refused() -> None:
    manager, _, _, _ = build()
    manager.submit(twap(), "alice")
    with pytest.raises(RefusalError) as caught:
        manager.submit(twap(), "alice")
    assert caught.value.refusal.code is ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID
    assert manager.submit(twap(account="ACC2"), "bob").parent_id == "P2"  # another account may reuse it


def test_cash_becomes_shares_at_the_arrival_mid_rounded_down_to_the_lot() -> None:
    manager, port, _, _ = build(Quote("SIM", "ACME", 9_996, 500, 9_998, 500, 0))  # mid 99.97
    parent = manager.submit(twap(quantity=None, cash=1_000_000), "alice")
    assert parent.quantity == 10_000  # 1,000,000 / 99.97 = 10003.0 -> 10000
    assert parent.arrival_price == 9_997
    accepted = port.named("ParentAccepted")[0]
    assert (accepted.quantity, accepted.cash_amount, accepted.arrival_price) == (10_000, 1_000_000, "99.97")


def test_a_venue_answering_inside_send_is_handled_after_the_decision_in_order() -> None:
    manager, port, timers, _ = build()
    port.fill_at_once = True
    parent = manager.submit(twap(params={"duration_s": 600, "slices": 10}), "alice")
    assert parent.filled_quantity == 1_000 and not parent.algorithm.children
    for _ in range(10):
        timers.advance_by(60 * S)
    assert parent.status is ParentStatus.FINISHED and parent.finish_reason is FinishReason.FILLED
    assert parent.filled_quantity == 10_000 and parent.filled_cost == 10_000 * 9_999
    progress = port.named("ParentProgressed")
    assert [p.filled_quantity for p in progress] == list(range(1_000, 10_001, 1_000))
    assert progress[0].schedule_target == 0 and progress[0].tca is not None
    assert progress[0].tca["filled_quantity"] == 1_000
    finished = port.named("ParentFinished")
    assert len(finished) == 1 and finished[0].reason == "filled" and finished[0].average_price == "99.99"


def test_many_parents_share_one_timer_heap_with_one_entry_each() -> None:
    """No task or loop timer per parent: one heap entry each in the one TimerQueue (benchmarks/algos.py runs 10,000)."""
    count = 2_000
    manager, port, timers, _ = build()
    for n in range(count):
        manager.submit(twap(quantity=1_000, client_order_id=f"c{n}"), "alice")
    assert manager.active_count == count
    assert len(timers) == count  # one pending wake per parent, in the one queue
    timers.advance_by(60 * S)
    live = [p for p in (manager.get(f"P{n}") for n in range(1, count + 1)) if p is not None and p.timer is not None]
    assert len(live) == count and all(p.timer.due_ns == T0 + 120 * S for p in live)  # type: ignore[union-attr]
    assert len(port.sent) == 2 * count


def test_pause_resume_amend_and_cancel_publish_events_and_refuse_wrong_states() -> None:
    manager, port, timers, _ = build()
    parent = manager.submit(twap(), "alice")
    with pytest.raises(RefusalError) as caught:
        manager.resume(parent.parent_id)
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_AMENDABLE
    manager.pause(parent.parent_id)
    assert parent.status is ParentStatus.PAUSED and port.canceled == ["P1-E1"]
    port.ack("P1-E1", OrderStatus.CANCELED, "OrderCanceled")
    timers.advance_by(120 * S)
    assert len(port.sent) == 1  # nothing sent while paused
    manager.resume(parent.parent_id)
    assert parent.status is ParentStatus.WORKING and len(port.sent) == 2
    with pytest.raises(RefusalError) as caught:
        manager.amend(parent.parent_id, {"quantity": 150})
    assert caught.value.refusal.field == "quantity" and parent.quantity == 10_000
    manager.amend(parent.parent_id, {"quantity": 20_000})
    assert port.named("ParentAmended")[0].changes == {"quantity": 20_000} and parent.quantity == 20_000
    working = list(parent.algorithm.children)
    assert working  # the amend let it rest more
    manager.cancel(parent.parent_id)
    assert parent.status is ParentStatus.STOPPING and port.named("ParentFinished") == []
    assert set(working) <= set(port.canceled)
    for child_id in working:
        assert port.named("ParentFinished") == []
        port.ack(child_id, OrderStatus.CANCELED, "OrderCanceled")
    assert parent.finish_reason is FinishReason.CANCELED and port.named("ParentFinished")[0].reason == "canceled"
    with pytest.raises(RefusalError) as caught:
        manager.cancel(parent.parent_id)
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_CANCELABLE
    with pytest.raises(RefusalError) as caught:
        manager.pause("P99")
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_FOUND
    assert [e.event for e in port.events if e.event.startswith("Parent")][:3] == [
        "ParentAccepted", "ParentPaused", "ParentResumed"]


def test_liquidation_and_kill_switch_stop_the_accounts_parents() -> None:
    manager, port, _, _ = build()
    a1 = manager.submit(twap(client_order_id="a", account="ACC1"), "alice")
    a2 = manager.submit(twap(client_order_id="b", account="ACC1"), "alice")
    b1 = manager.submit(twap(client_order_id="c", account="ACC2"), "bob")
    assert manager.cancel_all_for_account("ACC1") == 2
    for child in ("P1-E1", "P2-E1"):
        port.ack(child, OrderStatus.CANCELED, "OrderCanceled")
    assert a1.finish_reason is a2.finish_reason is FinishReason.PREEMPTED
    assert b1.status is ParentStatus.WORKING
    assert manager.on_kill_switch(SetKillSwitch(KillScope.TRADER, "bob", True)) == 1
    port.ack("P3-E1", OrderStatus.CANCELED, "OrderCanceled")
    assert b1.finish_reason is FinishReason.KILL_SWITCH
    assert [p.parent_id for p in manager.parents_for_account("ACC1")] == ["P1", "P2"]


def test_a_port_refusal_returns_the_quantity_and_a_failing_algorithm_stops_only_its_parent() -> None:
    manager, port, timers, _ = build()
    port.refuse = Refusal(ErrorCode.RISK_THROTTLE_VENUE, "venue SIM message rate 10/s reached", "venue")
    parent = manager.submit(twap(), "alice")
    assert port.sent == [] and parent.algorithm.committed == 0
    port.refuse = None
    timers.advance_by(60 * S)
    assert [(c, q) for c, q, _, _ in port.sent] == [("P1-E2", 2_000)]  # the refused 1000 is in the next child

    other = manager.submit(twap(client_order_id="c2"), "alice")

    def broken() -> list[Any]:
        raise ZeroDivisionError("a bug")

    parent.algorithm.on_timer = broken  # type: ignore[method-assign]
    timers.advance_by(60 * S)
    assert parent.finish_reason is FinishReason.ERROR and "P1-E2" in port.canceled
    assert other.status is ParentStatus.WORKING and other.algorithm.children
