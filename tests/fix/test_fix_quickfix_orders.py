"""Orders, cancels, replaces, fills, rejects and status requests against a real QuickFIX acceptor, mapped exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fix_helpers import BrokerEnvironment, make_order

from gateway.model import ExecType, OrderStatus, OrderType, Side, TimeInForce


async def test_new_orders_fill_partially_fill_and_reject_with_exact_prices(broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    broker = broker_env.broker
    filled = make_order(account="FILL", quantity=100, limit_price=170010)
    partial = make_order(account="PARTIAL", symbol="TINY", side=Side.SELL, quantity=250, limit_price=12345)
    rejected = make_order(account="REJECT", quantity=5)
    market = make_order(account="FILL", order_type=OrderType.MARKET, limit_price=None, quantity=7)
    for order in (filled, partial, rejected, market):
        adapter.send_new(order)

    await listener.wait_for(lambda: len(listener.reports) >= 7)

    assert listener.exec_types(filled.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]
    fill = listener.for_order(filled.venue_client_order_id)[1]
    assert (fill.last_quantity, fill.last_price, fill.cumulative_quantity, fill.leaves_quantity) == (
        100, 170010, 100, 0)
    assert fill.order_status is OrderStatus.FILLED and fill.exec_id and fill.venue_order_id
    assert fill.venue == "BROKER" and fill.ts_event > 0 and not fill.possible_duplicate

    new, part = listener.for_order(partial.venue_client_order_id)
    assert new.exec_type is ExecType.NEW and new.order_status is OrderStatus.NEW
    assert part.exec_type is ExecType.TRADE and part.order_status is OrderStatus.PARTIALLY_FILLED
    assert (part.last_quantity, part.last_price, part.cumulative_quantity, part.leaves_quantity) == (
        100, 12345, 100, 150)

    (reject,) = listener.for_order(rejected.venue_client_order_id)
    assert reject.exec_type is ExecType.REJECTED and reject.order_status is OrderStatus.REJECTED
    assert reject.reject_reason == "account REJECT may not trade (OrdRejReason=3)"

    market_fill = listener.for_order(market.venue_client_order_id)[-1]
    assert (market_fill.exec_type, market_fill.last_quantity, market_fill.last_price) == (ExecType.TRADE, 7, 9950)

    await broker.wait_for(lambda: len(broker.app_received) == 4)
    sent = broker.sent()
    nos = sent[filled.venue_client_order_id]
    assert (nos["44"], nos["38"], nos["40"], nos["54"], nos["59"], nos["1"], nos["55"]) == (
        "1700.10", "100", "2", "1", "0", "FILL", "ACME")
    assert sent[partial.venue_client_order_id]["44"] == "1.2345" and sent[partial.venue_client_order_id]["54"] == "2"
    assert "44" not in sent[market.venue_client_order_id] and sent[market.venue_client_order_id]["40"] == "1"


async def test_stop_stop_limit_and_good_till_date_orders_carry_their_fields(broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    expire_ns = 1_900_000_000_123_000_000
    stop = make_order(account="REST", order_type=OrderType.STOP, limit_price=None, stop_price=170500,
                      time_in_force=TimeInForce.IOC)
    stop_limit = make_order(account="REST", order_type=OrderType.STOP_LIMIT, limit_price=170600, stop_price=170500,
                            time_in_force=TimeInForce.FOK)
    good_till = make_order(account="REST", time_in_force=TimeInForce.GTD, expire_ns=expire_ns, limit_price=99)
    for order in (stop, stop_limit, good_till):
        adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) >= 3)
    assert [r.exec_type for r in listener.reports] == [ExecType.NEW] * 3
    await broker_env.broker.wait_for(lambda: len(broker_env.broker.app_received) == 3)
    sent = broker_env.broker.sent()
    assert (sent[stop.venue_client_order_id]["40"], sent[stop.venue_client_order_id]["99"],
            sent[stop.venue_client_order_id]["59"]) == ("3", "1705.00", "3")
    assert "44" not in sent[stop.venue_client_order_id]
    assert (sent[stop_limit.venue_client_order_id]["40"], sent[stop_limit.venue_client_order_id]["44"],
            sent[stop_limit.venue_client_order_id]["99"], sent[stop_limit.venue_client_order_id]["59"]) == (
        "4", "1706.00", "1705.00", "4")
    assert (sent[good_till.venue_client_order_id]["59"], sent[good_till.venue_client_order_id]["126"],
            sent[good_till.venue_client_order_id]["44"]) == ("6", "20300317-17:46:40.123", "0.99")


async def test_cancel_replace_and_their_rejects(broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    order = make_order(account="REST", quantity=100, limit_price=170010)
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 1)
    order.venue_order_id = listener.reports[0].venue_order_id

    adapter.send_replace(order, "R1-" + order.venue_client_order_id, 200, 170020)
    await listener.wait_for(lambda: len(listener.reports) == 2)
    replaced = listener.reports[1]
    assert replaced.exec_type is ExecType.REPLACED
    assert (replaced.client_order_id, replaced.orig_client_order_id) == ("R1-" + order.venue_client_order_id,
                                                                         order.venue_client_order_id)
    assert replaced.leaves_quantity == 200
    await broker_env.broker.wait_for(lambda: len(broker_env.broker.app_received) == 2)
    replace_request = broker_env.broker.app_received[-1]
    assert (replace_request["35"], replace_request["38"], replace_request["44"], replace_request["37"]) == (
        "G", "200", "1700.20", order.venue_order_id)

    order.venue_client_order_id = replaced.client_order_id
    order.quantity, order.limit_price = 200, 170020
    adapter.send_cancel(order, "X1-" + order.venue_client_order_id)
    await listener.wait_for(lambda: len(listener.reports) == 3)
    canceled = listener.reports[2]
    assert canceled.exec_type is ExecType.CANCELED and canceled.order_status is OrderStatus.CANCELED
    assert canceled.orig_client_order_id == order.venue_client_order_id and canceled.leaves_quantity == 0

    adapter.send_cancel(order, "X2-" + order.venue_client_order_id)  # the order is done: the broker refuses
    adapter.send_replace(order, "R2-" + order.venue_client_order_id, 300, None)
    await listener.wait_for(lambda: len(listener.reports) == 5)
    cancel_reject, replace_reject = listener.reports[3:]
    assert cancel_reject.exec_type is ExecType.CANCEL_REJECTED
    assert cancel_reject.client_order_id == "X2-" + order.venue_client_order_id
    assert cancel_reject.orig_client_order_id == order.venue_client_order_id
    assert cancel_reject.reject_reason == "order is done (CxlRejReason=0)"
    assert replace_reject.exec_type is ExecType.CANCEL_REJECTED
    assert replace_reject.client_order_id == "R2-" + order.venue_client_order_id


async def test_pending_states_are_reported_before_their_outcome(broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    order = make_order(account="PENDING", quantity=10)
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 2)
    adapter.send_replace(order, "R-" + order.venue_client_order_id, 20, None)
    await listener.wait_for(lambda: len(listener.reports) == 4)
    order.venue_client_order_id = "R-" + order.venue_client_order_id
    adapter.send_cancel(order, "X-" + order.venue_client_order_id)
    await listener.wait_for(lambda: len(listener.reports) == 6)
    assert [r.exec_type for r in listener.reports] == [
        ExecType.PENDING_NEW, ExecType.NEW, ExecType.PENDING_REPLACE, ExecType.REPLACED,
        ExecType.PENDING_CANCEL, ExecType.CANCELED]
    assert listener.reports[0].order_status is OrderStatus.PENDING_NEW
    assert listener.reports[2].order_status is OrderStatus.PENDING_REPLACE
    assert listener.reports[4].order_status is OrderStatus.PENDING_CANCEL


async def test_fills_corrected_busted_expired_and_status_requests(broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    broker = broker_env.broker
    order = make_order(account="REST", quantity=100, limit_price=170010)
    other = make_order(account="REST", quantity=5, limit_price=170000)
    adapter.send_new(order)
    adapter.send_new(other)
    await listener.wait_for(lambda: len(listener.reports) == 2)

    cl_ord_id = order.venue_client_order_id
    first = await broker.call("fill", cl_ord_id=cl_ord_id, quantity=30, price="1700.1")
    second = await broker.call("fill", cl_ord_id=cl_ord_id, quantity=10, price="1700.10")
    corrected = await broker.call("correct", cl_ord_id=cl_ord_id, exec_id=first, old_quantity=30, quantity=20,
                                  price="1700.05")
    await broker.call("bust", cl_ord_id=cl_ord_id, exec_id=second, quantity=10)
    await broker.call("expire", cl_ord_id=cl_ord_id)
    await listener.wait_for(lambda: len(listener.reports) == 7)
    fill1, fill2, correction, bust, expired = listener.reports[2:]
    assert (fill1.exec_type, fill1.last_quantity, fill1.last_price, fill1.exec_id) == (
        ExecType.TRADE, 30, 170010, first)
    assert (fill2.last_quantity, fill2.last_price, fill2.cumulative_quantity) == (10, 170010, 40)
    assert (correction.exec_type, correction.exec_id, correction.ref_exec_id) == (ExecType.TRADE_CORRECT, corrected,
                                                                                 first)
    assert (correction.last_quantity, correction.last_price, correction.cumulative_quantity) == (20, 170005, 30)
    assert (bust.exec_type, bust.ref_exec_id, bust.cumulative_quantity) == (ExecType.TRADE_CANCEL, second, 20)
    assert expired.exec_type is ExecType.EXPIRED and expired.order_status is OrderStatus.EXPIRED

    adapter.request_status([order])
    await listener.wait_for(lambda: len(listener.reports) == 8)
    status = listener.reports[-1]
    assert (status.exec_type, status.order_status, status.cumulative_quantity, status.client_order_id) == (
        ExecType.ORDER_STATUS, OrderStatus.EXPIRED, 20, order.venue_client_order_id)

    adapter.request_status([])  # no orders named: one OrderMassStatusRequest for all of them
    await listener.wait_for(lambda: len(listener.reports) == 10)
    statuses = {r.client_order_id: r.order_status for r in listener.reports[8:]}
    assert statuses == {order.venue_client_order_id: OrderStatus.EXPIRED, other.venue_client_order_id: OrderStatus.NEW}
    await broker.wait_for(lambda: len(broker.app_received) == 4)
    assert [m["35"] for m in broker.app_received] == ["D", "D", "H", "AF"]


def test_the_adapter_runs_on_uvloop(tmp_path: Path) -> None:
    """The production loop: connect, log on, trade and log out against QuickFIX with uvloop driving the adapter."""
    import uvloop
    from fix_helpers import BrokerClient

    async def scenario() -> list[ExecType]:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        broker = await BrokerClient.start(tmp_path / "quickfix")
        environment = BrokerEnvironment(broker, broker.port, tmp_path)
        try:
            adapter, listener = await environment.adapter()
            order = make_order(account="PARTIAL", quantity=10)
            adapter.send_new(order)
            await listener.wait_for(lambda: len(listener.reports) == 2)
            await adapter.stop()
            await broker.wait_for(lambda: broker.logouts == 1)
            return [r.exec_type for r in listener.reports]
        finally:
            await broker.close()

    assert uvloop.run(scenario()) == [ExecType.NEW, ExecType.TRADE]
