"""The algorithm protocol: a deterministic state machine that turns events into actions.

An algorithm is told what happened (start, timer, quote, trade print, child accepted / filled / canceled / expired /
rejected / replaced, amend, pause, resume, cancel) and answers with actions (send, cancel or replace a child, wake me
at t, finish). Time comes from the ``Clock`` it was built with. It never sleeps, never reads the wall clock, never
touches a socket: the host (``gateway.parents.ParentOrderManager``) carries the actions out.

``ScheduledAlgorithm`` holds what TWAP, VWAP and POV share: child bookkeeping (quantity is never lost or overfilled),
pricing by aggression under the limit price, the I-would, lot rounding, child size bounds, randomization, catch-up,
requoting of stale passive children, pause/resume, amend and the end-time behaviour. A concrete algorithm supplies only
its schedule: where it should be now, the band around it, and when to wake.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Protocol, TypeAlias

from algos.params import (
    Aggression,
    CommonParams,
    EndBehavior,
    ParamReader,
    parameter_error,
    parse_timestamp,
)
from gateway.clock import NANOS_PER_SECOND, Clock
from gateway.model import ErrorCode, Instrument, OrderType, Quote, Side, TimeInForce, TradePrint, refuse

RETRY_INTERVAL_NS = NANOS_PER_SECOND  # how soon to look again when there is no quote, or to retry a cancel
REJECT_BACKOFF_NS = NANOS_PER_SECOND  # after a child is refused, wait this long before sending another
MAX_CONSECUTIVE_REJECTS = 5  # this many refused children in a row and the parent stops


# --- actions ---------------------------------------------------------------------------------------------------------


class ChildPurpose(str, Enum):
    """Why a child was sent; decides how it is priced and whether it may be requoted."""

    SCHEDULE = "schedule"  # a slice of the schedule, priced by the aggression parameter
    CATCH_UP = "catch_up"  # behind the band: crosses the spread
    I_WOULD = "i_would"  # the market reached the I-would price
    COMPLETION = "completion"  # end time passed with end_behavior=complete
    LIQUIDATION = "liquidation"  # a rung of a forced liquidation's price ladder (gateway/liquidation/ladder.py)


@dataclass(slots=True)
class SendChild:
    child_id: str
    side: Side
    order_type: OrderType
    quantity: int
    limit_price: int | None
    time_in_force: TimeInForce
    purpose: ChildPurpose


@dataclass(slots=True)
class CancelChild:
    child_id: str


@dataclass(slots=True)
class ReplaceChild:
    child_id: str
    quantity: int  # the child's new total quantity (FIX OrderQty: filled quantity included)
    limit_price: int | None


@dataclass(slots=True)
class WakeAt:
    """Call ``on_timer`` at ``due_ns``; replaces any earlier wake request of this algorithm."""

    due_ns: int


class FinishReason(str, Enum):
    FILLED = "filled"
    CANCELED = "canceled"  # the principal canceled it
    END_TIME = "end_time"  # the end time passed with end_behavior=cancel
    REJECTED = "rejected"  # children kept being refused
    PREEMPTED = "preempted"  # a liquidation of the account took over
    KILL_SWITCH = "kill_switch"  # a kill switch covering it was engaged
    ERROR = "error"  # the algorithm failed; its children were canceled


@dataclass(slots=True)
class Finish:
    """The parent is done: every child is terminal."""

    reason: FinishReason


Action: TypeAlias = SendChild | CancelChild | ReplaceChild | WakeAt | Finish


class AlgoState(str, Enum):
    PENDING = "pending"  # accepted, waiting for its start time
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"  # canceling its children before it finishes
    DONE = "done"


@dataclass(slots=True)
class Progress:
    """Where a parent stands, for progress events: filled against the schedule's target now."""

    filled_quantity: int
    filled_cost: int  # sum of quantity * price units
    schedule_target: int  # shares the schedule wants filled by now
    lower_bound: int  # below this the algorithm catches up
    upper_bound: int  # it never commits beyond this (the I-would excepted)
    expected_completion_ns: int | None
    market_volume: int  # others' printed volume since the start


class ExecutionAlgorithm(Protocol):
    """What the host calls; every call returns the actions to carry out, in order."""

    parent_id: str
    name: ClassVar[str]
    wants_prints: ClassVar[bool]  # each print of others must reach on_market_volume (POV)
    state: AlgoState
    quantity: int
    filled: int
    filled_cost: int

    @property
    def wants_unmoved_quotes(self) -> bool: ...

    def on_start(self) -> list[Action]: ...

    def on_timer(self) -> list[Action]: ...

    def on_quote(self, quote: Quote) -> list[Action]: ...

    def on_trade(self, trade: TradePrint) -> list[Action]: ...

    def on_market_volume(self, quantity: int) -> list[Action]: ...

    def on_child_accepted(self, child_id: str) -> list[Action]: ...

    def on_child_filled(self, child_id: str, quantity: int, price: int) -> list[Action]: ...

    def on_child_fill_corrected(self, child_id: str, quantity_delta: int, cost_delta: int) -> list[Action]: ...

    def on_child_canceled(self, child_id: str) -> list[Action]: ...

    def on_child_expired(self, child_id: str) -> list[Action]: ...

    def on_child_rejected(self, child_id: str, reason: str) -> list[Action]: ...

    def on_child_closed(self, child_id: str) -> list[Action]: ...

    def on_child_replaced(self, child_id: str, quantity: int, limit_price: int | None) -> list[Action]: ...

    def on_child_cancel_rejected(self, child_id: str, reason: str) -> list[Action]: ...

    def on_cancel_refused(self, child_id: str, reason: str) -> list[Action]: ...

    def on_replace_refused(self, child_id: str, reason: str) -> list[Action]: ...

    def validate_amend(self, changes: Mapping[str, Any]) -> Amendment: ...

    def on_amend(self, amendment: Amendment) -> list[Action]: ...

    def on_pause(self) -> list[Action]: ...

    def on_resume(self) -> list[Action]: ...

    def on_cancel(self, reason: FinishReason = FinishReason.CANCELED) -> list[Action]: ...

    def progress(self) -> Progress: ...


@dataclass(slots=True)
class Amendment:
    """A validated amend: only the fields that change are set (``limit_price_set`` tells a removal from no change)."""

    quantity: int | None = None
    limit_price: int | None = None
    limit_price_set: bool = False
    end_ns: int | None = None
    participation: float | None = None

    def describe(self, instrument: Instrument) -> dict[str, object]:
        changed: dict[str, object] = {}
        if self.quantity is not None:
            changed["quantity"] = self.quantity
        if self.limit_price_set:
            changed["limit_price"] = None if self.limit_price is None else instrument.format_price(self.limit_price)
        if self.end_ns is not None:
            changed["end_time"] = self.end_ns
        if self.participation is not None:
            changed["participation"] = self.participation
        return changed


@dataclass(slots=True)
class Child:
    """One child as the algorithm accounts for it, from send until it is terminal."""

    child_id: str
    purpose: ChildPurpose
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int  # total quantity
    limit_price: int | None
    priced_ns: int  # when it was last priced, to rate-limit requotes
    filled: int = 0
    accepted: bool = False
    cancel_pending: bool = False
    replace_pending: bool = False
    pending_quantity: int | None = None
    pending_limit_price: int | None = None

    @property
    def leaves(self) -> int:
        return max(0, self.quantity - self.filled)

    @property
    def committed_leaves(self) -> int:
        """Leaves that may still fill: a pending replace could land either way, so the larger counts."""
        if self.replace_pending and self.pending_quantity is not None:
            return max(self.leaves, self.pending_quantity - self.filled)
        return self.leaves

    @property
    def resting(self) -> bool:
        return self.time_in_force is not TimeInForce.IOC and self.time_in_force is not TimeInForce.FOK


class MarketTape:
    """Others' printed volume of one symbol, counted once by the host and read by every parent on that symbol.

    Own prints are never added. A parent reads the difference from where the tape stood when it started, so 10,000
    parents cost nothing per print unless they react to prints (``wants_prints``)."""

    __slots__ = ("others_volume", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.others_volume = 0


def floor_to(quantity: float, lot: int) -> int:
    return int(quantity // lot) * lot if quantity > 0 else 0


def ceil_to(quantity: float, lot: int) -> int:
    if quantity <= 0:
        return 0
    whole = int(quantity)
    if whole != quantity:
        whole += 1
    return -(-whole // lot) * lot


class ScheduledAlgorithm:
    """Shared machinery; subclasses define ``target``, ``lower``, ``upper``, ``release_target`` and ``next_wake``."""

    name: ClassVar[str] = "base"
    end_required: ClassVar[bool] = True
    wants_prints: ClassVar[bool] = False  # whether each print of others must reach on_market_volume

    def __init__(
        self,
        parent_id: str,
        instrument: Instrument,
        side: Side,
        quantity: int,
        common: CommonParams,
        clock: Clock,
        quote: Quote | None = None,
        tape: MarketTape | None = None,
    ) -> None:
        self.parent_id = parent_id
        self.instrument = instrument
        self.side = side
        self.quantity = quantity
        self.common = common
        self.clock = clock
        self.quote = quote if quote is not None and quote.symbol == instrument.symbol else None
        self.state = AlgoState.PENDING
        self.stop_reason: FinishReason | None = None
        self.filled = 0
        self.filled_cost = 0
        self.children: dict[str, Child] = {}
        self.child_sequence = 0
        self._owns_tape = tape is None  # a standalone algorithm counts prints itself; a hosted one shares the host's
        self.tape = tape if tape is not None else MarketTape(instrument.symbol)
        self._tape_at_start = 0
        self.i_would_used = 0  # shares sent as I-would children that did not come back unfilled
        self.consecutive_rejects = 0
        self.reject_backoff_until_ns = 0
        self._rng: random.Random | None = None  # made on first use: most orders do not randomize
        self.base_ns = common.start_ns  # the schedule runs from (base_ns, base_filled) to (end, quantity)
        self.base_filled = 0
        self.overtime = False  # end passed with end_behavior=continue
        self.completing = False  # end passed with end_behavior=complete
        self._actions: list[Action] = []
        self._requote_due_ns = 0  # when a stale child held back by its requote interval may be repriced; 0: none
        self.children_sent = 0

    @property
    def rng(self) -> random.Random:
        """The order's own seeded generator: the same draws for the same events on every run."""
        if self._rng is None:
            self._rng = random.Random(self.common.seed)
        return self._rng

    # --- construction --------------------------------------------------------------------------------------------

    @classmethod
    def read_params(
        cls, reader: ParamReader, common: CommonParams, instrument: Instrument, quantity: int, **context: Any
    ) -> dict[str, Any]:
        """Read the algorithm's own parameters (after the common ones); return keyword arguments for ``__init__``.

        ``context`` carries what the host offers (``curves``: registered volume curves by name)."""
        return {}

    # --- the schedule: subclasses ---------------------------------------------------------------------------------

    def target(self, now_ns: int) -> float:
        """Shares the schedule wants filled by ``now_ns``."""
        raise NotImplementedError

    def lower(self, now_ns: int) -> float:
        """Filled below this and the algorithm catches up across the spread."""
        raise NotImplementedError

    def upper(self, now_ns: int) -> float:
        """Filled plus working never exceeds this (the I-would excepted), so the algorithm never runs ahead."""
        raise NotImplementedError

    def release_target(self, now_ns: int, next_wake_ns: int) -> float:
        """Filled plus working to aim for after a decision at ``now_ns`` (before ``upper`` is applied)."""
        raise NotImplementedError

    def next_wake(self, now_ns: int) -> int:
        raise NotImplementedError

    def rebase(self, now_ns: int) -> None:
        """Re-plan the rest from here: the remainder over the remaining time (after resume or amend)."""
        self.base_ns = max(now_ns, self.common.start_ns)
        self.base_filled = self.filled

    def expected_completion(self, now_ns: int) -> int | None:
        if self.filled >= self.quantity:
            return now_ns
        if self.common.end_ns is not None and not self.overtime and self.filled >= self.lower(now_ns):
            return self.common.end_ns
        elapsed = now_ns - self.common.start_ns
        if self.filled <= 0 or elapsed <= 0:
            return self.common.end_ns
        return now_ns + int((self.quantity - self.filled) * elapsed / self.filled)

    def participation_changed(self, participation: float) -> None:
        raise parameter_error("participation", f"does not apply to {self.name}")

    # --- bookkeeping ------------------------------------------------------------------------------------------------

    @property
    def market_volume(self) -> int:
        """Others' volume printed since the start (own prints are not market volume)."""
        if self.state is AlgoState.PENDING:
            return 0
        return self.tape.others_volume - self._tape_at_start

    @property
    def committed(self) -> int:
        """Filled plus everything that may still fill."""
        return self.filled + sum(child.committed_leaves for child in self.children.values())

    def progress(self) -> Progress:
        now = self.clock.now_ns()
        if self.state is AlgoState.PENDING:
            target = lower = upper = 0.0
        else:
            target, lower, upper = self.target(now), self.lower(now), self.upper(now)
        return Progress(
            filled_quantity=self.filled,
            filled_cost=self.filled_cost,
            schedule_target=min(self.quantity, round(target)),
            lower_bound=max(0, int(lower)),
            upper_bound=min(self.quantity, int(upper)),
            expected_completion_ns=self.expected_completion(now),
            market_volume=self.market_volume,
        )

    def _take(self) -> list[Action]:
        actions, self._actions = self._actions, []
        return actions

    def _next_child_id(self) -> str:
        self.child_sequence += 1
        return f"{self.parent_id}-E{self.child_sequence}"

    def _send(self, purpose: ChildPurpose, quantity: int, limit_price: int | None, tif: TimeInForce) -> None:
        child_id = self._next_child_id()
        order_type = OrderType.LIMIT if limit_price is not None else OrderType.MARKET
        self.children[child_id] = Child(child_id, purpose, order_type, tif, quantity, limit_price, self.clock.now_ns())
        if purpose is ChildPurpose.I_WOULD:
            self.i_would_used += quantity
        self.children_sent += 1
        self._actions.append(SendChild(child_id, self.side, order_type, quantity, limit_price, tif, purpose))

    def _cancel(self, child: Child) -> None:
        if child.cancel_pending:
            return
        child.cancel_pending = True
        self._actions.append(CancelChild(child.child_id))

    def _child_done(self, child_id: str) -> Child | None:
        child = self.children.pop(child_id, None)
        if child is not None and child.purpose is ChildPurpose.I_WOULD:
            self.i_would_used -= child.leaves  # what the I-would did not get is still its to take
        return child

    def _maybe_finish(self) -> bool:
        if self.state is AlgoState.DONE:
            return True
        if self.children:
            return False
        if self.filled >= self.quantity:
            reason = FinishReason.FILLED
        elif self.state is AlgoState.STOPPING and self.stop_reason is not None:
            reason = self.stop_reason
        else:
            return False
        self.state = AlgoState.DONE
        self.stop_reason = reason
        self._actions.append(Finish(reason))
        return True

    def _stop(self, reason: FinishReason) -> None:
        """Cancel every child; finish when the last one is terminal."""
        if self.state in (AlgoState.DONE, AlgoState.STOPPING):
            return
        self.state = AlgoState.STOPPING
        self.stop_reason = reason
        for child in list(self.children.values()):
            self._cancel(child)
        if not self._maybe_finish():
            self._actions.append(WakeAt(self.clock.now_ns() + RETRY_INTERVAL_NS))

    # --- pricing ----------------------------------------------------------------------------------------------------

    def _cap(self, price: int) -> int:
        """Never worse than the limit price."""
        limit = self.common.limit_price
        if limit is None:
            return price
        return min(price, limit) if self.side is Side.BUY else max(price, limit)

    def _near_touch(self, quote: Quote) -> int | None:
        price = quote.bid_price if self.side is Side.BUY else quote.ask_price
        return price if price > 0 else None

    def _far_touch(self, quote: Quote) -> int | None:
        price = quote.ask_price if self.side is Side.BUY else quote.bid_price
        return price if price > 0 else None

    def _marketable_price(self) -> int | None:
        """The far touch (plus ``cross_ticks`` deeper) when within the limit price; None when crossing is not allowed."""
        quote = self.quote
        if quote is None:
            return None
        far = self._far_touch(quote)
        if far is None or self._cap(far) != far:
            return None
        reach = self.common.cross_ticks * self.instrument.tick_size
        return self._cap(far + reach if self.side is Side.BUY else max(self.instrument.tick_size, far - reach))

    def _resting_price(self) -> int | None:
        """Where a resting slice sits: own touch or mid by aggression, never beyond the limit price."""
        quote = self.quote
        if quote is None:
            return self.common.limit_price  # no market to read: rest at the limit if there is one
        near = self._near_touch(quote)
        if self.common.aggression is Aggression.MID and near is not None and self._far_touch(quote) is not None:
            both = quote.bid_price + quote.ask_price  # the half tick of an odd spread goes the passive way
            mid = both // 2 if self.side is Side.BUY else -(-both // 2)
            price = self.instrument.round_to_tick(mid, self.side)
        elif near is not None:
            price = near
        else:
            return self.common.limit_price
        return self._cap(price)

    # --- sizing -----------------------------------------------------------------------------------------------------

    def _size(self, wanted: float, room: int, randomize: bool) -> int:
        """A child size: randomized, inside the room, on the round lot, or the whole remainder."""
        uncommitted = self.quantity - self.committed
        room = min(room, uncommitted)
        if wanted <= 0 or room <= 0:
            return 0
        if randomize and self.common.randomize_size > 0:
            wanted *= 1.0 + self.common.randomize_size * (2.0 * self.rng.random() - 1.0)
        quantity = min(ceil_to(wanted, self.common.round_lot), room)
        if quantity >= uncommitted:
            return uncommitted  # the remainder goes whole, odd lot and all
        quantity = floor_to(quantity, self.common.round_lot)
        if quantity < self.common.min_child_quantity:
            # round a small slice up to the minimum child when the band has room, else let it accumulate
            return self.common.min_child_quantity if self.common.min_child_quantity <= room else 0
        return quantity

    def _send_split(self, purpose: ChildPurpose, quantity: int, price: int | None, tif: TimeInForce) -> None:
        maximum = self.common.max_child_quantity
        while quantity > 0:
            piece = min(quantity, maximum)
            self._send(purpose, piece, price, tif)
            quantity -= piece

    # --- decisions --------------------------------------------------------------------------------------------------

    def _decide(self, catch_up: bool = True) -> None:
        """Bring the children in line with the schedule now; ask to be woken for the next look.

        ``catch_up`` is False when a print (not the clock) asked: resting children get until the next timed look to
        fill before falling behind the band makes the algorithm cross the spread."""
        if self.state is not AlgoState.RUNNING:
            return
        if self._maybe_finish():
            return
        now = self.clock.now_ns()
        end = self.common.end_ns
        if end is not None and now >= end and not self.overtime and not self.completing:
            behavior = self.common.end_behavior
            if behavior is EndBehavior.CANCEL:
                self._stop(FinishReason.END_TIME)
                return
            if behavior is EndBehavior.COMPLETE:
                self.completing = True
            else:
                self.overtime = True
        if self.completing:
            self._complete(now)
            return
        self._check_i_would()
        if self.quote is None:
            self._actions.append(WakeAt(now + RETRY_INTERVAL_NS))
            return
        next_wake = self.next_wake(now)
        if now >= self.reject_backoff_until_ns:
            if self.overtime:
                self._post(now, self.quantity, self.quantity, randomize=False)
            else:
                upper = min(float(self.quantity), self.upper(now))
                if catch_up and self.filled < self.lower(now):
                    self._catch_up(now, upper)
                self._post(now, min(self.release_target(now, next_wake), upper), upper, randomize=True)
        self._requote(now)
        due = self._requote_due_ns
        self._actions.append(WakeAt(min(next_wake, due) if due else next_wake))

    def _catch_up(self, now: int, upper: float) -> None:
        """Behind the band: cross the spread for the shortfall to the schedule, freeing resting quantity if needed."""
        price = self._marketable_price()
        if price is None:
            return  # the limit price forbids crossing; resting children at the limit keep working
        in_flight = sum(c.committed_leaves for c in self.children.values() if not c.resting)
        shortfall = self.target(now) - self.filled - in_flight
        if shortfall <= 0:
            return
        room = floor_to(upper, self.instrument.lot_size) - self.committed
        if room < shortfall:
            self._free_resting(ceil_to(shortfall, self.instrument.lot_size) - max(room, 0))
        quantity = self._size(shortfall, room, randomize=False)
        if quantity > 0:
            self._send_split(ChildPurpose.CATCH_UP, quantity, price, TimeInForce.IOC)

    def _free_resting(self, wanted: int) -> None:
        """Cancel resting slices, newest first, until ``wanted`` shares are being freed; the cancel acks re-decide."""
        freeing = sum(c.leaves for c in self.children.values() if c.cancel_pending)
        for child in reversed(list(self.children.values())):
            if freeing >= wanted:
                return
            if child.resting and not child.cancel_pending and child.purpose is ChildPurpose.SCHEDULE:
                self._cancel(child)
                freeing += child.leaves

    def _post(self, now: int, release: float, upper: float, randomize: bool) -> None:
        """Rest the schedule's release as passive (or mid) slices, or cross with it when aggression says so."""
        committed = self.committed
        wanted = release - committed
        if wanted <= 0:
            return
        room = floor_to(upper, self.instrument.lot_size) - committed
        if self.common.aggression is Aggression.AGGRESSIVE:
            price = self._marketable_price()
            if price is not None:
                quantity = self._size(wanted, room, randomize)
                if quantity > 0:
                    self._send_split(ChildPurpose.SCHEDULE, quantity, price, TimeInForce.IOC)
                return
        price = self._resting_price()
        if price is None:
            return
        quantity = self._size(wanted, room, randomize)
        if quantity > 0:
            self._send_split(ChildPurpose.SCHEDULE, quantity, price, TimeInForce.DAY)

    def _requote(self, now: int) -> None:
        """Reprice resting slices the market has left, no more often than the requote interval per child."""
        self._requote_due_ns = 0
        desired = self._resting_price()
        if desired is None:
            return
        interval = self.common.requote_interval_ns
        for child in self.children.values():
            if (
                child.resting
                and child.accepted
                and not child.cancel_pending
                and not child.replace_pending
                and child.limit_price != desired
            ):
                if now - child.priced_ns < interval:  # too soon for this one: wake when it may move
                    due = child.priced_ns + interval
                    if not self._requote_due_ns or due < self._requote_due_ns:
                        self._requote_due_ns = due
                    continue
                child.replace_pending = True
                child.pending_quantity = child.quantity
                child.pending_limit_price = desired
                child.priced_ns = now
                self._actions.append(ReplaceChild(child.child_id, child.quantity, desired))

    def _complete(self, now: int) -> None:
        """After the end time with end_behavior=complete: cross for everything left, resting slices canceled first."""
        price = self._marketable_price()
        if price is not None:
            for child in self.children.values():
                if child.resting:
                    self._cancel(child)
            if now >= self.reject_backoff_until_ns:
                quantity = self.quantity - self.committed
                if quantity > 0:
                    self._send_split(ChildPurpose.COMPLETION, quantity, price, TimeInForce.IOC)
        else:
            # the limit price (or no quote) forbids crossing: rest the remainder at the limit until the market comes
            self._post(now, self.quantity, self.quantity, randomize=False)
            self._requote(now)
        self._actions.append(WakeAt(now + RETRY_INTERVAL_NS))

    def _check_i_would(self) -> None:
        """Take liquidity at the I-would price or better, up to its share of the order, one child at a time."""
        iw = self.common.i_would_price
        quote = self.quote
        if iw is None or quote is None or self.state is not AlgoState.RUNNING:
            return
        if any(child.purpose is ChildPurpose.I_WOULD for child in self.children.values()):
            return
        far = self._far_touch(quote)
        if far is None or (far > iw if self.side is Side.BUY else far < iw):
            return
        allowance = self.common.i_would_max_quantity - self.i_would_used
        uncommitted = self.quantity - self.committed
        quantity = min(allowance, uncommitted)
        if quantity < uncommitted:
            quantity = floor_to(quantity, self.instrument.lot_size)
        if quantity <= 0:
            return
        self._send(ChildPurpose.I_WOULD, quantity, iw, TimeInForce.IOC)

    # --- recovery ---------------------------------------------------------------------------------------------------

    def restore(self, children: Iterable[Child], filled: int, filled_cost: int, child_sequence: int,
                i_would_used: int = 0) -> None:
        """Adopt what a restart found of this order: its working children, its fills and its highest child number.

        A running order goes back to waiting for its first tick (``PENDING``), so quotes and prints cannot make it
        trade before the host's first wake; ``on_start`` then re-plans what is left over the time that is left (or
        follows the end-time behaviour if the end passed). Paused, stopping and done orders keep their state.
        """
        self.filled = filled
        self.filled_cost = filled_cost
        self.children = {child.child_id: child for child in children}
        self.child_sequence = max(self.child_sequence, child_sequence)  # a child id is never used twice
        self.children_sent = max(self.children_sent, child_sequence)
        self.i_would_used = i_would_used
        self.consecutive_rejects = 0
        self.reject_backoff_until_ns = 0
        self._requote_due_ns = 0
        self.overtime = self.completing = False  # judged again from the clock at the first decision
        if self.state is AlgoState.RUNNING:
            self.state = AlgoState.PENDING

    # --- events -----------------------------------------------------------------------------------------------------

    def on_start(self) -> list[Action]:
        now = self.clock.now_ns()
        if self.state is not AlgoState.PENDING:
            return []
        if now < self.common.start_ns:
            self._actions.append(WakeAt(self.common.start_ns))
            return self._take()
        self.state = AlgoState.RUNNING
        self._tape_at_start = self.tape.others_volume
        self.rebase(now)
        self._decide()
        return self._take()

    def on_timer(self) -> list[Action]:
        if self.state is AlgoState.PENDING:
            return self.on_start()
        if self.state is AlgoState.STOPPING or self.state is AlgoState.PAUSED:
            for child in self.children.values():
                self._cancel(child)  # cancels that were refused are asked again
            if not self._maybe_finish() and self.children:
                self._actions.append(WakeAt(self.clock.now_ns() + RETRY_INTERVAL_NS))
            return self._take()
        self._decide()
        return self._take()

    @property
    def wants_unmoved_quotes(self) -> bool:
        """Whether a quote whose prices did not move can change anything (the host may skip the call otherwise)."""
        return self.quote is None or self.common.i_would_price is not None

    def on_quote(self, quote: Quote) -> list[Action]:
        if quote.symbol != self.instrument.symbol:
            return []
        previous = self.quote
        self.quote = quote
        if self.state is not AlgoState.RUNNING:
            return []
        if previous is None:
            self._decide()
            return self._take()
        if self.common.i_would_price is not None:
            self._check_i_would()
        # most quotes change only sizes: nothing to reprice unless a price moved
        moved = previous.bid_price != quote.bid_price or previous.ask_price != quote.ask_price
        if moved and not self.completing and self.children:
            now = self.clock.now_ns()
            self._requote(now)
            if self._requote_due_ns:
                self._actions.append(WakeAt(min(self._requote_due_ns, self.next_wake(now))))
        return self._take()

    def on_trade(self, trade: TradePrint) -> list[Action]:
        """A print on the tape. Standalone, the algorithm counts it; hosted, the host counts it on the shared tape
        (once for all parents) and calls ``on_market_volume`` only for algorithms that ``wants_prints``."""
        if trade.own or trade.symbol != self.instrument.symbol:
            return []
        if self._owns_tape:
            self.tape.others_volume += trade.quantity
        return self.on_market_volume(trade.quantity)

    def on_market_volume(self, quantity: int) -> list[Action]:
        """Others printed ``quantity`` more (already on the tape)."""
        if self.state is AlgoState.PENDING:
            return []
        self._market_volume_added(quantity)
        return self._take()

    def _market_volume_added(self, quantity: int) -> None:
        """Hook for algorithms that react to volume as it prints."""

    def on_child_accepted(self, child_id: str) -> list[Action]:
        child = self.children.get(child_id)
        if child is not None:
            child.accepted = True
            self.consecutive_rejects = 0
            if self.state is AlgoState.STOPPING or self.state is AlgoState.PAUSED:
                self._cancel(child)  # it raced the pause or cancel
        return self._take()

    def on_child_filled(self, child_id: str, quantity: int, price: int) -> list[Action]:
        self.filled += quantity
        self.filled_cost += quantity * price
        child = self.children.get(child_id)
        if child is not None:
            child.filled += quantity
            child.accepted = True
            self.consecutive_rejects = 0
            if child.filled >= child.quantity:  # done at the venue; a replace in flight can only be refused now
                self._child_done(child_id)
        self._maybe_finish()
        return self._take()

    def on_child_fill_corrected(self, child_id: str, quantity_delta: int, cost_delta: int) -> list[Action]:
        """A bust or correction: the parent's filled moves; a busted share is the parent's to do again."""
        self.filled += quantity_delta
        self.filled_cost += cost_delta
        child = self.children.get(child_id)
        if child is not None:
            child.filled += quantity_delta
        self._maybe_finish()
        return self._take()

    def _terminal(self, child_id: str, redecide: bool) -> list[Action]:
        child = self._child_done(child_id)
        if child is None:
            return self._take()
        if self._maybe_finish():
            return self._take()
        if self.state is AlgoState.RUNNING:
            if redecide:
                self._decide()
            elif child.purpose is ChildPurpose.CATCH_UP and not self.completing:
                now = self.clock.now_ns()
                if self.filled < self.lower(now):  # the book was thin: look again soon, not a whole slice later
                    self._actions.append(WakeAt(min(now + RETRY_INTERVAL_NS, self.next_wake(now))))
        return self._take()

    def on_child_canceled(self, child_id: str) -> list[Action]:
        child = self.children.get(child_id)
        # a cancel we asked for frees quantity we meant to use now; one we did not (venue-side) waits for the timer
        return self._terminal(child_id, redecide=child is not None and child.cancel_pending)

    def on_child_expired(self, child_id: str) -> list[Action]:
        return self._terminal(child_id, redecide=False)  # an IOC remainder: re-deciding now would spin on an empty book

    def on_child_closed(self, child_id: str) -> list[Action]:
        """The child is terminal for a reason no other event covered (the host saw its order done)."""
        return self._terminal(child_id, redecide=False)

    def on_child_rejected(self, child_id: str, reason: str) -> list[Action]:
        if child_id in self.children:
            self.consecutive_rejects += 1
            self.reject_backoff_until_ns = self.clock.now_ns() + REJECT_BACKOFF_NS
        actions = self._terminal(child_id, redecide=False)  # its quantity is back in the pool for the next look
        if self.consecutive_rejects >= MAX_CONSECUTIVE_REJECTS and self.state is AlgoState.RUNNING:
            self._stop(FinishReason.REJECTED)
            actions.extend(self._take())
        return actions

    def on_child_replaced(self, child_id: str, quantity: int, limit_price: int | None) -> list[Action]:
        child = self.children.get(child_id)
        if child is not None:
            child.quantity = quantity
            child.limit_price = limit_price
            child.replace_pending = False
            child.pending_quantity = child.pending_limit_price = None
            if child.filled >= child.quantity:
                self._child_done(child_id)
                self._maybe_finish()
            elif self.state is AlgoState.STOPPING or self.state is AlgoState.PAUSED:
                self._cancel(child)  # a cancel wanted while the replace was in flight
        return self._take()

    def on_child_cancel_rejected(self, child_id: str, reason: str) -> list[Action]:
        """The venue refused a cancel or a replace (one is in flight at a time: the engine allows no more)."""
        child = self.children.get(child_id)
        if child is not None:
            if child.cancel_pending:
                self._cancel_answered(child)
            else:
                self._replace_answered(child)
        return self._take()

    def on_cancel_refused(self, child_id: str, reason: str) -> list[Action]:
        """The host could not send a cancel (e.g. a replace is still in flight)."""
        child = self.children.get(child_id)
        if child is not None:
            self._cancel_answered(child)
        return self._take()

    def on_replace_refused(self, child_id: str, reason: str) -> list[Action]:
        """The host could not send a replace."""
        child = self.children.get(child_id)
        if child is not None:
            self._replace_answered(child)
        return self._take()

    def _cancel_answered(self, child: Child) -> None:
        child.cancel_pending = False
        if child.filled >= child.quantity:
            self._child_done(child.child_id)
            self._maybe_finish()
        elif self.state is AlgoState.STOPPING or self.state is AlgoState.PAUSED:
            self._actions.append(WakeAt(self.clock.now_ns() + RETRY_INTERVAL_NS))  # still wanted gone: ask again

    def _replace_answered(self, child: Child) -> None:
        child.replace_pending = False
        child.pending_quantity = child.pending_limit_price = None
        if child.filled >= child.quantity:
            self._child_done(child.child_id)
            self._maybe_finish()
        elif self.state is AlgoState.STOPPING or self.state is AlgoState.PAUSED:
            self._cancel(child)

    def on_pause(self) -> list[Action]:
        if self.state not in (AlgoState.RUNNING, AlgoState.PENDING):
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE, f"parent {self.parent_id} is {self.state.value}, not running")
        self.state = AlgoState.PAUSED
        for child in self.children.values():
            self._cancel(child)
        return self._take()

    def on_resume(self) -> list[Action]:
        if self.state is not AlgoState.PAUSED:
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE, f"parent {self.parent_id} is {self.state.value}, not paused")
        now = self.clock.now_ns()
        if now < self.common.start_ns:
            self.state = AlgoState.PENDING
            self._actions.append(WakeAt(self.common.start_ns))
            return self._take()
        self.state = AlgoState.RUNNING
        self.rebase(now)
        self._decide()
        return self._take()

    def on_cancel(self, reason: FinishReason = FinishReason.CANCELED) -> list[Action]:
        if self.state is AlgoState.DONE:
            raise refuse(ErrorCode.ORDER_NOT_CANCELABLE, f"parent {self.parent_id} is already done")
        if self.state is AlgoState.STOPPING:
            return []
        self._stop(reason)
        return self._take()

    # --- amend ------------------------------------------------------------------------------------------------------

    def validate_amend(self, changes: Mapping[str, Any]) -> Amendment:
        """Check every change against the order as it stands; raise RefusalError and change nothing if one is bad."""
        if self.state in (AlgoState.DONE, AlgoState.STOPPING):
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE, f"parent {self.parent_id} is {self.state.value}")
        reader = ParamReader(changes)
        amendment = Amendment()
        lot = self.instrument.lot_size
        if reader.has("quantity"):
            quantity = reader.integer("quantity", None, minimum=lot)
            assert quantity is not None
            if quantity % lot:
                raise parameter_error("quantity", f"must be a multiple of the lot size {lot}, got {quantity}")
            if quantity < self.filled:
                raise parameter_error("quantity", f"{quantity} is below the {self.filled} already filled")
            amendment.quantity = quantity
        if "limit_price" in changes:
            amendment.limit_price_set = True
            amendment.limit_price = reader.price("limit_price", self.instrument)
            iw, limit = self.common.i_would_price, amendment.limit_price
            if iw is not None and limit is not None and (iw > limit if self.side is Side.BUY else iw < limit):
                raise parameter_error("limit_price", f"would be beyond the i_would_price {self.instrument.format_price(iw)}")
        if reader.has("end_time"):
            end_ns = parse_timestamp("end_time", reader.raw("end_time"))
            now = self.clock.now_ns()
            if end_ns <= max(now, self.common.start_ns):
                raise parameter_error("end_time", f"must be after now and the start time, got {end_ns} ns")
            amendment.end_ns = end_ns
        if reader.has("participation"):
            participation = reader.number("participation", None)
            assert participation is not None
            self.check_participation(participation)
            amendment.participation = participation
        reader.refuse_unknown()
        if amendment.quantity is None and not amendment.limit_price_set and amendment.end_ns is None and (
            amendment.participation is None
        ):
            raise parameter_error("changes", "must change quantity, limit_price, end_time or participation")
        return amendment

    def check_participation(self, participation: float) -> None:
        raise parameter_error("participation", f"does not apply to {self.name}")

    def take_terms(self, amendment: Amendment) -> bool:
        """Adopt a validated amendment's terms without acting on them (a replay does only this); return whether the
        schedule must be re-planned."""
        replan = False
        if amendment.limit_price_set:
            self.common.limit_price = amendment.limit_price
        if amendment.participation is not None:
            self.participation_changed(amendment.participation)
        if amendment.end_ns is not None:
            self.common.end_ns = amendment.end_ns
            self.overtime = self.completing = False
            replan = True
        if amendment.quantity is not None:
            self.quantity = amendment.quantity
            self.common.max_child_quantity = max(self.common.min_child_quantity, self.common.max_child_quantity)
            replan = True
        return replan

    def on_amend(self, amendment: Amendment) -> list[Action]:
        now = self.clock.now_ns()
        replan = self.take_terms(amendment)
        if amendment.limit_price_set:
            self._respect_new_limit(now)
        if amendment.quantity is not None:
            self._shrink_to_quantity()
        if replan and self.state is AlgoState.RUNNING:
            self.rebase(now)
        if self.state is AlgoState.RUNNING:
            self._decide()
        else:
            self._maybe_finish()
        return self._take()

    def _respect_new_limit(self, now: int) -> None:
        limit = self.common.limit_price
        if limit is None:
            return
        for child in self.children.values():
            price = child.pending_limit_price if child.replace_pending else child.limit_price
            if price is None or self._cap(price) != price:
                if child.resting and not child.replace_pending and not child.cancel_pending:
                    child.replace_pending = True
                    child.pending_quantity = child.quantity
                    child.pending_limit_price = limit
                    child.priced_ns = now
                    self._actions.append(ReplaceChild(child.child_id, child.quantity, limit))
                else:
                    self._cancel(child)

    def _shrink_to_quantity(self) -> None:
        """After the quantity was lowered: reduce or cancel the newest children until nothing can overfill."""
        excess = self.committed - self.quantity
        for child in reversed(list(self.children.values())):
            if excess <= 0:
                return
            if child.cancel_pending:
                continue
            leaves = child.committed_leaves
            if leaves <= excess or not child.resting or child.replace_pending or not child.accepted:
                self._cancel(child)
                excess -= leaves
            else:
                new_total = child.filled + leaves - excess
                child.replace_pending = True
                child.pending_quantity = new_total
                child.pending_limit_price = child.limit_price
                self._actions.append(ReplaceChild(child.child_id, new_total, child.limit_price))
                excess = 0
