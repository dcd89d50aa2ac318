"""The session layer against a real QuickFIX acceptor: gaps both ways, garbled and invalid messages, test requests,
dropped connections, restarts from disk, and two brokers at once. A relay between us and QuickFIX drops, corrupts
or cuts on request; every wait is on an observable event, with a timeout."""

from __future__ import annotations

import asyncio
from collections import Counter

from fix_helpers import BrokerEnvironment, make_order
from fix_proxy import IN, OUT

from adapters.fix.session import SessionState
from gateway.model import ExecType


def _exec_ids(listener: object) -> list[str]:
    return [r.exec_id for r in listener.reports if r.exec_id]  # type: ignore[attr-defined]


async def test_gap_in_our_messages_is_filled_by_resend_and_no_order_is_lost_or_doubled(
        broker_env: BrokerEnvironment) -> None:
    proxy = await broker_env.proxy()
    adapter, listener = await broker_env.adapter(broker_env.config(port=proxy.port))
    broker = broker_env.broker
    lost, following = make_order(account="FILL"), make_order(account="FILL")
    proxy.drop_next(OUT, "D")
    adapter.send_new(lost)
    adapter.send_new(following)

    await listener.wait_for(lambda: sum(r.exec_type is ExecType.TRADE for r in listener.reports) == 2)
    await broker.wait_for(lambda: len(broker.app_received) == 2)
    assert Counter(broker.orders_received()) == {lost.venue_client_order_id: 1, following.venue_client_order_id: 1}
    assert listener.exec_types(lost.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]
    assert listener.exec_types(following.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]
    assert len(set(_exec_ids(listener))) == len(_exec_ids(listener)) == 4
    assert proxy.seen(IN, "2"), "QuickFIX asked for a resend"
    resent = [r for r in proxy.seen(OUT, "D") if r.poss_dup]
    assert [r.seq for r in resent][:1] == [proxy.seen(OUT, "D", "dropped")[0].seq]
    assert all(b"\x01122=" in r.raw for r in resent), "resent orders carry OrigSendingTime"
    assert proxy.connections == 1 and listener.connected == [True]


async def test_gap_in_broker_messages_is_filled_by_resend_and_processed_once(broker_env: BrokerEnvironment) -> None:
    proxy = await broker_env.proxy()
    adapter, listener = await broker_env.adapter(broker_env.config(port=proxy.port))
    order = make_order(account="FILL")
    proxy.drop_next(IN, "8")  # the ack never arrives; the fill after it reveals the gap
    adapter.send_new(order)

    await listener.wait_for(lambda: len(listener.reports) == 2)
    await proxy.wait_for(lambda: len(proxy.seen(IN, "8")) >= 4)  # the resent copies have passed too
    new, fill = listener.reports
    assert (new.exec_type, fill.exec_type) == (ExecType.NEW, ExecType.TRADE)
    assert new.possible_duplicate, "the ack came from the resend"
    assert adapter.session.resend_requests_sent == 1
    (request,) = proxy.seen(OUT, "2")
    assert b"\x017=2\x01" in request.raw and b"\x0116=0\x01" in request.raw
    order2 = make_order(account="FILL")
    adapter.send_new(order2)
    await listener.wait_for(lambda: len(listener.reports) == 4)
    assert len(listener.reports) == 4 and len(set(_exec_ids(listener))) == 4


async def test_garbled_message_is_dropped_and_recovered_without_killing_the_session(
        broker_env: BrokerEnvironment) -> None:
    proxy = await broker_env.proxy()
    adapter, listener = await broker_env.adapter(broker_env.config(port=proxy.port))
    order = make_order(account="FILL")
    proxy.corrupt_next(IN, "8")
    adapter.send_new(order)

    await listener.wait_for(lambda: len(listener.reports) == 2)
    assert adapter.session.garbled_received == 1
    assert listener.exec_types(order.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]
    assert proxy.connections == 1 and listener.connected == [True] and adapter.connected


async def test_invalid_message_is_refused_with_a_session_reject_and_the_session_goes_on(
        broker_env: BrokerEnvironment) -> None:
    adapter, listener = await broker_env.adapter()
    broker = broker_env.broker
    order = make_order(account="REST")
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 1)

    await broker.call("report", cl_ord_id=order.venue_client_order_id, exec_type="0", leave_out=[17])
    await broker.wait_for(lambda: any(m["35"] == "3" for m in broker.admin_received))
    reject = next(m for m in broker.admin_received if m["35"] == "3")
    assert (reject["371"], reject["373"], reject["372"]) == ("17", "1", "8")
    await broker.call("report", cl_ord_id=order.venue_client_order_id, exec_type="F",
                      leave_out=[], extra=[["32", "12.5"], ["31", "1700.10"]])
    await broker.wait_for(lambda: sum(m["35"] == "3" for m in broker.admin_received) == 2)
    second = [m for m in broker.admin_received if m["35"] == "3"][1]
    assert (second["371"], second["373"]) == ("32", "6")

    assert len(listener.reports) == 1, "neither refused report reached the engine"
    follow_up = make_order(account="FILL")
    adapter.send_new(follow_up)
    await listener.wait_for(lambda: len(listener.reports) == 3)
    assert listener.connected == [True] and adapter.connected


async def test_test_request_from_the_broker_is_answered(broker_env: BrokerEnvironment) -> None:
    adapter, _ = await broker_env.adapter()
    broker = broker_env.broker
    await broker.call("send_admin", msg_type="1", pairs=[["112", "ARE-YOU-THERE-1"]])
    await broker.wait_for(lambda: any(m["35"] == "0" and m.get("112") == "ARE-YOU-THERE-1"
                                      for m in broker.admin_received))
    assert adapter.connected


async def test_silent_peer_gets_a_test_request_then_is_dropped_and_the_session_comes_back(
        broker_env: BrokerEnvironment) -> None:
    proxy = await broker_env.proxy()
    adapter, listener = await broker_env.adapter(broker_env.config(port=proxy.port, heartbeat_interval_s=1))
    proxy.blackhole(IN)
    await listener.wait_for(lambda: listener.connected == [True, False], timeout=10)
    assert adapter.session.disconnect_reason == "TestRequest unanswered"
    assert proxy.seen(OUT, "1"), "we asked the silent peer with a TestRequest"
    proxy.blackhole(IN, False)
    await listener.wait_for(lambda: listener.connected.count(True) == 2, timeout=10)
    order = make_order(account="FILL")
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 2)
    assert listener.exec_types(order.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]


async def test_dropped_connection_comes_back_with_the_same_sequence_and_the_missed_fill(
        broker_env: BrokerEnvironment) -> None:
    proxy = await broker_env.proxy()
    adapter, listener = await broker_env.adapter(broker_env.config(port=proxy.port))
    broker = broker_env.broker
    order = make_order(account="REST", quantity=50)
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 1)

    proxy.refuse_connections = True
    proxy.cut()
    await listener.wait_for(lambda: listener.connected == [True, False])
    await proxy.wait_for(lambda: proxy.refused >= 2)  # reconnect attempts, each with a Logon that never arrives
    fill_id = await broker.call("fill", cl_ord_id=order.venue_client_order_id, quantity=50, price="1700.10")
    proxy.refuse_connections = False

    await listener.wait_for(lambda: len(listener.reports) == 2)
    fill = listener.reports[1]
    assert (fill.exec_type, fill.exec_id, fill.last_quantity, fill.last_price) == (ExecType.TRADE, fill_id, 50, 170010)
    assert fill.possible_duplicate
    await broker.wait_for(lambda: sum(m["35"] == "A" for m in broker.admin_received) == 2)
    logons = [m for m in broker.admin_received if m["35"] == "A"]
    assert "141" not in logons[1], "no sequence reset"
    await _wait_in_step(broker_env, adapter, "UNWIND")
    assert broker.logouts == 1 and adapter.connected


_barriers = 0


async def _wait_in_step(broker_env: BrokerEnvironment, adapter: object, ours: str) -> None:
    """Check QuickFIX and we agree on both sequence numbers, once the traffic in flight has settled.

    A TestRequest from QuickFIX is the barrier: by the time its Heartbeat comes back, every message before it has been
    handled on both sides, in order.
    """
    global _barriers
    _barriers += 1
    broker = broker_env.broker
    test_id = f"BARRIER-{_barriers}"
    await broker.call("send_admin", msg_type="1", pairs=[["112", test_id]], ours=ours)
    await broker.wait_for(lambda: any(m.get("112") == test_id and m["35"] == "0" for m in broker.admin_received))
    store = adapter.store  # type: ignore[attr-defined]
    ours_now = {"next_target": store.next_sender_seq, "next_sender": store.next_target_seq}
    # QuickFIX tells its application about the Heartbeat just before it counts it: ask until it has (or time is up).
    async with asyncio.timeout(10):
        while (theirs := await broker.call("seqnums", ours=ours)) != ours_now:
            assert theirs["next_target"] in (ours_now["next_target"] - 1, ours_now["next_target"]), theirs


async def test_restart_resumes_sequence_numbers_from_disk(broker_env: BrokerEnvironment) -> None:
    broker = broker_env.broker
    adapter, listener = await broker_env.adapter()
    adapter.send_new(make_order(account="FILL"))
    await listener.wait_for(lambda: len(listener.reports) == 2)
    await adapter.stop()
    next_sender, next_target = adapter.store.next_sender_seq, adapter.store.next_target_seq
    assert next_sender > 3

    restarted, listener2 = await broker_env.adapter()
    assert restarted.store is not adapter.store
    await broker.wait_for(lambda: sum(m["35"] == "A" for m in broker.admin_received) == 2)
    logon = [m for m in broker.admin_received if m["35"] == "A"][-1]
    assert int(logon["34"]) == next_sender and "141" not in logon
    order = make_order(account="FILL")
    restarted.send_new(order)
    await listener2.wait_for(lambda: len(listener2.reports) == 2)
    assert listener2.exec_types(order.venue_client_order_id) == [ExecType.NEW, ExecType.TRADE]
    assert restarted.store.next_target_seq > next_target


async def test_crash_and_restart_resumes_from_disk_and_recovers_the_fill_made_while_down(
        broker_env: BrokerEnvironment) -> None:
    broker = broker_env.broker
    adapter, listener = await broker_env.adapter()
    order = make_order(account="REST", quantity=10)
    adapter.send_new(order)
    await listener.wait_for(lambda: len(listener.reports) == 1)
    adapter.initiator.abort()  # no Logout, nothing closed: like kill -9
    await broker.wait_for(lambda: broker.logouts == 1)
    fill_id = await broker.call("fill", cl_ord_id=order.venue_client_order_id, quantity=10, price="1700.10")

    restarted, listener2 = await broker_env.adapter()
    await listener2.wait_for(lambda: len(listener2.reports) == 1)
    (fill,) = listener2.reports
    assert (fill.exec_type, fill.exec_id, fill.client_order_id) == (
        ExecType.TRADE, fill_id, order.venue_client_order_id)
    await broker.wait_for(lambda: sum(m["35"] == "A" for m in broker.admin_received) == 2)
    logons = [m for m in broker.admin_received if m["35"] == "A"]
    assert int(logons[1]["34"]) > int(logons[0]["34"])
    await _wait_in_step(broker_env, restarted, "UNWIND")


async def test_two_brokers_at_once(broker_env: BrokerEnvironment) -> None:
    broker = broker_env.broker
    first, listener1 = await broker_env.adapter()
    second, listener2 = await broker_env.adapter(broker_env.config(sender="UNWIND2", target="BROKER2"))
    orders1 = [make_order(account="FILL") for _ in range(3)]
    orders2 = [make_order(account="PARTIAL", quantity=10) for _ in range(2)]
    for one, two in zip(orders1, orders2 + [None]):
        first.send_new(one)
        if two is not None:
            second.send_new(two)
    await listener1.wait_for(lambda: len(listener1.reports) == 6)
    await listener2.wait_for(lambda: len(listener2.reports) == 4)
    assert {r.client_order_id for r in listener1.reports} == {o.venue_client_order_id for o in orders1}
    assert {r.client_order_id for r in listener2.reports} == {o.venue_client_order_id for o in orders2}
    assert {r.venue for r in listener1.reports} == {"BROKER"} and {r.venue for r in listener2.reports} == {"BROKER2"}
    await broker.wait_for(lambda: len(broker.app_received) == 5)
    by_sender = Counter(m["49"] for m in broker.app_received)
    assert by_sender == {"UNWIND": 3, "UNWIND2": 2}
    assert first.store is not None and second.store is not None
    assert first.session.state is SessionState.ACTIVE and second.session.state is SessionState.ACTIVE


async def test_quickfix_rejects_of_our_messages_reach_the_engine(broker_env: BrokerEnvironment) -> None:
    """A session Reject (35=3) of an order becomes its REJECTED report; a BusinessMessageReject (35=j) is taken too."""
    adapter, listener = await broker_env.adapter()
    session = adapter.session
    refused: list[dict[str, str]] = []
    on_reject = adapter.on_reject

    def spy(fields: dict[str, str], referenced: bytes | None) -> None:
        refused.append(fields)
        on_reject(fields, referenced)

    adapter.on_reject = spy  # type: ignore[method-assign]  # the session calls its application, the adapter
    now = session.clock.now_ns()
    stamp = session.format_time(now)
    # A NewOrderSingle without Side (54): QuickFIX's dictionary check refuses it at session level.
    seq = session.send_app("D", f"11=BAD-1\x0155=ACME\x0160={stamp}\x0138=10\x0140=1\x01", now, stamp)
    await listener.wait_for(lambda: len(listener.reports) == 1)
    (rejected,) = listener.reports
    assert (rejected.exec_type, rejected.client_order_id) == (ExecType.REJECTED, "BAD-1")
    assert "SessionRejectReason=1" in (rejected.reject_reason or "")
    assert refused[0]["35"] == "3" and refused[0]["45"] == str(seq) and refused[0]["371"] == "54"
    # A SecurityDefinitionRequest the broker does not serve: QuickFIX answers with a BusinessMessageReject.
    session.send_app("c", "320=SD-1\x01321=0\x01", now, stamp)
    await broker_env.broker.wait_for(lambda: any(m["35"] == "c" for m in broker_env.broker.app_received))
    await _wait_in_step(broker_env, adapter, "UNWIND")
    assert [(r["35"], r.get("372"), r.get("380")) for r in refused[1:]] == [("j", "c", "3")]
    assert adapter.connected and len(listener.reports) == 1
