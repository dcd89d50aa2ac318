"""Rebuild the engine from the journal at start, then reconcile it with every venue, and take periodic snapshots.

Replay runs the journal's records through the same state machine the live engine uses, without sending anything
and without telling anyone: ``order`` adds the order as it was sent, ``cancel``/``replace`` mark the request pending,
``report`` applies the venue's report (positions follow its fills), ``kill_switch`` sets the switch, and kinds with a
registered prefix go to their plug-in. The order id sequence continues after the highest id seen, so no id is reused.

Reconciliation then asks each venue, for every order the journal says is open, to resend what it reported (the
simulator's ``resend_executions``; a FIX session resends on logon) and for the order's status. Resent reports go
through the engine like live ones (fills dedupe on execution id, so each is applied once); each status answer then
settles its order: one the venue never heard of was never sent, so it is rejected (never resent: its ClOrdID is
deterministic and journaled); a cancel or replace that never arrived is rejected back and a cancel is asked again; a
venue that says an order is done closes it. Every change is journaled and published as it happens, and a
``RecoveryCompleted`` event says what recovery did.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import structlog

from adapters.base import VenueAdapter
from gateway.clock import NANOS_PER_SECOND, TimerHandle, TimerQueue
from gateway.journal import Journal, JournalRecord
from gateway.model import (
    ExecType,
    ExecutionReport,
    KillScope,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
    SymbolStatus,
    TimeInForce,
    TradePrint,
)
from gateway.orders import ALLOWED_FROM, FillRecord, Transition

log = structlog.get_logger(__name__)

SNAPSHOT_VERSION = 1
CORE_KINDS = frozenset({"order", "cancel", "replace", "report", "kill_switch"})


class Recoverable(Protocol):
    """A plug-in (parent orders, liquidation) that journals its own records and rebuilds itself from them.

    Register with ``engine.register_recoverable("parent.", handler)`` before recovery runs (in its attach function);
    journal with ``engine.journal_record("parent.submitted", payload)`` before acting, like the engine does.
    """

    def replay(self, kind: str, payload: Any) -> None:
        """Apply one of its records (kind starts with its prefix) to its state; never send, publish or arm timers."""

    def snapshot_state(self) -> Any:
        """Return its whole state as JSON-able data (dicts, lists, str, int, dataclasses), for a snapshot."""

    def restore_state(self, state: Any) -> None:
        """Replace its state with what ``snapshot_state`` returned (records after the snapshot follow by replay)."""

    def resume(self) -> None:
        """Continue after replay, before reconciliation: re-arm timers, re-read children from ``engine.orders``."""


@dataclass(slots=True)
class RecoveryCompleted:
    """What recovery found and did; published to every subscriber allowed to see all accounts."""

    ts_event: int
    records_replayed: int
    snapshot_sequence: int
    orders_rebuilt: int
    open_orders: int
    reports_recovered: int  # reports the venues resent that the journal did not have
    fills_recovered: int
    orders_resolved: int  # orders settled by a venue's status answer (unknown there, done there)
    requests_resolved: int  # cancels and replaces that never reached the venue
    cancels_reissued: int
    mismatches: list[str] = field(default_factory=list)
    tail_cut: list[dict[str, Any]] = field(default_factory=list)
    event: str = "RecoveryCompleted"
    account: str | None = None


# --- serialization of engine state ------------------------------------------------------------------------------

_ORDER_FIELDS = tuple(f.name for f in fields(Order))
_ORDER_VALUES = operator.attrgetter(*_ORDER_FIELDS)  # a tuple of values serializes five times faster than the object
_REPORT_FIELDS = tuple(f.name for f in fields(ExecutionReport))


def order_from_payload(payload: dict[str, Any]) -> Order:
    """Rebuild an ``Order`` from its journaled form."""
    values = {name: payload[name] for name in _ORDER_FIELDS if name in payload}
    values["side"] = Side(values["side"])
    values["order_type"] = OrderType(values["order_type"])
    values["time_in_force"] = TimeInForce(values["time_in_force"])
    values["status"] = OrderStatus(values.get("status", OrderStatus.PENDING_NEW.value))
    if values.get("status_before_pending") is not None:
        values["status_before_pending"] = OrderStatus(values["status_before_pending"])
    return Order(**values)


def report_from_payload(payload: dict[str, Any]) -> ExecutionReport:
    """Rebuild an ``ExecutionReport`` from its journaled form."""
    values = {name: payload[name] for name in _REPORT_FIELDS if name in payload}
    values["exec_type"] = ExecType(values["exec_type"])
    if values.get("order_status") is not None:
        values["order_status"] = OrderStatus(values["order_status"])
    return ExecutionReport(**values)


def capture_state(engine: Any) -> dict[str, Any]:
    """The engine's journaled state as JSON-able data; serialize it before the engine moves on."""
    store = engine.orders
    kill = engine.risk.kill_switch
    return {
        "version": SNAPSHOT_VERSION,
        "order_sequence": engine.order_sequence,
        "order_fields": _ORDER_FIELDS,
        "orders": [_ORDER_VALUES(order) for order in store.by_id.values()],
        "aliases": sorted([client_order_id, order.order_id] for client_order_id, order in store.by_venue_id.items()
                          if client_order_id != order.order_id),
        "fills": [[venue, exec_id, fill.order_id, fill.quantity, fill.price]
                  for (venue, exec_id), fill in store.fills.items()],
        "positions": list(engine.positions.values()),
        "kill_switch": {"global": kill.global_engaged, "accounts": sorted(kill.accounts),
                        "traders": sorted(kill.traders)},
        "plugins": {prefix: handler.snapshot_state() for prefix, handler in engine.recoverables.items()},
    }


def restore_state(engine: Any, state: dict[str, Any]) -> None:
    """Replace the engine's journaled state with a snapshot's."""
    if state.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"snapshot version {state.get('version')!r} is not {SNAPSHOT_VERSION}")
    store = engine.orders
    store.by_id.clear()
    store.by_venue_id.clear()
    store.client_ids.clear()
    store.open_by_account.clear()
    store.fills.clear()
    order_fields = state["order_fields"]
    for values in state["orders"]:
        order = order_from_payload(dict(zip(order_fields, values)))
        store.by_id[order.order_id] = order
        store.by_venue_id[order.order_id] = order
        store.by_venue_id[order.venue_client_order_id] = order
        store.client_ids.setdefault(order.account, set()).add(order.client_order_id)
        if order.is_working:
            store.open_by_account.setdefault(order.account, {})[order.order_id] = order
    for client_order_id, order_id in state["aliases"]:
        store.by_venue_id[client_order_id] = store.by_id[order_id]
    for venue, exec_id, order_id, quantity, price in state["fills"]:
        store.fills[(venue, exec_id)] = FillRecord(order_id, quantity, price)
    engine.clear_positions()
    for payload in state["positions"]:
        position = Position(payload["account"], payload["symbol"], payload["quantity"], payload["cost"],
                            payload["realized_pnl"], frozenset(payload.get("tags", ())))
        engine.set_position(position)
    kill = engine.risk.kill_switch
    kill.global_engaged = bool(state["kill_switch"]["global"])
    kill.accounts = set(state["kill_switch"]["accounts"])
    kill.traders = set(state["kill_switch"]["traders"])
    engine.order_sequence = max(engine.order_sequence, int(state["order_sequence"]))
    for prefix, plugin_state in state.get("plugins", {}).items():
        handler = engine.recoverables.get(prefix)
        if handler is None:
            log.error("journal_plugin_missing", prefix=prefix, reason="the snapshot holds its state but no plug-in "
                      "registered for it; its state is not restored")
            continue
        handler.restore_state(plugin_state)


def _suffix_number(client_order_id: str, marker: str) -> int:
    head, _, tail = client_order_id.rpartition(marker)
    return int(tail) if head and tail.isdigit() else 0


class Replayer:
    """Apply journal records to an engine, the way the live engine applied them, without side effects."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.records = 0
        self.unhandled: dict[str, int] = {}
        self.seen_exec_ids: set[tuple[str, str]] = set()  # (venue, exec_id) of every replayed report

    def apply(self, record: JournalRecord) -> None:
        self.records += 1
        kind = record.kind
        payload = record.payload
        if kind == "report":
            self._report(payload)
        elif kind == "order":
            self._order(payload)
        elif kind == "cancel":
            self._pending(payload, OrderStatus.PENDING_CANCEL)
        elif kind == "replace":
            self._pending(payload, OrderStatus.PENDING_REPLACE)
        elif kind == "kill_switch":
            self.engine.risk.kill_switch.set(KillScope(payload["scope"]), payload["target"], payload["engaged"])
        else:
            prefix = kind.partition(".")[0] + "."
            handler = self.engine.recoverables.get(prefix)
            if handler is None:
                if kind not in self.unhandled:
                    log.error("journal_record_unhandled", kind=kind, sequence=record.sequence,
                              reason="no plug-in registered for this kind; its state is not rebuilt")
                self.unhandled[kind] = self.unhandled.get(kind, 0) + 1
                return
            handler.replay(kind, payload)

    def finish(self) -> None:
        """Continue the order id sequence after the highest id the journal holds."""
        engine = self.engine
        pattern = re.compile(rf"^{re.escape(engine.id_prefix)}(\d+)$")
        highest = engine.order_sequence
        for order_id in engine.orders.by_id:
            match = pattern.match(order_id)
            if match:
                highest = max(highest, int(match.group(1)))
        engine.order_sequence = highest

    def _order(self, payload: dict[str, Any]) -> None:
        order = order_from_payload(payload)
        store = self.engine.orders
        if order.order_id in store.by_id:
            log.error("journal_order_duplicate", order_id=order.order_id)
            return
        store.add(order)

    def _pending(self, payload: dict[str, Any], status: OrderStatus) -> None:
        order = self.engine.orders.by_id.get(payload["order_id"])
        if order is None or not order.is_working:
            log.error("journal_request_for_unknown_order", order_id=payload["order_id"], status=status.value)
            return
        client_order_id = payload["client_order_id"]
        if status is OrderStatus.PENDING_CANCEL:
            order.cancel_count = max(order.cancel_count + 1, _suffix_number(client_order_id, ".C"))
        else:
            order.replace_count = max(order.replace_count + 1, _suffix_number(client_order_id, ".R"))
            order.pending_quantity = payload["quantity"]
            order.pending_limit_price = payload["limit_price"]
        self.engine.orders.mark_pending(order, client_order_id, status)

    def _report(self, payload: dict[str, Any]) -> None:
        report = report_from_payload(payload)
        if report.exec_id:
            self.seen_exec_ids.add((report.venue, report.exec_id))
        engine = self.engine
        order = engine.orders.find(report)
        if order is None:
            return
        transition = engine.orders.apply_report(order, report)
        if transition is not None and (transition.fill_quantity or transition.reversed_quantity):
            apply_to_position(engine, order, transition)


def apply_to_position(engine: Any, order: Order, transition: Transition) -> None:
    """Move the position by a transition's fill, as the engine does (without publishing)."""
    position = engine.position(order.account, order.symbol)
    if transition.reversed_quantity:
        position.apply_fill(order.side.opposite, transition.reversed_quantity, transition.reversed_price)
    if transition.fill_quantity:
        position.apply_fill(order.side, transition.fill_quantity, transition.fill_price)


# --- reconciliation ---------------------------------------------------------------------------------------------


class VenueReconciliation:
    """Stands between one venue and the engine while it is reconciled: forwards everything, settles status answers."""

    def __init__(self, recovery: Recovery, adapter: VenueAdapter) -> None:
        self.recovery = recovery
        self.engine = recovery.engine
        self.adapter = adapter
        self.asked: dict[str, Order] = {}  # ClOrdID asked about -> order
        self.done = False

    def start(self) -> None:
        engine = self.engine
        name = self.adapter.name
        open_orders = [order for order in engine.orders.open_orders() if order.venue == name]
        if not open_orders:
            self.done = True
            return
        self.asked = {order.venue_client_order_id: order for order in open_orders}
        known_ids = [client_order_id for client_order_id, order in engine.orders.by_venue_id.items()
                     if order.venue == name and order.is_working]
        self.adapter.bind(self)
        resend = getattr(self.adapter, "resend_executions", None)
        if resend is not None:
            resend(known_ids)
        self.adapter.request_status(open_orders)
        log.info("reconcile_started", venue=name, open_orders=len(open_orders), resend=resend is not None)

    def finish(self) -> None:
        if not self.done:
            self.done = True
            self.adapter.bind(self.engine)

    # --- VenueListener ------------------------------------------------------------------------------------------

    def on_execution(self, report: ExecutionReport) -> None:
        if report.exec_type is ExecType.ORDER_STATUS and report.client_order_id in self.asked:
            self._settle(self.asked.pop(report.client_order_id), report)
            if not self.asked:
                self.finish()
                self.recovery._venue_done()
            return
        recovery = self.recovery
        key = (report.venue, report.exec_id or "")
        if report.exec_id and key in recovery.seen_exec_ids:
            recovery.duplicates_dropped += 1
            return
        if report.possible_duplicate and self._stale(report):
            recovery.duplicates_dropped += 1
            return
        if report.exec_id:
            recovery.seen_exec_ids.add(key)
        fills_before = len(self.engine.orders.fills)
        self.engine.on_execution(report)
        if report.possible_duplicate:  # a resent report the journal did not have (live ones pass through too)
            recovery.summary.reports_recovered += 1
            recovery.summary.fills_recovered += len(self.engine.orders.fills) - fills_before

    def on_quote(self, quote: Quote) -> None:
        self.engine.on_quote(quote)

    def on_trade(self, trade: TradePrint) -> None:
        self.engine.on_trade(trade)

    def on_symbol_status(self, status: SymbolStatus) -> None:
        self.engine.on_symbol_status(status)

    def on_venue_connected(self, venue: str, connected: bool) -> None:
        self.engine.on_venue_connected(venue, connected)

    # --- settling -----------------------------------------------------------------------------------------------

    def _stale(self, report: ExecutionReport) -> bool:
        """Whether a resent report was applied before the crash: the state machine would refuse it, or it answers a
        cancel or replace that is no longer the pending one (applying it would move the order by the wrong request)."""
        order = self.engine.orders.find(report)
        if order is None:
            return True
        exec_type = report.exec_type
        if exec_type is ExecType.TRADE:
            return False  # fills dedupe on their execution id in the engine
        if order.status not in ALLOWED_FROM[exec_type]:
            return True
        if exec_type in (ExecType.REPLACED, ExecType.CANCEL_REJECTED) or (
                exec_type is ExecType.CANCELED and report.orig_client_order_id is not None):
            if report.client_order_id not in self.engine.orders.by_venue_id:
                return False  # answers a cancel sent while the journal was down: news, not a duplicate
            return order.pending_client_order_id != report.client_order_id
        return False

    def _settle(self, order: Order, answer: ExecutionReport) -> None:
        summary = self.recovery.summary
        if not order.is_working:
            return  # the resent reports closed it already
        reason = answer.reject_reason or ""
        if answer.cumulative_quantity is None and answer.order_status is None:
            self._mismatch(order, f"no status from {answer.venue}: {reason or 'empty answer'}")
            return
        if answer.order_status is OrderStatus.REJECTED or reason.startswith("UNKNOWN_ORDER"):
            if order.filled_quantity:
                # the venue lost it (a new session, a new day): its fills stand, the rest works nowhere; say so
                self._mismatch(order, f"{answer.venue} does not know order {order.order_id} that has fills; "
                                      "its leaves quantity is closed here")
                self._resolve(order, ExecType.CANCELED, f"RECOVERY_UNKNOWN_AT_VENUE: {answer.venue} has no order "
                                                        f"{order.venue_client_order_id}")
                return
            # journaled before sending but never arrived: it is not working anywhere, and it is never sent again
            self._resolve(order, ExecType.REJECTED if order.status is OrderStatus.PENDING_NEW else ExecType.CANCELED,
                          f"RECOVERY_UNKNOWN_AT_VENUE: {answer.venue} has no order {order.venue_client_order_id}; "
                          "it never arrived and is not resent")
            summary.orders_resolved += 1
            return
        cumulative = answer.cumulative_quantity or 0
        if cumulative != order.filled_quantity:
            self._mismatch(order, f"{answer.venue} reports {cumulative} filled, the journal {order.filled_quantity}")
            return
        leaves = answer.leaves_quantity
        if leaves == 0:
            exec_type = ExecType.EXPIRED if answer.order_status is OrderStatus.EXPIRED else ExecType.CANCELED
            self._resolve(order, exec_type, f"RECOVERY_DONE_AT_VENUE: {answer.venue} reports no leaves quantity")
            summary.orders_resolved += 1
            return
        if order.status is OrderStatus.PENDING_NEW:
            self._apply(ExecutionReport(answer.venue, ExecType.NEW, order.venue_client_order_id,
                                        venue_order_id=answer.venue_order_id, cumulative_quantity=cumulative,
                                        leaves_quantity=leaves, ts_event=self.engine.clock.now_ns()))
            summary.orders_resolved += 1
            return
        if order.pending_client_order_id is not None:
            # the venue answered the status after every earlier message: a request it never answered never arrived
            was_cancel = order.status is OrderStatus.PENDING_CANCEL
            request = "cancel" if was_cancel else "replace"
            self._apply(ExecutionReport(answer.venue, ExecType.CANCEL_REJECTED, order.pending_client_order_id,
                                        orig_client_order_id=order.venue_client_order_id,
                                        reject_reason=f"RECOVERY_NOT_RECEIVED: the {request} never reached "
                                                      f"{answer.venue}" + ("; it is sent again" if was_cancel else ""),
                                        ts_event=self.engine.clock.now_ns()))
            summary.requests_resolved += 1
            if was_cancel and order.is_working and self.engine.request_cancel(order) is None:
                summary.cancels_reissued += 1

    def _resolve(self, order: Order, exec_type: ExecType, reason: str) -> None:
        log.warning("reconcile_order_resolved", order_id=order.order_id, status=order.status.value,
                    exec_type=exec_type.value, reason=reason)
        self._apply(ExecutionReport(order.venue, exec_type, order.venue_client_order_id, reject_reason=reason,
                                    cumulative_quantity=order.filled_quantity, leaves_quantity=0,
                                    ts_event=self.engine.clock.now_ns()))

    def _apply(self, report: ExecutionReport) -> None:
        self.engine.on_execution(report)  # journaled and published like any report: a crash here replays it

    def _mismatch(self, order: Order, message: str) -> None:
        text = f"order {order.order_id} ({order.venue_client_order_id}): {message}"
        log.error("reconcile_mismatch", order_id=order.order_id, venue=order.venue, message=message)
        self.recovery.summary.mismatches.append(text)


class Recovery:
    """Replay the journal into ``engine``, reconcile with its venues, and keep taking snapshots."""

    def __init__(self, engine: Any, journal: Journal, timers: TimerQueue | None = None) -> None:
        self.engine = engine
        self.journal = journal
        self.timers = timers if timers is not None else engine.timers
        self.summary = RecoveryCompleted(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, tail_cut=list(journal.cut_tails))
        self.seen_exec_ids: set[tuple[str, str]] = set()
        self.duplicates_dropped = 0
        self.reconciled = False
        self._venues: list[VenueReconciliation] = []
        self._deadline: TimerHandle | None = None
        self._snapshot_timer: TimerHandle | None = None
        self._waiters: list[asyncio.Future[RecoveryCompleted]] = []

    # --- replay -------------------------------------------------------------------------------------------------

    def replay(self) -> RecoveryCompleted:
        """Rebuild the engine's state (and its plug-ins') from the latest snapshot and the records after it."""
        engine = self.engine
        snapshot = self.journal.latest_snapshot()
        after = 0
        if snapshot is not None:
            restore_state(engine, snapshot.state)
            after = snapshot.sequence
        replayer = Replayer(engine)
        for record in self.journal.records(after):
            replayer.apply(record)
        replayer.finish()
        self.seen_exec_ids = replayer.seen_exec_ids
        summary = self.summary
        summary.records_replayed = replayer.records
        summary.snapshot_sequence = after
        summary.orders_rebuilt = len(engine.orders.by_id)
        summary.open_orders = sum(1 for order in engine.orders.by_id.values() if order.is_working)
        log.info("journal_replayed", snapshot_sequence=after, records=replayer.records,
                 orders=summary.orders_rebuilt, open_orders=summary.open_orders,
                 order_sequence=engine.order_sequence, unhandled=replayer.unhandled or None)
        for handler in engine.recoverables.values():
            handler.resume()
        return summary

    # --- reconciliation -----------------------------------------------------------------------------------------

    def start_reconciliation(self, timeout_ns: int = 10 * NANOS_PER_SECOND) -> None:
        """Ask every venue about the open orders; finishes when all answered, or at the timeout with mismatches."""
        self.reconciled = False
        self._venues = [VenueReconciliation(self, adapter) for adapter in self.engine.adapters.values()]
        self._deadline = self.timers.call_later(timeout_ns, self._on_deadline)
        for venue in self._venues:
            if not venue.adapter.connected:
                venue.done = True
                self.summary.mismatches.append(f"venue {venue.adapter.name} is not connected: its "
                                               f"{sum(1 for o in self.engine.orders.open_orders() if o.venue == venue.adapter.name)}"
                                               " open orders are not reconciled")
                log.error("reconcile_venue_unavailable", venue=venue.adapter.name)
                continue
            venue.start()
        self._venue_done()

    def _venue_done(self) -> None:
        if self.reconciled or not all(venue.done for venue in self._venues):
            return
        self.reconciled = True
        if self._deadline is not None:
            self._deadline.cancel()
        summary = self.summary
        summary.ts_event = self.engine.clock.now_ns()
        summary.open_orders = sum(1 for order in self.engine.orders.by_id.values() if order.is_working)
        log_method = log.error if summary.mismatches else log.info
        log_method("recovery_completed", records_replayed=summary.records_replayed,
                   orders_rebuilt=summary.orders_rebuilt, open_orders=summary.open_orders,
                   reports_recovered=summary.reports_recovered, fills_recovered=summary.fills_recovered,
                   orders_resolved=summary.orders_resolved, requests_resolved=summary.requests_resolved,
                   cancels_reissued=summary.cancels_reissued, duplicates_dropped=self.duplicates_dropped,
                   mismatches=len(summary.mismatches), tail_cut=len(summary.tail_cut))
        self.engine.publish(summary)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(summary)

    def _on_deadline(self) -> None:
        for venue in self._venues:
            for order in venue.asked.values():
                venue._mismatch(order, f"{venue.adapter.name} did not answer the status request in time")
            venue.asked.clear()
            venue.finish()
        self._venue_done()

    async def reconcile(self, timeout_s: float = 10.0) -> RecoveryCompleted:
        """Wait for the venues to connect (up to ``timeout_s``), reconcile, and return the summary."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not all(a.connected for a in self.engine.adapters.values()) and loop.time() < deadline:
            await asyncio.sleep(0.05)  # start-up only: a FIX logon completes on its own schedule
        waiter: asyncio.Future[RecoveryCompleted] = loop.create_future()
        self._waiters.append(waiter)
        self.start_reconciliation(int(max(0.1, deadline - loop.time()) * NANOS_PER_SECOND))
        return await waiter

    # --- snapshots ----------------------------------------------------------------------------------------------

    def snapshot(self) -> Path:
        """Write the engine's state as of now; replay then starts from here.

        It runs on the engine's loop (the state must not move while it is read) and costs about 6 µs per order of
        the day plus the file's fsync: see benchmarks/RESULTS.md. The collector is held off meanwhile: the many
        short-lived tuples would otherwise trigger full collections over the whole engine.
        """
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self.journal.write_snapshot(capture_state(self.engine))
        finally:
            if collecting:
                gc.enable()

    def schedule_snapshots(self, interval_ns: int | None = None) -> None:
        """Take a snapshot every ``interval_ns`` (default: the journal's snapshot_interval_s; 0 turns it off)."""
        if interval_ns is None:
            interval_ns = self.journal.config.snapshot_interval_s * NANOS_PER_SECOND
        if interval_ns <= 0:
            return

        def take() -> None:
            if self.journal.healthy:
                try:
                    self.snapshot()
                except OSError as error:
                    log.error("journal_snapshot_failed", error=str(error))
            self._snapshot_timer = self.timers.call_later(interval_ns, take)

        self._snapshot_timer = self.timers.call_later(interval_ns, take)

    def close(self) -> None:
        """A clean stop: last snapshot (a fast next start), stop the snapshot timer, sync and close the journal."""
        if self._snapshot_timer is not None:
            self._snapshot_timer.cancel()
        if self.journal.healthy:
            try:
                self.snapshot()
            except OSError as error:
                log.error("journal_snapshot_failed", error=str(error))
        self.journal.close()

