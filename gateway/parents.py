"""Parent orders: the host that owns each parent's algorithm and turns its actions into child orders.

The engine implements ``ChildOrderPort`` (send, cancel and replace a child; publish an event; the last quote) and
feeds the manager what happens: child order updates, quotes and trade prints. Every parent's wake-ups share the one
``TimerQueue``: 10,000 parents are 10,000 heap entries, not 10,000 tasks. The manager never awaits and never reads the
wall clock; with a SimClock a whole session replays identically.

Reports that arrive while the manager is already handling something (a venue that answers inside ``send_child``) are
queued and handled right after, in order, so an algorithm never sees an event in the middle of its own decision.
The engine must call ``on_child_update`` after the child's ``Order`` has been updated: fills are taken from its
cumulative ``filled_quantity`` and ``filled_cost``, so busts and corrections move the parent exactly too.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any, Protocol

import structlog

from algos import create_algorithm
from algos.base import (
    Action,
    AlgoState,
    CancelChild,
    Finish,
    FinishReason,
    MarketTape,
    ReplaceChild,
    ScheduledAlgorithm,
    SendChild,
    WakeAt,
)
from algos.curves import VolumeCurve
from gateway.clock import TimerHandle, TimerQueue
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
    TradePrint,
    refuse,
)
from gateway.tca.live import LiveShortfall

log = structlog.get_logger(__name__)


class ChildOrderPort(Protocol):
    """What the manager needs of the engine."""

    def send_child(self, parent: ParentOrder, child_id: str, side: Side, order_type: OrderType, quantity: int,
                   limit_price: int | None, time_in_force: TimeInForce) -> Refusal | None: ...

    def cancel_child(self, child_id: str) -> Refusal | None: ...

    def replace_child(self, child_id: str, quantity: int, limit_price: int | None) -> Refusal | None: ...

    def publish(self, event: object) -> None: ...  # events are slots dataclasses with an `event` name and `account`

    def last_quote(self, symbol: str) -> Quote | None: ...


class ParentStatus(str, Enum):
    ACCEPTED = "ACCEPTED"  # waiting for its start time
    WORKING = "WORKING"
    PAUSED = "PAUSED"
    STOPPING = "STOPPING"  # canceling its children before it finishes
    FINISHED = "FINISHED"


_STATUS_OF = {
    AlgoState.PENDING: ParentStatus.ACCEPTED,
    AlgoState.RUNNING: ParentStatus.WORKING,
    AlgoState.PAUSED: ParentStatus.PAUSED,
    AlgoState.STOPPING: ParentStatus.STOPPING,
    AlgoState.DONE: ParentStatus.FINISHED,
}


@dataclass(slots=True)
class ParentOrder:
    """One parent order: what was asked, its algorithm, its live TCA and where it stands."""

    parent_id: str
    client_order_id: str
    account: str
    principal: str
    symbol: str
    side: Side
    algo: str
    params: dict[str, Any]
    instrument: Instrument
    algorithm: ScheduledAlgorithm
    arrival_price: int
    ts_created: int
    cash_amount: int | None = None
    tca: LiveShortfall | None = None
    liquidation: bool = False  # parents are a trader's; the engine's send_child reads this
    finish_reason: FinishReason | None = None
    ts_finished: int | None = None
    timer: TimerHandle | None = None
    wake: Callable[[], None] | None = None
    child_fills: dict[str, tuple[int, int]] = field(default_factory=dict)  # child -> (filled, cost) seen so far

    @property
    def status(self) -> ParentStatus:
        return _STATUS_OF[self.algorithm.state]

    @property
    def quantity(self) -> int:
        return self.algorithm.quantity

    @property
    def filled_quantity(self) -> int:
        return self.algorithm.filled

    @property
    def filled_cost(self) -> int:
        return self.algorithm.filled_cost

    @property
    def leaves_quantity(self) -> int:
        return 0 if self.algorithm.state is AlgoState.DONE else max(0, self.quantity - self.filled_quantity)

    @property
    def is_working(self) -> bool:
        return self.algorithm.state is not AlgoState.DONE


# --- events: past tense --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ParentAccepted:
    ts_event: int
    account: str
    parent_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    algo: str
    start_ns: int
    end_ns: int | None
    limit_price: str | None
    arrival_price: str
    cash_amount: int | None = None
    event: str = "ParentAccepted"


@dataclass(slots=True)
class ParentProgressed:
    """A fill (or a correction) moved the parent: filled against the schedule, expected completion, live TCA."""

    ts_event: int
    account: str
    parent_id: str
    symbol: str
    side: Side
    quantity: int
    filled_quantity: int
    leaves_quantity: int
    average_price: str | None
    last_quantity: int
    last_price: str | None
    schedule_target: int  # shares the schedule wanted filled by now
    schedule_deviation: int  # filled minus target: positive ahead, negative behind
    lower_bound: int
    upper_bound: int
    expected_completion_ns: int | None
    market_volume: int  # others' volume printed since the start
    tca: dict[str, object] | None = None  # gateway.tca.live.LiveShortfall.snapshot()
    event: str = "ParentProgressed"


@dataclass(slots=True)
class ParentPaused:
    ts_event: int
    account: str
    parent_id: str
    filled_quantity: int
    event: str = "ParentPaused"


@dataclass(slots=True)
class ParentResumed:
    ts_event: int
    account: str
    parent_id: str
    filled_quantity: int
    event: str = "ParentResumed"


@dataclass(slots=True)
class ParentAmended:
    ts_event: int
    account: str
    parent_id: str
    changes: dict[str, object]
    quantity: int
    event: str = "ParentAmended"


@dataclass(slots=True)
class ParentFinished:
    ts_event: int
    account: str
    parent_id: str
    reason: str  # algos.base.FinishReason value
    quantity: int
    filled_quantity: int
    average_price: str | None
    children_sent: int
    tca: dict[str, object] | None = None
    event: str = "ParentFinished"


@dataclass(slots=True)
class _ChildUpdate:
    """What a child's Order said at the moment of the update (the Order may move on before a queued one is handled)."""

    child_id: str
    event: str
    status: OrderStatus
    quantity: int
    limit_price: int | None
    filled_quantity: int
    filled_cost: int
    last_quantity: int
    last_price: int | None
    reason: str


# --- the manager ---------------------------------------------------------------------------------------------------


class ParentOrderManager:
    """Owns parent orders and their algorithms; carries their actions out through a ChildOrderPort."""

    def __init__(
        self,
        port: ChildOrderPort,
        timers: TimerQueue,
        instruments: dict[str, Instrument],
        *,
        curves: Mapping[str, VolumeCurve] | None = None,
        id_prefix: str = "P",
        wake_observer: Callable[[int, int], None] | None = None,
    ) -> None:
        self.port = port
        self.timers = timers
        self.clock = timers.clock
        self.instruments = instruments
        self.curves = dict(curves or {})
        self.id_prefix = id_prefix
        self.wake_observer = wake_observer  # (intended_ns, actual_ns) of every wake, for lateness metrics
        self.parent_sequence = 0
        self._parents: dict[str, ParentOrder] = {}
        self._active_by_symbol: dict[str, dict[str, ParentOrder]] = {}
        self._by_client_id: dict[tuple[str, str], ParentOrder] = {}
        self._child_parent: dict[str, ParentOrder] = {}
        self._last_trade_price: dict[str, int] = {}
        self._last_prices: dict[str, tuple[int, int]] = {}  # bid and ask of the last quote per symbol
        self._tapes: dict[str, MarketTape] = {}  # others' volume per symbol, counted once for every parent
        self._print_subscribers: dict[str, dict[str, ParentOrder]] = {}  # parents that react to each print
        self._quote_subscribers: dict[str, dict[str, ParentOrder]] = {}  # parents that need quotes with no price move
        self._busy = False
        self._deferred: deque[Callable[[], None]] = deque()
        self.children_sent = 0
        # journals a record before the manager acts: (kind, payload, required); a required record that cannot be
        # written raises RefusalError (JOURNAL_UNAVAILABLE). None: no journal (gateway/parents_recovery.py sets it)
        self.recorder: Callable[[str, dict[str, Any], bool], None] | None = None

    # --- queries ------------------------------------------------------------------------------------------------

    def get(self, parent_id: str) -> ParentOrder | None:
        return self._parents.get(parent_id)

    def all_parents(self) -> list[ParentOrder]:
        """Every parent of the day, working or finished, in the order they were accepted."""
        return list(self._parents.values())

    def parents_for_account(self, account: str) -> list[ParentOrder]:
        return [parent for parent in self._parents.values() if parent.account == account]

    @property
    def active_count(self) -> int:
        return sum(len(parents) for parents in self._active_by_symbol.values())

    def _require(self, parent_id: str) -> ParentOrder:
        parent = self._parents.get(parent_id)
        if parent is None:
            raise refuse(ErrorCode.ORDER_NOT_FOUND, f"parent_id {parent_id} not found", "parent_id")
        return parent

    # --- commands -----------------------------------------------------------------------------------------------

    def submit(self, command: SubmitParent, principal: str) -> ParentOrder:
        """Validate and start a parent; raise RefusalError before any child is sent if anything is wrong."""
        instrument = self.instruments.get(command.symbol)
        if instrument is None:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"symbol {command.symbol!r} is not known", "symbol")
        if not isinstance(command.side, Side):
            raise refuse(ErrorCode.VALIDATION_FIELD, f"side must be BUY or SELL, got {command.side!r}", "side")
        if not command.client_order_id:
            raise refuse(ErrorCode.VALIDATION_FIELD, "client_order_id is required", "client_order_id")
        if (command.account, command.client_order_id) in self._by_client_id:
            raise refuse(ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID,
                         f"client_order_id {command.client_order_id!r} already used on account {command.account}",
                         "client_order_id")
        quote = self.port.last_quote(command.symbol)
        arrival_price = self._arrival_price(instrument, quote)
        quantity = self._quantity(command, instrument, arrival_price)
        parent_id = f"{self.id_prefix}{self.parent_sequence + 1}"
        algorithm = create_algorithm(
            command.algo,
            parent_id=parent_id,
            instrument=instrument,
            side=command.side,
            quantity=quantity,
            params=command.params,
            clock=self.clock,
            quote=quote,
            curves=self.curves,
            tape=self._tape(command.symbol),
        )
        tca = LiveShortfall.start(command.side, quantity, arrival_price, instrument.price_precision)
        now = self.clock.now_ns()
        common = algorithm.common
        self._record("parent.submitted", {
            "parent_id": parent_id, "client_order_id": command.client_order_id, "account": command.account,
            "principal": principal, "symbol": command.symbol, "side": command.side.value, "quantity": quantity,
            "cash_amount": command.cash_amount, "algo": algorithm.name, "params": dict(command.params or {}),
            "arrival_price": arrival_price, "ts_created": now, "start_ns": common.start_ns, "end_ns": common.end_ns,
        })  # everything a restart needs to rebuild it; a refusal here leaves nothing behind
        # valid and journaled: from here on the parent exists
        self.parent_sequence += 1
        parent = ParentOrder(
            parent_id=parent_id,
            client_order_id=command.client_order_id,
            account=command.account,
            principal=principal,
            symbol=command.symbol,
            side=command.side,
            algo=algorithm.name,
            params=dict(command.params or {}),
            instrument=instrument,
            algorithm=algorithm,
            arrival_price=arrival_price,
            ts_created=now,
            cash_amount=command.cash_amount,
            tca=tca,
        )
        self.add_parent(parent)
        fmt = instrument.format_price
        self.port.publish(ParentAccepted(
            now, parent.account, parent_id, parent.client_order_id, parent.symbol, parent.side, quantity,
            algorithm.name, common.start_ns, common.end_ns,
            None if common.limit_price is None else fmt(common.limit_price), fmt(arrival_price), command.cash_amount,
        ))
        log.info("parent_accepted", parent_id=parent_id, account=parent.account, symbol=parent.symbol,
                 side=parent.side.value, quantity=quantity, algo=algorithm.name)
        self._enter(partial(self._act, parent, algorithm.on_start))
        return parent

    def pause(self, parent_id: str) -> ParentOrder:
        parent = self._require(parent_id)
        if parent.algorithm.state not in (AlgoState.RUNNING, AlgoState.PENDING):
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE,
                         f"parent {parent_id} is {parent.status.value}; only a working parent can pause", "parent_id")
        self._record("parent.paused", {"parent_id": parent_id, "ts": self.clock.now_ns()})
        self._enter(partial(self._control, parent, parent.algorithm.on_pause, ParentPaused))
        return parent

    def resume(self, parent_id: str) -> ParentOrder:
        parent = self._require(parent_id)
        if parent.algorithm.state is not AlgoState.PAUSED:
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE,
                         f"parent {parent_id} is {parent.status.value}; only a paused parent can resume", "parent_id")
        self._record("parent.resumed", {"parent_id": parent_id, "ts": self.clock.now_ns()})
        self._enter(partial(self._control, parent, parent.algorithm.on_resume, ParentResumed))
        return parent

    def amend(self, parent_id: str, changes: dict[str, Any]) -> ParentOrder:
        """Change quantity, limit_price, end_time or participation; a bad change is refused and changes nothing."""
        parent = self._require(parent_id)
        amendment = parent.algorithm.validate_amend(changes)
        self._record("parent.amended", {
            "parent_id": parent_id, "quantity": amendment.quantity, "limit_price": amendment.limit_price,
            "limit_price_set": amendment.limit_price_set, "end_ns": amendment.end_ns,
            "participation": amendment.participation, "ts": self.clock.now_ns()})

        def apply() -> None:
            actions = parent.algorithm.on_amend(amendment)
            if parent.tca is not None:
                parent.tca.quantity = parent.algorithm.quantity
            self.port.publish(ParentAmended(self.clock.now_ns(), parent.account, parent.parent_id,
                                            amendment.describe(parent.instrument), parent.algorithm.quantity))
            log.info("parent_amended", parent_id=parent.parent_id, **amendment.describe(parent.instrument))
            self._run(parent, actions)

        self._enter(apply)
        return parent

    def cancel(self, parent_id: str, reason: FinishReason = FinishReason.CANCELED) -> ParentOrder:
        """Cancel the working children; ParentFinished follows once they are all done."""
        parent = self._require(parent_id)
        if parent.algorithm.state is AlgoState.DONE:
            raise refuse(ErrorCode.ORDER_NOT_CANCELABLE, f"parent {parent_id} is already finished", "parent_id")
        if parent.algorithm.state is not AlgoState.STOPPING:  # stopping already: nothing new happens
            # a cancel only reduces risk: like the engine's own cancels it acts even if the journal cannot record it
            self._record("parent.canceled", {"parent_id": parent_id, "reason": reason.value,
                                             "ts": self.clock.now_ns()}, required=False)
        self._enter(partial(self._act, parent, partial(parent.algorithm.on_cancel, reason)))
        return parent

    def cancel_all_for_account(self, account: str, reason: FinishReason = FinishReason.PREEMPTED) -> int:
        """Stop every working parent of ``account`` (a liquidation pre-empts them); return how many."""
        count = 0
        for parent in self.parents_for_account(account):
            if parent.algorithm.state not in (AlgoState.DONE, AlgoState.STOPPING):
                self.cancel(parent.parent_id, reason)
                count += 1
        return count

    def add_parent(self, parent: ParentOrder) -> None:
        """Index a new (or rebuilt) parent; a working one follows its symbol's quotes and prints."""
        parent.wake = partial(self._on_wake, parent)
        parent_id, symbol, algorithm = parent.parent_id, parent.symbol, parent.algorithm
        self._parents[parent_id] = parent
        self._by_client_id[(parent.account, parent.client_order_id)] = parent
        if algorithm.state is AlgoState.DONE:
            return
        self._active_by_symbol.setdefault(symbol, {})[parent_id] = parent
        if algorithm.wants_prints:
            self._print_subscribers.setdefault(symbol, {})[parent_id] = parent
        if algorithm.wants_unmoved_quotes:
            self._quote_subscribers.setdefault(symbol, {})[parent_id] = parent

    def follow_child(self, parent: ParentOrder, child_id: str) -> None:
        """Route the updates of ``child_id`` to ``parent`` (recovery: a child the journal rebuilt)."""
        self._child_parent[child_id] = parent

    def _record(self, kind: str, payload: dict[str, Any], required: bool = True) -> None:
        if self.recorder is not None:
            self.recorder(kind, payload, required)

    # --- engine observer (duck-typed gateway.engine.EngineObserver) ---------------------------------------------

    def on_kill_switch(self, command: SetKillSwitch) -> int:
        """Stop the parents an engaged kill switch covers; return how many."""
        if not command.engaged:
            return 0
        count = 0
        for parent in list(self._parents.values()):
            if parent.algorithm.state in (AlgoState.DONE, AlgoState.STOPPING):
                continue
            scope = command.scope
            if (scope is KillScope.GLOBAL or (scope is KillScope.ACCOUNT and parent.account == command.target)
                    or (scope is KillScope.TRADER and parent.principal == command.target)):
                self.cancel(parent.parent_id, FinishReason.KILL_SWITCH)
                count += 1
        return count

    def on_order_update(self, order: Order, event: str, last_quantity: int, last_price: int | None) -> None:
        self.on_child_update(order, event, last_quantity, last_price)

    def on_child_update(self, order: Order, event: str, last_quantity: int, last_price: int | None) -> None:
        """Take an engine OrderEvent about a child (other orders are ignored); call after the Order was updated."""
        parent = self._child_parent.get(order.order_id)
        if parent is None:
            return
        update = _ChildUpdate(order.order_id, event, order.status, order.quantity, order.limit_price,
                              order.filled_quantity, order.filled_cost, last_quantity, last_price,
                              order.reject_reason or "")
        self._enter(partial(self._child_update, parent, update))

    def on_quote(self, quote: Quote) -> None:
        prices = (quote.bid_price, quote.ask_price)
        moved = self._last_prices.get(quote.symbol) != prices
        self._last_prices[quote.symbol] = prices
        # only sizes changed (the common case on a busy book): only parents with an I-would price need to look
        parents = (self._active_by_symbol if moved else self._quote_subscribers).get(quote.symbol)
        if parents:
            self._enter(partial(self._quote, parents, quote))

    def on_trade(self, trade: TradePrint) -> None:
        if trade.own:
            return  # own prints are never market volume; the fills arrive as child updates
        self._last_trade_price[trade.symbol] = trade.price
        self._tape(trade.symbol).others_volume += trade.quantity  # once, for every parent on the symbol
        parents = self._print_subscribers.get(trade.symbol)
        if parents:
            self._enter(partial(self._trade, parents, trade.quantity))

    def _tape(self, symbol: str) -> MarketTape:
        tape = self._tapes.get(symbol)
        if tape is None:
            tape = self._tapes[symbol] = MarketTape(symbol)
        return tape

    # --- handling -------------------------------------------------------------------------------------------------

    def _enter(self, work: Callable[[], None]) -> None:
        """Do ``work`` now, or right after the work in progress if called from inside it."""
        if self._busy:
            self._deferred.append(work)
            return
        self._busy = True
        try:
            work()  # a refusal here reaches the caller who asked
        finally:
            try:
                self._drain()
            finally:
                self._busy = False

    def _drain(self) -> None:
        deferred = self._deferred
        while deferred:
            work = deferred.popleft()
            try:
                work()
            except Exception:  # queued work has no caller to refuse to: log it and go on with the rest
                log.exception("parent_queued_work_failed")

    def _act(self, parent: ParentOrder, handler: Callable[[], list[Action]]) -> None:
        try:
            actions = handler()
        except RefusalError:
            raise
        except Exception:  # noqa: BLE001 - an algorithm's bug stops its parent, never the engine's loop
            self._fail(parent)
            return
        self._run(parent, actions)

    def _control(self, parent: ParentOrder, handler: Callable[[], list[Action]], event: type) -> None:
        actions = handler()  # a refusal (wrong state) propagates to the caller and changes nothing
        self.port.publish(event(self.clock.now_ns(), parent.account, parent.parent_id, parent.algorithm.filled))
        log.info("parent_" + event.__name__.removeprefix("Parent").lower(), parent_id=parent.parent_id)
        self._run(parent, actions)

    def _quote(self, parents: dict[str, ParentOrder], quote: Quote) -> None:
        mid = quote.mid_price if quote.bid_price > 0 and quote.ask_price > 0 else 0
        for parent in tuple(parents.values()):
            if mid and parent.tca is not None:
                parent.tca.on_mid(mid)
            try:
                actions = parent.algorithm.on_quote(quote)
            except Exception:  # noqa: BLE001 - an algorithm's bug stops its parent, never the engine's loop
                self._fail(parent)
                continue
            if actions:
                self._run(parent, actions)

    def _trade(self, parents: dict[str, ParentOrder], quantity: int) -> None:
        for parent in tuple(parents.values()):
            try:
                actions = parent.algorithm.on_market_volume(quantity)
            except Exception:  # noqa: BLE001 - an algorithm's bug stops its parent, never the engine's loop
                self._fail(parent)
                continue
            if actions:
                self._run(parent, actions)

    def _on_wake(self, parent: ParentOrder) -> None:
        timer = parent.timer
        parent.timer = None
        if self.wake_observer is not None and timer is not None:
            self.wake_observer(timer.due_ns, self.clock.now_ns())
        if parent.algorithm.state is AlgoState.DONE:
            return
        self._enter(partial(self._act, parent, parent.algorithm.on_timer))

    def _child_update(self, parent: ParentOrder, update: _ChildUpdate) -> None:
        algorithm = parent.algorithm
        child_id = update.child_id
        try:
            seen_quantity, seen_cost = parent.child_fills.get(child_id, (0, 0))
            quantity_delta = update.filled_quantity - seen_quantity
            cost_delta = update.filled_cost - seen_cost
            actions: list[Action] = []
            if quantity_delta or cost_delta:
                parent.child_fills[child_id] = (update.filled_quantity, update.filled_cost)
                plain_fill = (
                    quantity_delta > 0 and update.last_price is not None and quantity_delta == update.last_quantity
                    and cost_delta == quantity_delta * update.last_price
                )
                if plain_fill:
                    assert update.last_price is not None
                    actions += algorithm.on_child_filled(child_id, quantity_delta, update.last_price)
                    if parent.tca is not None:
                        parent.tca.on_fill(quantity_delta, update.last_price)
                else:
                    actions += algorithm.on_child_fill_corrected(child_id, quantity_delta, cost_delta)
                    if parent.tca is not None:  # exact integers: adjust the sums directly
                        parent.tca.filled_quantity += quantity_delta
                        parent.tca.filled_cost += cost_delta
            event = update.event
            if event == "OrderAccepted":
                actions += algorithm.on_child_accepted(child_id)
            elif event == "OrderCanceled":
                actions += algorithm.on_child_canceled(child_id)
            elif event == "OrderExpired":
                actions += algorithm.on_child_expired(child_id)
            elif event == "OrderRejected":
                if update.reason.startswith("RECOVERY_"):  # lost in a crash, never reached the venue: not a refusal
                    actions += algorithm.on_child_closed(child_id)
                else:
                    actions += algorithm.on_child_rejected(child_id, update.reason)
            elif event == "OrderReplaced":
                actions += algorithm.on_child_replaced(child_id, update.quantity, update.limit_price)
            elif event == "OrderCancelRejected":
                actions += algorithm.on_child_cancel_rejected(child_id, update.reason)
            if update.status.is_terminal and child_id in algorithm.children:
                actions += algorithm.on_child_closed(child_id)  # done at the venue whatever the event said
        except Exception:  # noqa: BLE001 - an algorithm's bug stops its parent, never the engine's loop
            self._fail(parent)
            return
        if quantity_delta or cost_delta:
            self._publish_progress(parent, quantity_delta, update.last_price if quantity_delta > 0 else None)
        self._run(parent, actions)

    def _run(self, parent: ParentOrder, actions: list[Action]) -> None:
        """Carry out actions in order; what the port refuses goes straight back to the algorithm."""
        if not actions:
            return
        pending = deque(actions)
        algorithm = parent.algorithm
        port = self.port
        while pending:
            action = pending.popleft()
            kind = type(action)
            try:
                if kind is SendChild:
                    assert isinstance(action, SendChild)
                    self._child_parent[action.child_id] = parent
                    self.children_sent += 1
                    refusal = port.send_child(parent, action.child_id, action.side, action.order_type,
                                              action.quantity, action.limit_price, action.time_in_force)
                    if refusal is not None:
                        log.info("child_refused", parent_id=parent.parent_id, child_id=action.child_id,
                                 code=refusal.code.value, reason=refusal.message)
                        pending.extend(algorithm.on_child_rejected(action.child_id, refusal.message))
                elif kind is WakeAt:
                    assert isinstance(action, WakeAt)
                    self._arm(parent, action.due_ns)
                elif kind is CancelChild:
                    assert isinstance(action, CancelChild)
                    refusal = port.cancel_child(action.child_id)
                    if refusal is not None:
                        pending.extend(algorithm.on_cancel_refused(action.child_id, refusal.message))
                elif kind is ReplaceChild:
                    assert isinstance(action, ReplaceChild)
                    refusal = port.replace_child(action.child_id, action.quantity, action.limit_price)
                    if refusal is not None:
                        pending.extend(algorithm.on_replace_refused(action.child_id, refusal.message))
                elif kind is Finish:
                    assert isinstance(action, Finish)
                    self._finish(parent, action.reason)
            except Exception:  # noqa: BLE001 - an algorithm's bug stops its parent, never the engine's loop
                self._fail(parent)
                return

    def _arm(self, parent: ParentOrder, due_ns: int) -> None:
        timer = parent.timer
        if timer is not None:
            if timer.due_ns == due_ns and not timer.canceled:
                return
            timer.cancel()
        assert parent.wake is not None
        parent.timer = self.timers.call_at(due_ns, parent.wake)

    def _finish(self, parent: ParentOrder, reason: FinishReason) -> None:
        if parent.finish_reason is not None:
            return
        now = self.clock.now_ns()
        # a fact by now (every child is done): recorded if the journal can, never refused
        self._record("parent.finished", {"parent_id": parent.parent_id, "reason": reason.value, "ts": now},
                     required=False)
        parent.finish_reason = reason
        parent.ts_finished = now
        if parent.timer is not None:
            parent.timer.cancel()
            parent.timer = None
        for index in (self._active_by_symbol, self._print_subscribers, self._quote_subscribers):
            parents = index.get(parent.symbol)
            if parents is not None:
                parents.pop(parent.parent_id, None)
        for child_id in _child_ids(parent):
            self._child_parent.pop(child_id, None)
        tca = None
        if parent.tca is not None:
            quote = self.port.last_quote(parent.symbol)
            if quote is not None and quote.bid_price > 0 and quote.ask_price > 0:
                parent.tca.finish(quote.mid_price)
            else:
                parent.tca.finish(0)
            tca = parent.tca.snapshot()
        algorithm = parent.algorithm
        self.port.publish(ParentFinished(
            now, parent.account, parent.parent_id, reason.value, algorithm.quantity, algorithm.filled,
            _average(parent), algorithm.children_sent, tca,
        ))
        log.info("parent_finished", parent_id=parent.parent_id, reason=reason.value, filled=algorithm.filled,
                 quantity=algorithm.quantity, children=algorithm.children_sent)

    def _fail(self, parent: ParentOrder) -> None:
        """The algorithm raised: cancel whatever it has working and finish the parent, keeping the loop alive."""
        log.exception("parent_algorithm_failed", parent_id=parent.parent_id)
        algorithm = parent.algorithm
        for child_id in list(algorithm.children):
            self.port.cancel_child(child_id)
        algorithm.children.clear()
        algorithm.state = AlgoState.DONE
        self._finish(parent, FinishReason.ERROR)

    def _publish_progress(self, parent: ParentOrder, last_quantity: int, last_price: int | None) -> None:
        progress = parent.algorithm.progress()
        fmt = parent.instrument.format_price
        self.port.publish(ParentProgressed(
            self.clock.now_ns(), parent.account, parent.parent_id, parent.symbol, parent.side,
            parent.algorithm.quantity, progress.filled_quantity, parent.leaves_quantity, _average(parent),
            last_quantity, None if last_price is None else fmt(last_price), progress.schedule_target,
            progress.filled_quantity - progress.schedule_target, progress.lower_bound, progress.upper_bound,
            progress.expected_completion_ns, progress.market_volume,
            parent.tca.snapshot() if parent.tca is not None else None,
        ))

    # --- helpers ------------------------------------------------------------------------------------------------

    def _arrival_price(self, instrument: Instrument, quote: Quote | None) -> int:
        """The mid now; else the last print; else the instrument's reference price."""
        if quote is not None and quote.bid_price > 0 and quote.ask_price > 0:
            return quote.mid_price
        return self._last_trade_price.get(instrument.symbol) or instrument.reference_price

    def _quantity(self, command: SubmitParent, instrument: Instrument, arrival_price: int) -> int:
        lot = instrument.lot_size
        if command.quantity is not None and command.cash_amount is not None:
            raise refuse(ErrorCode.VALIDATION_FIELD, "give quantity or cash_amount, not both", "cash_amount")
        if command.cash_amount is not None:
            cash = command.cash_amount
            if isinstance(cash, bool) or not isinstance(cash, int) or cash <= 0:
                raise refuse(ErrorCode.VALIDATION_QUANTITY, f"cash_amount must be a positive whole amount, got {cash!r}",
                             "cash_amount")
            # shares = cash / price, price in units of 10**-precision: exact integer arithmetic, rounded down to the lot
            shares = cash * instrument.price_scale // arrival_price // lot * lot
            if shares <= 0:
                raise refuse(ErrorCode.VALIDATION_QUANTITY,
                             f"cash_amount {cash} buys less than one lot of {lot} at the arrival price "
                             f"{instrument.format_price(arrival_price)}", "cash_amount")
            return shares
        quantity = command.quantity
        if quantity is None:
            raise refuse(ErrorCode.VALIDATION_QUANTITY, "quantity or cash_amount is required", "quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise refuse(ErrorCode.VALIDATION_QUANTITY, f"quantity must be a positive integer, got {quantity!r}",
                         "quantity")
        if quantity % lot:
            raise refuse(ErrorCode.VALIDATION_LOT_SIZE,
                         f"quantity {quantity} is not a multiple of the lot size {lot} of {instrument.symbol}",
                         "quantity")
        return quantity


def _child_ids(parent: ParentOrder) -> set[str]:
    return {f"{parent.parent_id}-E{n}" for n in range(1, parent.algorithm.child_sequence + 1)}


def _average(parent: ParentOrder) -> str | None:
    algorithm = parent.algorithm
    if not algorithm.filled:
        return None
    return parent.instrument.format_price(algorithm.filled_cost // algorithm.filled)
