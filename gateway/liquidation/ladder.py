"""The executor of one plan line: a price ladder that sells into the market without crashing it.

Each reprice tick it prices a marketable limit a band through the reference (mid) price, rung 0 at ``band_start_bps``,
and sizes the child to the participation cap against recent market volume. A tick on which the working child did not
fill climbs one rung, and being behind the straight-line schedule to the deadline by more than the tolerance climbs
one more; ahead of schedule and filling, it steps back down. Inside the final window before the deadline the cap is
lifted and the ladder goes to its top, then to market where allowed. Prices never leave the daily
limits. Like the algorithms, it is a deterministic state machine: events and the time in, actions out.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

from algos.base import Action, CancelChild, ChildPurpose, ReplaceChild, SendChild, WakeAt
from gateway.liquidation.policy import LiquidationPolicy
from gateway.model import Instrument, OrderType, Quote, Side, TimeInForce

NANOS_PER_SECOND = 1_000_000_000
SESSION_SECONDS = 23_400
MAX_CONSECUTIVE_REFUSALS = 20


class LineState(str, Enum):
    WAITING = "waiting"  # the account's own orders in this symbol are being canceled first
    WORKING = "working"
    HALTED = "halted"
    STOPPING = "stopping"  # canceling its child before it is done
    DONE = "done"


@dataclass(slots=True)
class LadderChild:
    child_id: str
    quantity: int
    limit_price: int | None  # None: market
    filled: int = 0
    accepted: bool = False
    pending: tuple[int, int | None] | None = None  # a replace in flight: (quantity, price)
    cancel_sent: bool = False
    ticks_working: int = 0

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled


class LadderLine:
    """One position being reduced. ``parent_id``, ``account``, ``symbol``, ``principal`` and ``liquidation`` are what
    the engine's ChildOrderPort reads from a parent."""

    liquidation = True

    def __init__(self, parent_id: str, account: str, principal: str, instrument: Instrument, side: Side,
                 quantity: int, decision_price: int, policy: LiquidationPolicy, start_ns: int, deadline_ns: int) -> None:
        self.parent_id = parent_id
        self.account = account
        self.principal = principal
        self.instrument = instrument
        self.symbol = instrument.symbol
        self.side = side
        self.quantity = quantity
        self.decision_price = decision_price
        self.policy = policy
        self.start_ns = start_ns
        self.deadline_ns = max(deadline_ns, start_ns + 1)
        self.state = LineState.WAITING
        self.filled = 0
        self.filled_cost = 0
        self.rung = 0
        self.child: LadderChild | None = None
        self.child_sequence = 0
        self.refusals = 0
        self.stop_reason: str | None = None
        self._market_prints: deque[tuple[int, int]] = deque()  # (ts, qty) of others' trades
        self._volume_since_start = 0  # others' prints since the line started: the base of the participation cap
        self._window_ns = int(policy.volume_window_s * NANOS_PER_SECOND)
        self._max_rung = max(0, math.ceil((policy.band_max_bps - policy.band_start_bps) / policy.band_step_bps))

    # --- what the coordinator asks ---------------------------------------------------------------------------------

    @property
    def leaves(self) -> int:
        return self.quantity - self.filled

    @property
    def done(self) -> bool:
        return self.state is LineState.DONE

    def start(self) -> None:
        if self.state is LineState.WAITING:
            self.state = LineState.WORKING

    def tick(self, now_ns: int, quote: Quote | None, last_trade_price: int, halted: bool) -> list[Action]:
        """Reprice, resize, escalate; always ask to be woken for the next tick unless done."""
        actions: list[Action] = []
        if self.state in (LineState.DONE, LineState.WAITING):
            return actions
        if self.state is LineState.STOPPING:
            return self._cancel_child(actions)
        next_tick = WakeAt(now_ns + int(self.policy.reprice_interval_s * NANOS_PER_SECOND))
        if halted:
            self.state = LineState.HALTED
            return [next_tick]
        self.state = LineState.WORKING
        final = now_ns >= self.deadline_ns - int(self.policy.final_window_s * NANOS_PER_SECOND)
        child = self.child
        stale = False
        if child is not None and child.accepted and child.pending is None:
            child.ticks_working += 1
            stale = child.ticks_working > 1 and child.leaves > 0  # a full interval in the book without filling
        behind = self.behind_schedule(now_ns)
        if stale or behind:
            self.rung = min(self._max_rung + 1, self.rung + (1 if stale else 0) + (1 if behind else 0))
        elif child is None and self.rung and self.filled > self._schedule_target(now_ns):
            self.rung -= 1  # ahead and filling: step back towards the reference rather than pay for speed
        if final:
            self.rung = self._max_rung + 1
        price = self.rung_price(self.reference_price(quote, last_trade_price))
        wanted_leaves = self.leaves if final else self._capped_size(now_ns)
        if child is None:
            if wanted_leaves > 0:
                self.child_sequence += 1
                self.child = LadderChild(f"{self.parent_id}-E{self.child_sequence}", wanted_leaves, price)
                order_type = OrderType.MARKET if price is None else OrderType.LIMIT
                actions.append(SendChild(self.child.child_id, self.side, order_type, wanted_leaves, price,
                                         TimeInForce.DAY, ChildPurpose.LIQUIDATION))
        elif child.accepted and child.pending is None and not child.cancel_sent:
            if price is None or child.limit_price is None:
                if price != child.limit_price:  # market and limit do not replace into each other: cancel, resend
                    self._cancel_child(actions)
            else:
                new_total = child.filled + wanted_leaves
                if price != child.limit_price or new_total != child.quantity:
                    child.pending = (new_total, price)
                    actions.append(ReplaceChild(child.child_id, new_total, price))
        actions.append(next_tick)
        return actions

    def stop(self, reason: str) -> list[Action]:
        self.stop_reason = reason
        if self.state is LineState.DONE:
            return []
        if self.child is None:
            self.state = LineState.DONE
            return []
        self.state = LineState.STOPPING
        return self._cancel_child([])

    # --- pricing and sizing -------------------------------------------------------------------------------------

    def reference_price(self, quote: Quote | None, last_trade_price: int) -> int:
        if quote is not None and quote.bid_size and quote.ask_size:
            return quote.mid_price
        return last_trade_price or self.decision_price

    def rung_price(self, reference: int) -> int | None:
        """The limit for the current rung, inside the daily limits; None for market."""
        instrument = self.instrument
        policy = self.policy
        if self.rung > self._max_rung:
            if policy.allow_market:
                return None  # the venue keeps a market order inside the daily limits
            bps = policy.band_max_bps
        else:
            bps = min(policy.band_max_bps, policy.band_start_bps + self.rung * policy.band_step_bps)
        offset = reference * bps / 10_000
        if self.side is Side.SELL:
            price = instrument.round_to_tick(int(reference - offset), Side.SELL)
            if instrument.limit_down:
                price = max(price, instrument.limit_down)
        else:
            price = instrument.round_to_tick(math.ceil(reference + offset), Side.BUY)
            if instrument.limit_up:
                price = min(price, instrument.limit_up)
        return max(price, instrument.tick_size)

    def _schedule_target(self, now_ns: int) -> float:
        """Shares a straight line from the start to the deadline would have sold by now."""
        return self.quantity * min(1.0, (now_ns - self.start_ns) / (self.deadline_ns - self.start_ns))

    def behind_schedule(self, now_ns: int) -> bool:
        return self._schedule_target(now_ns) - self.filled > self.policy.behind_tolerance * self.quantity

    def _capped_size(self, now_ns: int) -> int:
        """Leaves the participation cap allows now: the cap times the market's volume since the start, plus one
        reprice interval's worth at the recent rate, less what is already filled (POV, never a block up front)."""
        horizon = now_ns - self._window_ns
        prints = self._market_prints
        while prints and prints[0][0] < horizon:
            prints.popleft()
        observed = sum(quantity for _, quantity in prints)
        observed_ns = min(self._window_ns, now_ns - self.start_ns)
        # before a full window has been watched, the instrument's average rate stands in for the unwatched part
        expected_rate = self.instrument.average_daily_volume / SESSION_SECONDS / NANOS_PER_SECOND
        recent_rate = (observed + expected_rate * (self._window_ns - observed_ns)) / self._window_ns
        interval_ns = self.policy.reprice_interval_s * NANOS_PER_SECOND
        allowed = self.policy.max_participation * (self._volume_since_start + recent_rate * interval_ns) - self.filled
        lot = self.instrument.lot_size
        minimum = self.policy.min_child_lots * lot
        return min(self.leaves, max(minimum, int(allowed) // lot * lot))

    # --- child events -------------------------------------------------------------------------------------------

    def on_trade(self, ts_ns: int, quantity: int, own: bool) -> None:
        if not own:
            self._market_prints.append((ts_ns, quantity))
            self._volume_since_start += quantity

    def on_child_accepted(self, child_id: str) -> None:
        if self.child is not None and self.child.child_id == child_id:
            self.child.accepted = True
            self.refusals = 0

    def on_child_filled(self, child_id: str, quantity: int, price: int) -> None:
        self.filled += quantity
        self.filled_cost += quantity * price
        child = self.child
        if child is not None and child.child_id == child_id:
            child.filled += quantity
            child.accepted = True
            if child.leaves <= 0:
                self.child = None
        if self.filled >= self.quantity:
            self.state = LineState.DONE

    def on_child_replaced(self, child_id: str) -> None:
        child = self.child
        if child is not None and child.child_id == child_id and child.pending is not None:
            child.quantity, child.limit_price = child.pending
            child.pending = None
            child.ticks_working = 1

    def on_child_cancel_rejected(self, child_id: str) -> None:
        child = self.child
        if child is not None and child.child_id == child_id:
            child.pending = None
            child.cancel_sent = False

    def on_child_closed(self, child_id: str, refused: bool) -> None:
        """The child is canceled, expired or rejected: what it did not fill goes back to the line."""
        child = self.child
        if child is None or child.child_id != child_id:
            return
        self.child = None
        self.refusals = self.refusals + 1 if refused else 0
        if self.state is LineState.STOPPING or self.filled >= self.quantity:
            self.state = LineState.DONE

    def on_send_deferred(self) -> None:
        """The child was not sent (its turn at the venue has not come): it never existed."""
        self.child = None
        self.child_sequence -= 1  # the id was never used anywhere: reuse it, ids stay dense

    def on_send_refused(self) -> None:
        """The gateway refused the child before it left (risk, venue down): it never existed, and it counts."""
        self.on_send_deferred()
        self.refusals += 1

    @property
    def exhausted(self) -> bool:
        return self.refusals >= MAX_CONSECUTIVE_REFUSALS

    def _cancel_child(self, actions: list[Action]) -> list[Action]:
        child = self.child
        if child is not None and not child.cancel_sent and child.pending is None:
            child.cancel_sent = True
            actions.append(CancelChild(child.child_id))
        return actions
