"""The crash test: a busy simulated session, the gateway killed at random moments over and over, restarted each time.

The venue (SimVenue on the shared SimClock) lives through every crash; the gateway dies inside its own code at a random
operation (before or after a journal write, right after a request reached the venue, while applying a report, while
reconciling after the previous crash), sometimes leaving a torn record at the end of the journal. After each restart
and after the whole session: every fill the venue made is in the journal exactly once, positions are the start
positions plus the venue's fills, no ClOrdID reached the venue twice, every order is finished or known working, and
every parent order is finished or resumed, having filled exactly what its children filled.
"""

from __future__ import annotations

import random
from collections import Counter

from journal_helpers import MS, JournaledWorld, SimulatedCrash

from gateway.journal import FsyncPolicy, read_records
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
from gateway.parents import ParentStatus
from gateway.recovery import Replayer

SECOND = 1_000 * MS
SESSION_S = 75
MIN_CRASHES = 50
TRADERS = [("alice", "ALICE-1"), ("alice", "ALICE-2"), ("bob", "BOB-1"), ("bob", "M-001"), ("risk", "M-002"),
           ("risk", "M-003")]
SIZES = {"ACME": [10, 50, 100, 200], "BOLT": [100, 300, 500], "CRUX": [1, 5, 20], "DYNA": [100, 500, 1_000]}


class Trading:
    """Random traders: limit orders around the touch, market orders, cancels, amends, an account kill switch."""

    def __init__(self, world: JournaledWorld, rng: random.Random) -> None:
        self.world = world
        self.rng = rng
        self.client_ids = 0
        self.refusals: Counter[str] = Counter()
        self.plugins: Counter[str] = Counter()

    def step(self) -> None:
        world, rng = self.world, self.rng
        engine = world.engine
        roll = rng.random()
        try:
            if roll < 0.62:
                self._submit()
            elif roll < 0.80:
                open_orders = engine.orders.open_orders()
                if open_orders:
                    engine.cancel_order(world.principal("risk"), CancelOrder(rng.choice(open_orders).order_id))
            elif roll < 0.92:
                amendable = [o for o in engine.orders.open_orders()  # a parent's children are its algorithm's
                             if o.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
                             and o.order_type is OrderType.LIMIT and o.parent_id is None]
                if amendable:
                    order = rng.choice(amendable)
                    tick = world.config.instruments[order.symbol].tick_size
                    lot = world.config.instruments[order.symbol].lot_size
                    engine.amend_order(world.principal("risk"), AmendOrder(
                        order.order_id, order.quantity + lot * rng.randint(1, 3),
                        order.limit_price + order.side.sign * tick * rng.choice([-1, 1])))
            elif roll < 0.93:
                engine.set_kill_switch(world.principal("admin"), SetKillSwitch(
                    KillScope.ACCOUNT, rng.choice(["ALICE-2", "M-003"]), engaged=rng.random() < 0.5, reason="drill"))
            elif roll < 0.95 and "submit_parent" in world.gateway.commands.handlers:
                trader, account = rng.choice([("alice", "ALICE-1"), ("bob", "BOB-1")])
                self.client_ids += 1
                world.gateway.commands.dispatch(world.principal(trader), "submit_parent", {
                    "account": account, "symbol": "ACME", "side": rng.choice(["BUY", "SELL"]),
                    "quantity": rng.choice([500, 1_000, 2_000]), "algo": "TWAP",
                    "client_order_id": f"{account}-P{self.client_ids}", "params": {"duration_s": rng.randint(3, 20)}})
                self.plugins["parents"] += 1
            elif roll < 0.953 and "liquidate" in world.gateway.commands.handlers:
                self.client_ids += 1
                world.gateway.commands.dispatch(world.principal("risk"), "liquidate", {
                    "instruction_id": f"drill-{self.client_ids}", "account": rng.choice(["M-002", "M-003"]),
                    "tier": "mandatory", "reason": "crash drill", "target": {"notional": "20000"}})
                self.plugins["liquidations"] += 1
        except RefusalError as refusal:
            self.refusals[refusal.refusal.code.value] += 1

    def _submit(self) -> None:
        world, rng = self.world, self.rng
        trader, account = rng.choice(TRADERS)
        symbol = rng.choice(list(SIZES))
        quote = world.venue.quote(symbol)
        if not (quote.bid_price and quote.ask_price):
            return
        side = rng.choice([Side.BUY, Side.SELL])
        quantity = rng.choice(SIZES[symbol])
        self.client_ids += 1
        client_order_id = f"{account}-{self.client_ids}"
        if rng.random() < 0.1:
            command = SubmitOrder(account, symbol, side, OrderType.MARKET, quantity, client_order_id, TimeInForce.IOC)
        else:
            tick = world.config.instruments[symbol].tick_size
            touch = quote.ask_price if side is Side.BUY else quote.bid_price
            price = touch + side.sign * tick * rng.choice([-4, -2, -1, 0, 0, 1])
            tif = TimeInForce.IOC if rng.random() < 0.1 else TimeInForce.DAY
            command = SubmitOrder(account, symbol, side, OrderType.LIMIT, quantity, client_order_id, tif, price)
        world.engine.submit_order(world.principal(trader), command)


def check_after_restart(world: JournaledWorld) -> None:
    """What must hold whenever a restart has reconciled: no ghosts either way, nothing sent twice, no mismatch."""
    summary = world.recovery.summary
    assert summary.mismatches == [], summary.mismatches
    engine, venue = world.engine, world.venue
    received = venue.received_requests()
    duplicates = [request for request, count in Counter(received).items() if count > 1]
    assert duplicates == [], f"requests that reached the venue twice: {duplicates}"
    for kind, client_order_id in received:
        if kind != "new":
            continue
        book_order = venue.find_order(client_order_id)
        if book_order is not None and not book_order.done:  # working at the venue: the gateway must know it so
            order = engine.orders.by_venue_id.get(client_order_id)
            assert order is not None and order.is_working, f"{client_order_id} works at the venue, not in the gateway"
    for order in engine.orders.open_orders():
        assert venue.find_order(order.order_id) is not None, f"{order.order_id} open here, unknown at the venue"


def check_parents(world: JournaledWorld) -> set[str]:
    """Every parent is finished, or resumed (paused, or its schedule armed), and has filled what its children filled;
    return the ids of the unfinished ones."""
    manager = world.gateway.extras["parents"]
    children_filled: Counter[str] = Counter()
    for order in world.engine.orders.by_id.values():
        if order.parent_id and not order.liquidation:
            children_filled[order.parent_id] += order.filled_quantity
    parents = {parent.parent_id: parent for parent in manager.all_parents()}
    assert set(children_filled) <= set(parents), f"children of parents not rebuilt: {set(children_filled) - set(parents)}"
    working: set[str] = set()
    for parent_id, parent in parents.items():
        assert parent.filled_quantity == children_filled[parent_id], (
            f"{parent_id} filled {parent.filled_quantity}, its children {children_filled[parent_id]}")
        assert parent.filled_quantity <= parent.quantity, f"{parent_id} overfilled"
        if parent.status is ParentStatus.FINISHED:
            assert parent.finish_reason is not None
            continue
        armed = parent.timer is not None and not parent.timer.canceled
        assert armed or parent.status is ParentStatus.PAUSED, (
            f"{parent_id} is {parent.status.value}: neither finished nor resumed (no schedule armed)")
        working.add(parent_id)
    return working


def test_fifty_crashes_in_a_busy_session_lose_nothing_and_send_nothing_twice(journaled_world) -> None:
    world = journaled_world(seed=20_240_607, fsync=FsyncPolicy.NEVER, snapshot_interval_ns=3 * SECOND,
                            session_s=SESSION_S)
    rng = random.Random(7)
    trading = Trading(world, rng)
    world.venue.open_market()
    session_end = world.clock.now_ns() + (SESSION_S - 2) * SECOND
    world.plan.arm(rng.randint(1, 700))
    moments: Counter[str] = Counter()
    resumed: set[str] = set()  # parents found unfinished by some restart

    def crash_and_restart(error: SimulatedCrash) -> None:
        moments[str(error)] += 1
        while True:
            world.crash(tear_tail=rng.random() < 0.15)
            world.fsync = rng.choice([FsyncPolicy.NEVER, FsyncPolicy.BATCH])  # the next life's policy
            world.advance_ns(rng.randint(1, 400) * MS)  # the venue trades on while the gateway is down
            if rng.random() < 0.25:
                world.plan.arm(rng.randint(1, 6))  # die again, early in the restart (during reconciliation)
            try:
                world.restart()
            except SimulatedCrash as again:
                moments[f"{again} (while recovering)"] += 1
                continue
            check_after_restart(world)
            resumed.update(check_parents(world))
            world.plan.arm(rng.randint(1, 700))
            return

    while world.clock.now_ns() < session_end:
        try:
            for _ in range(rng.choice([0, 1, 1, 2, 3])):
                trading.step()
            world.advance_ns(rng.choice([2, 5, 10, 20]) * MS)
        except SimulatedCrash as error:
            crash_and_restart(error)

    # the close: the venue expires every DAY order; then one last clean restart reconciles everything
    world.plan.disarm()
    world.advance_ns(4 * SECOND)
    world.crash()
    world.restart()
    check_after_restart(world)
    check_parents(world)
    engine, venue = world.engine, world.venue
    parents = {parent.parent_id: parent for parent in world.gateway.extras["parents"].all_parents()}
    submitted = [record.payload["parent_id"] for record in read_records(world.directory)
                 if record.kind == "parent.submitted"]
    assert sorted(submitted) == sorted(parents), "every parent the journal accepted is back, once"
    assert len(resumed) >= 5, f"only {len(resumed)} parents were working at a restart"
    finished_after = [p for p in resumed if parents[p].status is ParentStatus.FINISHED]
    assert len(finished_after) >= 3, "resumed parents went on to finish"

    assert world.crashes >= MIN_CRASHES + 1, f"only {world.crashes - 1} crashes in the session"
    assert sum(count for moment, count in moments.items() if "while recovering" in moment) >= 3
    assert any("after journaling report" in moment for moment in moments)
    assert any(moment.startswith("after send") for moment in moments)
    cut_files = list(world.directory.glob("*.cut-*"))
    assert len(cut_files) == world.tails_torn >= 3  # every torn tail was cut (and kept aside), none accepted

    venue_fills = world.venue_fills()
    assert len(venue_fills) > 300, "the session should have traded"
    journal_fills = Counter(record.payload["exec_id"] for record in read_records(world.directory)
                            if record.kind == "report" and record.payload["exec_type"] == ExecType.TRADE.value)
    assert journal_fills == Counter({report.exec_id: 1 for report in venue_fills})  # every fill, exactly once

    positions = {key: position.quantity for key, position in engine.positions.items()}
    expected = world.expected_positions()
    assert {k: q for k, q in positions.items() if q} == {k: q for k, q in expected.items() if q}

    for order in engine.orders.by_id.values():  # every order finished, and finished as the venue has it
        assert not order.is_working, f"{order.order_id} still {order.status.value} after the close"
        book_order = venue.find_order(order.order_id)
        assert (book_order.filled_quantity if book_order else 0) == order.filled_quantity, order.order_id

    # the rebuilt state is exactly what a replay of the whole journal from its first record gives
    scratch = JournaledWorld(world.directory.parent / "scratch")
    replayer = Replayer(scratch.engine)
    for record in world.journal.records():
        replayer.apply(record)
    replayer.finish()
    assert world.state_bytes(scratch.engine) == world.state_bytes(engine)
    scratch.close()
    recovered = sum(summary.fills_recovered for summary in world.recoveries)
    resolved = sum(summary.orders_resolved + summary.requests_resolved for summary in world.recoveries)
    assert recovered > 0 and resolved > 0  # the crashes did leave loose ends, and recovery tied them
    print(f"crashes={world.crashes - 1} restarts={world.restarts} torn_tails={world.tails_torn} "
          f"orders={len(engine.orders.by_id)} venue_fills={len(venue_fills)} fills_recovered={recovered} "
          f"resolved={resolved} plugins={dict(trading.plugins)} parents={len(parents)} resumed={len(resumed)} "
          f"finished_after_resuming={len(finished_after)} parent_children="
          f"{sum(1 for o in engine.orders.by_id.values() if o.parent_id)} refusals={dict(trading.refusals)} "
          f"moments={dict(moments)}")
