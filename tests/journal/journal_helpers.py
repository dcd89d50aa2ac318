"""A journaled gateway on a SimClock whose simulated venue survives the gateway: crash it anywhere, restart, check.

The venue keeps its own TimerQueue; each gateway incarnation gets a fresh one, so a dead gateway's timers die with it.
Both queues share the SimClock and are stepped together in time order. A crash is a ``SimulatedCrash`` raised from
inside the gateway (the journal or the venue adapter) at a chosen operation count: whatever the gateway held in
memory is dropped without cleanup; only what reached the journal file survives, and the venue carries on.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson

from adapters.base import IgnoringListener
from adapters.sim.venue import SimVenue
from gateway.app import Gateway, build_gateway, make_adapter
from gateway.clock import SimClock, TimerQueue
from gateway.config import GatewayConfig, Principal, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.journal import FsyncPolicy, Journal, JournalConfig, _default
from gateway.model import ExecType, ExecutionReport, Order
from gateway.recovery import Recovery, RecoveryCompleted, capture_state

START_NS = 1_795_000_000_000_000_000
MS = 1_000_000


class SimulatedCrash(BaseException):
    """The gateway process dies here (a BaseException, so no ``except Exception`` in the gateway can swallow it)."""


class CrashPlan:
    """Counts the gateway's operations; the armed one raises SimulatedCrash."""

    def __init__(self) -> None:
        self.countdown: int | None = None
        self.operations = 0
        self.journal_moment: str | None = None  # "before" or "after" the journal write; None: either, at random

    def arm(self, after_operations: int, journal_moment: str | None = None) -> None:
        self.countdown = after_operations
        self.journal_moment = journal_moment

    def disarm(self) -> None:
        self.countdown = None

    def due(self) -> bool:
        self.operations += 1
        if self.countdown is None:
            return False
        self.countdown -= 1
        if self.countdown <= 0:
            self.countdown = None
            return True
        return False


class CrashingJournal:
    """The engine's journal, dying before or after the write when the plan says so."""

    def __init__(self, journal: Journal, plan: CrashPlan, rng: random.Random) -> None:
        self.journal = journal
        self.plan = plan
        self.rng = rng

    def append(self, kind: str, payload: object) -> None:
        if self.plan.due():
            moment = self.plan.journal_moment or ("before" if self.rng.random() < 0.5 else "after")
            if moment == "before":
                raise SimulatedCrash(f"before journaling {kind}")
            self.journal.append(kind, payload)
            raise SimulatedCrash(f"after journaling {kind}")
        self.journal.append(kind, payload)


class CrashingVenue:
    """The venue adapter as the gateway sees it: requests reach the venue, then the gateway may die."""

    def __init__(self, venue: SimVenue, plan: CrashPlan) -> None:
        self.venue = venue
        self.plan = plan
        self.name = venue.name

    @property
    def connected(self) -> bool:
        return self.venue.connected

    def bind(self, listener: Any) -> None:
        self.venue.bind(listener)

    async def start(self) -> None:
        self.venue.connect()

    async def stop(self) -> None:
        self.venue.disconnect()

    def send_new(self, order: Order) -> None:
        self.venue.send_new(order)
        if self.plan.due():
            raise SimulatedCrash("after send_new")

    def send_cancel(self, order: Order, cancel_client_order_id: str) -> None:
        self.venue.send_cancel(order, cancel_client_order_id)
        if self.plan.due():
            raise SimulatedCrash("after send_cancel")

    def send_replace(self, order: Order, replace_client_order_id: str, quantity: int, limit_price: int | None) -> None:
        self.venue.send_replace(order, replace_client_order_id, quantity, limit_price)
        if self.plan.due():
            raise SimulatedCrash("after send_replace")

    def request_status(self, orders: list[Order]) -> None:
        self.venue.request_status(orders)

    def resend_executions(self, client_order_ids: Any) -> None:
        self.venue.resend_executions(client_order_ids)


def journal_config_data(session_s: int = 600) -> dict[str, Any]:
    data = demo_config_data()
    data["venues"][0].update({"open_market": False, "session_ns": session_s * 1_000_000_000})
    data["risk"]["max_open_orders"] = 100_000
    return data


class JournaledWorld:
    """One simulated venue, and a gateway with a journal in ``directory`` that can crash and restart against it."""

    def __init__(self, directory: Path, seed: int = 1, fsync: FsyncPolicy = FsyncPolicy.NEVER,
                 snapshot_interval_ns: int = 0, session_s: int = 600, config_data: dict[str, Any] | None = None,
                 latency_ns: int | None = None) -> None:
        self.directory = directory
        self.rng = random.Random(seed)
        self.fsync = fsync
        self.snapshot_interval_ns = snapshot_interval_ns
        data = config_data or journal_config_data(session_s)
        if latency_ns is not None:
            data["venues"][0]["latency_ns"] = latency_ns
        self.config: GatewayConfig = parse_config(data)
        self.clock = SimClock(START_NS)
        self.venue_timers = TimerQueue(self.clock)
        self.plan = CrashPlan()
        self.crashes = 0
        self.restarts = 0
        self.tails_torn = 0
        self.events: list[Any] = []
        self.recoveries: list[RecoveryCompleted] = []
        self.venue: SimVenue = make_adapter(self.config.venues[0], self.config, self.venue_timers)  # type: ignore
        self.venue.bind(IgnoringListener())  # the gateway process is gone: nowhere
        self.gateway: Gateway
        self.journal: Journal
        self.recovery: Recovery
        self._start_gateway(reconcile=False)
        self.venue.connect()

    # --- the gateway's life ---------------------------------------------------------------------------------------

    def _start_gateway(self, reconcile: bool) -> RecoveryCompleted | None:
        self.journal = Journal(self.directory, JournalConfig(fsync=self.fsync), self.clock)
        self.gateway_timers = TimerQueue(self.clock)
        self.gateway = build_gateway(self.config, self.clock, self.gateway_timers,
                                     journal=CrashingJournal(self.journal, self.plan, self.rng),
                                     adapters={"SIM": CrashingVenue(self.venue, self.plan)})
        self.engine = self.gateway.engine
        self.engine.subscribe(self.principal("risk"), self.events.append)
        self.recovery = Recovery(self.engine, self.journal, self.gateway_timers)
        self.recovery.replay()
        if self.snapshot_interval_ns:
            self.recovery.schedule_snapshots(self.snapshot_interval_ns)
        if not reconcile:
            return None
        self.venue.connect()
        self.recovery.start_reconciliation()
        deadline = self.clock.now_ns() + 20_000 * MS
        while not self.recovery.reconciled and self.clock.now_ns() < deadline:
            self.advance_ns(MS)
        assert self.recovery.reconciled, "reconciliation did not finish"
        self.recoveries.append(self.recovery.summary)
        return self.recovery.summary

    def crash(self, tear_tail: bool = False) -> None:
        """Drop the gateway without cleanup: the venue loses the session; the journal keeps what reached the OS."""
        self.crashes += 1
        self.plan.disarm()
        self.venue.bind(IgnoringListener())  # the gateway process is gone: nowhere
        self.venue.disconnect()
        self.journal.abandon()
        if tear_tail:
            self.tear_tail()

    def tear_tail(self) -> None:
        """Leave a partly written record at the end of the last segment, as a power cut mid-write would."""
        segments = sorted(self.directory.glob("journal-*.wal"))
        frame = orjson.dumps([0, "order", {"torn": "x" * self.rng.randint(1, 200)}])
        header = (len(frame)).to_bytes(4, "little") + b"\xde\xad\xbe\xef" + (self.journal.sequence + 1).to_bytes(8, "little")
        torn = (header + frame)[: self.rng.randint(1, len(header) + len(frame) - 1)]
        with open(segments[-1], "ab") as handle:
            handle.write(torn)
        self.tails_torn += 1

    def restart(self) -> RecoveryCompleted:
        """Start a new gateway on the journal, replay, reconnect and reconcile with the venue (it may crash again)."""
        self.restarts += 1
        summary = self._start_gateway(reconcile=True)
        assert summary is not None
        return summary

    def close(self) -> None:
        self.journal.abandon()

    # --- time -------------------------------------------------------------------------------------------------------

    def advance_ns(self, delta_ns: int) -> None:
        """Step the venue's and the gateway's timers together, in time order."""
        target = self.clock.now_ns() + delta_ns
        queues = (self.venue_timers, self.gateway_timers)
        while True:
            dues = [due for due in (queue.next_due_ns() for queue in queues) if due is not None and due <= target]
            if not dues:
                break
            earliest = min(dues)
            for queue in queues:
                queue.advance_to(earliest)
        for queue in queues:
            queue.advance_to(target)

    # --- people -----------------------------------------------------------------------------------------------------

    def principal(self, name: str) -> Principal:
        return self.config.principals[DEMO_KEYS[name]]

    # --- what the venue knows ---------------------------------------------------------------------------------------

    def venue_fills(self) -> list[ExecutionReport]:
        return [r for r in self.venue.executions() if r.exec_type is ExecType.TRADE]

    def expected_positions(self) -> dict[tuple[str, str], int]:
        """Start positions plus every fill the venue made, signed by the side the venue has for the order."""
        positions: dict[tuple[str, str], int] = {}
        for account in self.config.accounts.values():
            for symbol, quantity in account.start_positions.items():
                positions[(account.account_id, symbol)] = quantity
        accounts = self._accounts_by_client_order_id()
        for report in self.venue_fills():
            book_order = self.venue.find_order(report.client_order_id)
            assert book_order is not None, report
            key = (accounts[report.client_order_id], book_order.symbol)
            positions[key] = positions.get(key, 0) + book_order.side.sign * report.last_quantity
        return positions

    def _accounts_by_client_order_id(self) -> dict[str, str]:
        return {client_order_id: order.account for client_order_id, order in self.engine.orders.by_venue_id.items()}

    def state_bytes(self, engine: Any) -> bytes:
        return orjson.dumps(capture_state(engine), default=_default, option=orjson.OPT_SORT_KEYS)
