"""The simulated venue as a FIX 4.4 acceptor: our initiator trades with it over real loopback sockets."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fix_helpers import RecordingListener, make_order, start_adapter

from adapters.fix.acceptor import SimVenueFixAcceptor
from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter
from adapters.sim.config import SimVenueConfig
from adapters.sim.venue import SimVenue
from gateway.clock import LiveClock, LiveTimerDriver, TimerQueue
from gateway.demo_config import demo_config
from gateway.model import ExecType, OrderStatus, OrderType, Side

INSTRUMENTS = demo_config().instruments  # ACME at 100.00, two decimals


class SimEnvironment:
    def __init__(self, acceptor: SimVenueFixAcceptor, venue: SimVenue, port: int, directory: Path) -> None:
        self.acceptor = acceptor
        self.venue = venue
        self.port = port
        self.directory = directory
        self.adapters: list[FixVenueAdapter] = []

    async def client(self, sender: str) -> tuple[FixVenueAdapter, RecordingListener]:
        config = FixAdapterConfig(name="SIM", host="127.0.0.1", port=self.port, sender_comp_id=sender,
                                  target_comp_id="SIM", instruments=INSTRUMENTS,
                                  store_dir=str(self.directory / "clients"), heartbeat_interval_s=5,
                                  reconnect_initial_s=0.05, reconnect_max_s=0.5)
        return await start_adapter(config, self.adapters)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimEnvironment]:
    clock = LiveClock()
    timers = TimerQueue(clock)
    driver = LiveTimerDriver(timers, asyncio.get_running_loop())
    venue = SimVenue(timers, INSTRUMENTS, SimVenueConfig(name="SIM", latency_ns=0))
    acceptor = SimVenueFixAcceptor(venue, INSTRUMENTS, clock, timers, "SIM", tmp_path / "venue")
    await venue.start()
    port = await acceptor.start("127.0.0.1", 0)
    environment = SimEnvironment(acceptor, venue, port, tmp_path)
    try:
        yield environment
    finally:
        for adapter in environment.adapters:
            await adapter.stop()
        await acceptor.stop()
        driver.close()


async def test_orders_match_between_two_clients_and_come_back_as_fix_reports(sim: SimEnvironment) -> None:
    buyer, buyer_events = await sim.client("ALICE")
    seller, seller_events = await sim.client("BOB")
    bid = make_order(account="A-1", quantity=100, limit_price=9900)
    buyer.send_new(bid)
    await buyer_events.wait_for(lambda: len(buyer_events.reports) == 1)
    (ack,) = buyer_events.reports
    assert (ack.exec_type, ack.order_status, ack.leaves_quantity, ack.client_order_id) == (
        ExecType.NEW, OrderStatus.NEW, 100, bid.venue_client_order_id)

    offer = make_order(account="B-1", side=Side.SELL, quantity=60, limit_price=9900)
    seller.send_new(offer)
    await buyer_events.wait_for(lambda: len(buyer_events.reports) == 2)
    await seller_events.wait_for(lambda: len(seller_events.reports) == 2)
    fill = buyer_events.reports[1]
    assert (fill.exec_type, fill.last_quantity, fill.last_price, fill.cumulative_quantity, fill.leaves_quantity,
            fill.order_status) == (ExecType.TRADE, 60, 9900, 60, 40, OrderStatus.PARTIALLY_FILLED)
    seller_fill = seller_events.reports[1]
    assert (seller_fill.exec_type, seller_fill.last_quantity, seller_fill.order_status) == (
        ExecType.TRADE, 60, OrderStatus.FILLED)
    assert fill.venue_order_id and fill.venue_order_id == ack.venue_order_id


async def test_replace_cancel_rejects_and_status_over_fix(sim: SimEnvironment) -> None:
    adapter, events = await sim.client("ALICE")
    order = make_order(account="A-1", quantity=100, limit_price=9900)
    adapter.send_new(order)
    await events.wait_for(lambda: len(events.reports) == 1)
    order.venue_order_id = events.reports[0].venue_order_id

    adapter.send_replace(order, "R1", 80, 9850)
    await events.wait_for(lambda: len(events.reports) == 2)
    replaced = events.reports[1]
    assert (replaced.exec_type, replaced.client_order_id, replaced.orig_client_order_id, replaced.leaves_quantity) == (
        ExecType.REPLACED, "R1", order.venue_client_order_id, 80)
    assert sim.venue.find_order("ALICE|R1").limit_price == 9850  # type: ignore[union-attr]
    order.venue_client_order_id, order.quantity, order.limit_price = "R1", 80, 9850

    adapter.request_status([order])
    await events.wait_for(lambda: len(events.reports) == 3)
    status = events.reports[2]
    assert (status.exec_type, status.order_status, status.leaves_quantity) == (ExecType.ORDER_STATUS,
                                                                              OrderStatus.NEW, 80)

    adapter.send_cancel(order, "X1")
    await events.wait_for(lambda: len(events.reports) == 4)
    canceled = events.reports[3]
    assert (canceled.exec_type, canceled.order_status, canceled.client_order_id) == (
        ExecType.CANCELED, OrderStatus.CANCELED, "X1")

    order.venue_client_order_id = "X1"
    adapter.send_cancel(order, "X2")
    unknown = make_order(account="A-1", symbol="ACME")
    unknown.symbol = "NOPE"
    adapter.mapper.instruments = {**INSTRUMENTS, "NOPE": INSTRUMENTS["ACME"]}  # let the order out to be refused
    adapter.send_new(unknown)
    await events.wait_for(lambda: len(events.reports) == 6)
    cancel_reject, rejected = events.reports[4:]
    assert cancel_reject.exec_type is ExecType.CANCEL_REJECTED and cancel_reject.client_order_id == "X2"
    assert cancel_reject.reject_reason is not None and "CxlRejReason" in cancel_reject.reject_reason
    assert rejected.exec_type is ExecType.REJECTED
    assert rejected.reject_reason == "UNKNOWN_SYMBOL: no instrument NOPE on this venue (OrdRejReason=1)"


async def test_reports_made_while_a_client_is_away_arrive_after_it_logs_on_again(sim: SimEnvironment) -> None:
    alice, alice_events = await sim.client("ALICE")
    bob, bob_events = await sim.client("BOB")
    resting = make_order(account="A-1", quantity=50, limit_price=9900)
    alice.send_new(resting)
    await alice_events.wait_for(lambda: len(alice_events.reports) == 1)
    await alice.stop()

    bob.send_new(make_order(account="B-1", side=Side.SELL, quantity=50, limit_price=9900))
    await bob_events.wait_for(lambda: len(bob_events.reports) == 2)

    back, back_events = await sim.client("ALICE")
    await back_events.wait_for(lambda: len(back_events.reports) == 1)
    (fill,) = back_events.reports
    assert (fill.exec_type, fill.client_order_id, fill.last_quantity, fill.order_status, fill.possible_duplicate) == (
        ExecType.TRADE, resting.venue_client_order_id, 50, OrderStatus.FILLED, True)
    assert back.store.next_sender_seq > 2, "the client resumed its numbering from disk"  # type: ignore[union-attr]


async def test_unwind_sim_venue_command_serves_fix(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "sim-venue", "--fix-port", "0", "--store-dir", str(tmp_path / "venue"),
        "--latency-us", "50", stdout=asyncio.subprocess.PIPE)
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert "accepting FIX 4.4 on 127.0.0.1:" in banner
        port = int(banner.split("127.0.0.1:")[1].split()[0])
        config = FixAdapterConfig(name="SIM", host="127.0.0.1", port=port, sender_comp_id="CLI",
                                  target_comp_id="SIM", instruments=INSTRUMENTS, store_dir=str(tmp_path / "client"))
        adapter, events = await start_adapter(config, [])  # stopped below, after the venue's shutdown is seen
        adapter.send_new(make_order(account="A-1", order_type=OrderType.MARKET, limit_price=None, quantity=10))
        await events.wait_for(lambda: any(r.exec_type is ExecType.TRADE for r in events.reports))
        assert events.reports[0].exec_type is ExecType.NEW
        assert sum(r.last_quantity for r in events.reports) == 10
        process.send_signal(signal.SIGTERM)
        await events.wait_for(lambda: events.connected[-1] is False)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        await adapter.stop()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_quickfix_initiator_validating_with_the_dictionary_trades_with_the_sim_venue(
        sim: SimEnvironment) -> None:
    """QuickFIX delivers a message to its application only if it passed the FIX 4.4 dictionary: every report we
    write must get through, and QuickFIX must send us no Reject."""
    import json

    seller, _ = await sim.client("BOB")
    client = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).resolve().parent / "quickfix_client.py"), "--port", str(sim.port),
        "--sender", "QFCLIENT", "--qty", "100", "--price", "99.00", "--reports", "2",
        stdout=asyncio.subprocess.PIPE)
    assert client.stdout is not None
    events: list[dict[str, object]] = []

    async def read_until(kind: str) -> None:
        while not events or events[-1]["event"] != kind:
            line = await asyncio.wait_for(client.stdout.readline(), 30)  # type: ignore[union-attr]
            assert line, f"the QuickFIX client ended before {kind}: {events}"
            events.append(json.loads(line))

    try:
        await read_until("app")  # the ack of its buy order
        seller.send_new(make_order(account="B-1", side=Side.SELL, quantity=30, limit_price=9900))
        await read_until("done")
    finally:
        if client.returncode is None:
            client.kill()
        await client.wait()
    reports = [e["fields"] for e in events if e["event"] == "app"]
    assert [(r["35"], r["150"], r["39"]) for r in reports] == [("8", "0", "0"), ("8", "F", "1")]  # type: ignore[index]
    assert (reports[1]["32"], reports[1]["31"], reports[1]["151"], reports[1]["6"]) == (  # type: ignore[index]
        "30", "99.00", "70", "99.000000")
    assert not [e for e in events if e["event"] == "reject_sent"], events
