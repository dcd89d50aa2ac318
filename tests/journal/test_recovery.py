"""Restart after a crash: replay rebuilds the engine exactly, and reconciliation settles each kind of loose end."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from journal_helpers import MS, JournaledWorld, SimulatedCrash

from gateway.journal import read_records
from gateway.model import (
    AmendOrder,
    CancelOrder,
    ExecType,
    KillScope,
    OrderStatus,
    OrderType,
    RefusalError,
    SetKillSwitch,
    Side,
    SubmitOrder,
    TimeInForce,
)
from gateway.recovery import Recovery, Replayer

SECOND = 1_000 * MS


def submit(world: JournaledWorld, trader: str, account: str, side: Side, quantity: int, price: int | None,
           symbol: str = "ACME", client_order_id: str | None = None, tif: TimeInForce = TimeInForce.DAY):
    world.client_ids = getattr(world, "client_ids", 0) + 1
    order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    command = SubmitOrder(account, symbol, side, order_type, quantity, client_order_id or f"t{world.client_ids}",
                          tif if price is not None else TimeInForce.IOC, price)
    return world.engine.submit_order(world.principal(trader), command)


def journal_trades(world: JournaledWorld) -> Counter[str]:
    return Counter(record.payload["exec_id"] for record in read_records(world.directory)
                   if record.kind == "report" and record.payload["exec_type"] == ExecType.TRADE.value)


def events(world: JournaledWorld, name: str, order_id: str | None = None) -> list[Any]:
    return [e for e in world.events if e.event == name and (order_id is None or e.order_id == order_id)]


def busy_session(world: JournaledWorld, seconds: int) -> None:
    """Orders from several accounts, cancels, amends and a kill switch, with the market running."""
    rng = world.rng
    accounts = [("alice", "ALICE-1"), ("alice", "ALICE-2"), ("bob", "BOB-1"), ("bob", "M-001"), ("risk", "M-002")]
    for step in range(seconds * 50):
        trader, account = rng.choice(accounts)
        quote = world.venue.quote("ACME")
        roll = rng.random()
        try:
            if roll < 0.6 and quote.bid_price and quote.ask_price:
                side = rng.choice([Side.BUY, Side.SELL])
                touch = quote.ask_price if side is Side.BUY else quote.bid_price
                price = touch + side.sign * rng.choice([-3, -1, 0, 1]) * 1
                submit(world, trader, account, side, rng.choice([10, 50, 100, 300]), price)
            elif roll < 0.8:
                open_orders = world.engine.orders.open_orders()
                if open_orders:
                    world.engine.cancel_order(world.principal("risk"), CancelOrder(rng.choice(open_orders).order_id))
            elif roll < 0.95:
                open_orders = [o for o in world.engine.orders.open_orders() if o.status is OrderStatus.NEW]
                if open_orders:
                    order = rng.choice(open_orders)
                    world.engine.amend_order(world.principal("risk"), AmendOrder(order.order_id, order.quantity + 10))
            elif step % 7 == 0:
                world.engine.set_kill_switch(world.principal("admin"), SetKillSwitch(
                    KillScope.ACCOUNT, "ALICE-2", engaged=rng.random() < 0.5, reason="test"))
        except RefusalError:
            pass
        world.advance_ns(20 * MS)


@pytest.mark.parametrize("snapshot_interval_ns", [0, 2 * SECOND])
def test_replay_rebuilds_orders_fills_positions_and_switches_exactly(journaled_world, snapshot_interval_ns) -> None:
    world = journaled_world(snapshot_interval_ns=snapshot_interval_ns)
    world.venue.open_market()
    busy_session(world, seconds=8)
    world.advance_ns(1 * MS)  # let reports in flight land (fills at a tick travel 0.2 ms): then nothing is pending
    engine = world.engine
    fills = len(engine.orders.fills)
    assert fills > 20 and len(engine.orders.by_id) > 200  # a session worth the name
    assert any(o.replace_count for o in engine.orders.by_id.values())
    assert any(o.status is OrderStatus.CANCELED for o in engine.orders.by_id.values())
    before = world.state_bytes(engine)
    sequence_before = engine.order_sequence
    world.crash()
    world.restart()
    assert world.state_bytes(world.engine) == before  # nothing changed at the venue while down: same state
    assert world.recovery.summary.snapshot_sequence > 0 if snapshot_interval_ns else True
    positions = {key: p.quantity for key, p in world.engine.positions.items() if p.quantity}
    assert positions == {key: q for key, q in world.expected_positions().items() if q}
    # a replay of the whole journal, ignoring snapshots, reaches the same state
    scratch = JournaledWorld(world.directory.parent / "scratch-unused")
    replayer = Replayer(scratch.engine)
    for record in world.journal.records():
        replayer.apply(record)
    replayer.finish()
    assert world.state_bytes(scratch.engine) == before
    scratch.close()
    # the id sequence continues: the next order takes a fresh id, and no ClOrdID reached the venue twice
    order = submit(world, "alice", "ALICE-1", Side.BUY, 10, 9_700)
    assert order.order_id == f"U{sequence_before + 1}"
    world.advance_ns(5 * MS)
    received = Counter(world.venue.received_requests())
    assert max(received.values()) == 1


def test_an_order_journaled_but_never_sent_is_rejected_and_never_resent(journaled_world) -> None:
    world = journaled_world()
    world.plan.arm(1, "after")  # the order record reaches the journal, the gateway dies before the send
    with pytest.raises(SimulatedCrash):
        submit(world, "alice", "ALICE-1", Side.BUY, 100, 10_000, client_order_id="mine-1")
    world.crash()
    summary = world.restart()
    order = world.engine.orders.by_id["U1"]
    assert order.status is OrderStatus.REJECTED and "RECOVERY_UNKNOWN_AT_VENUE" in order.reject_reason
    assert summary.orders_resolved == 1 and summary.mismatches == []
    assert world.venue.received_requests() == []
    assert [e.order_id for e in events(world, "OrderRejected")] == ["U1"]  # clients are told
    assert events(world, "RecoveryCompleted")[-1].orders_resolved == 1
    with pytest.raises(RefusalError):  # the client order id stays used: no double submission by the client
        submit(world, "alice", "ALICE-1", Side.BUY, 100, 10_000, client_order_id="mine-1")
    assert submit(world, "alice", "ALICE-1", Side.BUY, 100, 10_000).order_id == "U2"
    world.crash()
    world.restart()  # a second restart resolves nothing more and sends nothing
    world.advance_ns(5 * MS)
    assert world.engine.orders.by_id["U1"].status is OrderStatus.REJECTED
    assert world.venue.received_requests() == [("new", "U2")]


def test_an_order_sent_right_before_the_crash_is_found_working(journaled_world) -> None:
    world = journaled_world()
    world.plan.arm(2)  # journal write (1), send to the venue (2): die just after the send
    with pytest.raises(SimulatedCrash):
        submit(world, "bob", "BOB-1", Side.SELL, 100, 2_600, symbol="BOLT")
    world.crash()
    world.advance_ns(3 * MS)
    world.restart()
    order = world.engine.orders.by_id["U1"]
    assert order.status is OrderStatus.NEW and order.venue_order_id == world.venue.find_order("U1").venue_order_id
    assert world.venue.received_requests() == [("new", "U1")]


def test_fills_made_while_down_are_applied_exactly_once(journaled_world) -> None:
    world = journaled_world()
    world.venue.open_market()
    world.advance_ns(200 * MS)
    order = submit(world, "alice", "ALICE-1", Side.BUY, 300, 9_950)  # rests below the market
    world.advance_ns(5 * MS)
    assert order.status is OrderStatus.NEW
    world.crash()
    world.venue.gap("ACME", 9_800)  # the market falls through the order while the gateway is down
    world.advance_ns(50 * MS)
    venue_fills = world.venue_fills()
    assert venue_fills and sum(r.last_quantity for r in venue_fills) == 300
    summary = world.restart()
    rebuilt = world.engine.orders.by_id[order.order_id]
    assert rebuilt.status is OrderStatus.FILLED and rebuilt.filled_cost == 300 * 9_950
    assert summary.fills_recovered == len(venue_fills) and summary.mismatches == []
    assert world.engine.positions[("ALICE-1", "ACME")].quantity == 5_000 + 300
    assert [e.event for e in world.events if getattr(e, "order_id", None) == order.order_id][-1] == "OrderFilled"
    for _ in range(2):  # more restarts change nothing: each fill is in the journal once
        world.crash()
        world.restart()
    assert journal_trades(world) == Counter({r.exec_id: 1 for r in venue_fills})
    assert world.engine.positions[("ALICE-1", "ACME")].quantity == 5_300


def test_a_cancel_that_never_reached_the_venue_is_rejected_back_and_sent_again(journaled_world) -> None:
    world = journaled_world()
    order = submit(world, "alice", "ALICE-1", Side.BUY, 100, 9_900)
    world.advance_ns(5 * MS)
    world.plan.arm(1, "after")  # the cancel is journaled, the gateway dies before sending it
    with pytest.raises(SimulatedCrash):
        world.engine.cancel_order(world.principal("alice"), CancelOrder(order.order_id))
    world.crash()
    summary = world.restart()
    assert summary.requests_resolved == 1 and summary.cancels_reissued == 1
    rejected = events(world, "OrderCancelRejected", order.order_id)
    assert rejected and "RECOVERY_NOT_RECEIVED" in rejected[-1].reason
    world.advance_ns(5 * MS)
    assert world.engine.orders.by_id[order.order_id].status is OrderStatus.CANCELED
    assert world.venue.received_requests() == [("new", "U1"), ("cancel", "U1.C2")]  # C1 never went out: not reused


def test_a_cancel_and_a_replace_carried_out_while_down_are_found(journaled_world) -> None:
    world = journaled_world()
    first = submit(world, "alice", "ALICE-1", Side.BUY, 100, 9_900)
    second = submit(world, "bob", "BOB-1", Side.SELL, 100, 2_600, symbol="BOLT")
    world.advance_ns(5 * MS)
    world.plan.arm(2)  # journal the cancel (1), send it (2), die
    with pytest.raises(SimulatedCrash):
        world.engine.cancel_order(world.principal("alice"), CancelOrder(first.order_id))
    world.crash()
    world.restart()
    assert world.engine.orders.by_id[first.order_id].status is OrderStatus.CANCELED
    world.plan.arm(2)
    with pytest.raises(SimulatedCrash):
        world.engine.amend_order(world.principal("bob"), AmendOrder(second.order_id, 300, 2_610))
    world.crash()
    summary = world.restart()
    rebuilt = world.engine.orders.by_id[second.order_id]
    assert (rebuilt.status, rebuilt.quantity, rebuilt.limit_price) == (OrderStatus.NEW, 300, 2_610)
    assert rebuilt.venue_client_order_id == "U2.R1" and summary.mismatches == []
    assert Counter(world.venue.received_requests()) == Counter(
        {("new", "U1"): 1, ("new", "U2"): 1, ("cancel", "U1.C1"): 1, ("replace", "U2.R1"): 1})


def test_a_venue_that_is_down_leaves_orders_unreconciled_and_says_so(journaled_world) -> None:
    world = journaled_world()
    submit(world, "alice", "ALICE-1", Side.BUY, 100, 9_900)
    world.advance_ns(5 * MS)
    world.crash()
    world._start_gateway(reconcile=False)  # the venue stays disconnected
    world.recovery.start_reconciliation()
    assert world.recovery.reconciled
    assert world.recovery.summary.mismatches == ["venue SIM is not connected: its 1 open orders are not reconciled"]
    assert world.engine.orders.by_id["U1"].status is OrderStatus.NEW  # nothing is guessed


class ToyParents:
    """A plug-in with state of its own, journaled under "toy.", to show the recovery hook."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.parents: dict[str, int] = {}
        self.resumed = 0
        self.replayed: list[str] = []
        engine.register_recoverable("toy.", self)

    def submit(self, parent_id: str, quantity: int) -> None:
        self.engine.journal.append("toy.submitted", {"parent_id": parent_id, "quantity": quantity})
        self.parents[parent_id] = quantity

    def replay(self, kind: str, payload: Any) -> None:
        self.replayed.append(kind)
        if kind == "toy.submitted":
            self.parents[payload["parent_id"]] = payload["quantity"]

    def snapshot_state(self) -> Any:
        return {"parents": self.parents}

    def restore_state(self, state: Any) -> None:
        self.parents = dict(state["parents"])

    def resume(self) -> None:
        self.resumed += 1


def test_a_plugin_rebuilds_from_its_records_and_its_snapshot(journaled_world) -> None:
    world = journaled_world()
    toy = ToyParents(world.engine)
    toy.submit("P1", 100)
    world.recovery.snapshot()
    toy.submit("P2", 200)
    world.crash()
    world.journal = world.journal.__class__(world.directory, world.journal.config, world.clock)
    from gateway.app import build_gateway

    gateway = build_gateway(world.config, world.clock, world.gateway_timers, journal=world.journal)
    rebuilt = ToyParents(gateway.engine)  # plug-ins attach (and register) before recovery runs
    Recovery(gateway.engine, world.journal).replay()
    assert rebuilt.parents == {"P1": 100, "P2": 200}
    assert rebuilt.replayed == ["toy.submitted"]  # only the record after the snapshot is replayed
    assert rebuilt.resumed == 1
