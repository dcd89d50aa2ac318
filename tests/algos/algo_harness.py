"""A ChildOrderPort over a real SimVenue, for scenario tests and the benchmark: parents trade against the simulated market.

Children become ``gateway.model.Order``s kept in the engine's own ``OrderStore`` (its state machine moves them by the
venue's execution reports), with ``venue_client_order_id`` = the child id; each accepted transition goes back to the
manager as ``on_child_update``, the way the engine does it. Time is a SimClock driven by ``TimerQueue.advance_to``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.base import IgnoringListener
from adapters.sim.config import SimVenueConfig
from adapters.sim.venue import SimVenue
from gateway.clock import NANOS_PER_SECOND, Clock, SimClock, TimerQueue
from gateway.model import (
    ErrorCode,
    ExecutionReport,
    Instrument,
    Order,
    OrderStatus,
    OrderType,
    Quote,
    Refusal,
    Side,
    SubmitParent,
    TimeInForce,
    TradePrint,
)
from gateway.orders import OrderStore
from gateway.parents import ParentOrder, ParentOrderManager

START_NS = 1_795_000_000_000_000_000  # a fixed simulated morning

ACME = Instrument(
    symbol="ACME",
    tick_size=1,
    lot_size=100,
    price_precision=2,
    reference_price=10_000,  # 100.00
    limit_down=9_000,
    limit_up=11_000,
    average_daily_volume=4_000_000,
    price_scale=0,
)


def make_instrument(symbol: str = "ACME", **changes: Any) -> Instrument:
    fields = {
        "symbol": symbol,
        "tick_size": ACME.tick_size,
        "lot_size": ACME.lot_size,
        "price_precision": ACME.price_precision,
        "reference_price": ACME.reference_price,
        "limit_down": ACME.limit_down,
        "limit_up": ACME.limit_up,
        "average_daily_volume": ACME.average_daily_volume,
    }
    fields.update(changes)
    return Instrument(**fields)


@dataclass(slots=True)
class ChildFill:
    ts: int
    child_id: str
    parent_id: str
    side: Side
    quantity: int
    price: int
    child_limit_price: int | None


@dataclass(slots=True)
class Tape:
    """Printed volume per symbol since the harness started: others' and ours."""

    others: dict[str, int] = field(default_factory=dict)
    own: dict[str, int] = field(default_factory=dict)


class SimHarness(IgnoringListener):
    """SimVenue + OrderStore + ParentOrderManager on one SimClock."""

    def __init__(
        self,
        instruments: list[Instrument] | None = None,
        venue_config: SimVenueConfig | None = None,
        start_ns: int = START_NS,
        clock: Clock | None = None,
        timers: TimerQueue | None = None,
        open_market: bool = True,
        wake_observer: Callable[[int, int], None] | None = None,
        keep_events: bool = True,
    ) -> None:
        self.instruments = {i.symbol: i for i in (instruments or [make_instrument()])}
        self.clock = clock if clock is not None else SimClock(start_ns)
        self.timers = timers if timers is not None else TimerQueue(self.clock)
        self.venue = SimVenue(self.timers, self.instruments, venue_config or SimVenueConfig(seed=7))
        self.store = OrderStore()
        self.manager = ParentOrderManager(self, self.timers, self.instruments, wake_observer=wake_observer)
        self.events: list[Any] = []
        self.keep_events = keep_events
        self.quotes: dict[str, Quote] = {}
        self.tape = Tape()
        self.fills: list[ChildFill] = []
        self.sent: list[Order] = []
        self.refuse_sends: int = 0  # the next n sends are refused by the port, as the engine's risk would
        self.refusals_given = 0
        self.client_ids = 0
        self.venue.bind(self)
        self.venue.connect()
        if open_market:
            self.venue.open_market()

    # --- driving ------------------------------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.timers.advance_by(round(seconds * NANOS_PER_SECOND))

    def advance_to(self, ts_ns: int) -> None:
        self.timers.advance_to(ts_ns)

    def submit(self, algo: str, side: Side, quantity: int | None, params: dict[str, Any], symbol: str = "ACME",
               account: str = "ACC1", cash_amount: int | None = None) -> ParentOrder:
        self.client_ids += 1
        command = SubmitParent(account, symbol, side, quantity, algo, params, f"c{self.client_ids}", cash_amount)
        return self.manager.submit(command, "alice")

    def events_named(self, name: str, parent_id: str | None = None) -> list[Any]:
        return [e for e in self.events if e.event == name and (parent_id is None or e.parent_id == parent_id)]

    def others_volume(self, symbol: str = "ACME") -> int:
        return self.tape.others.get(symbol, 0)

    # --- ChildOrderPort -----------------------------------------------------------------------------------------

    def send_child(self, parent: ParentOrder, child_id: str, side: Side, order_type: OrderType, quantity: int,
                   limit_price: int | None, time_in_force: TimeInForce) -> Refusal | None:
        if self.refuse_sends > 0:
            self.refuse_sends -= 1
            self.refusals_given += 1
            return Refusal(ErrorCode.RISK_THROTTLE_VENUE, "venue message rate 0/s reached (test)", "venue")
        now = self.clock.now_ns()
        order = Order(child_id, child_id, parent.account, parent.principal, parent.symbol, side, order_type,
                      time_in_force, quantity, limit_price, None, None, self.venue.name, now, parent.parent_id,
                      venue_client_order_id=child_id, ts_updated=now)
        self.store.add(order)
        self.sent.append(order)
        self.venue.send_new(order)
        return None

    def cancel_child(self, child_id: str) -> Refusal | None:
        order = self.store.by_id.get(child_id)
        if order is None:
            return Refusal(ErrorCode.ORDER_NOT_FOUND, f"child {child_id} not found", "order_id")
        if not order.is_working or order.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
            return Refusal(ErrorCode.ORDER_NOT_CANCELABLE, f"child {child_id} is {order.status.value}", "order_id")
        order.cancel_count += 1
        cancel_id = f"{child_id}.C{order.cancel_count}"
        self.store.mark_pending(order, cancel_id, OrderStatus.PENDING_CANCEL)
        self.venue.send_cancel(order, cancel_id)
        return None

    def replace_child(self, child_id: str, quantity: int, limit_price: int | None) -> Refusal | None:
        order = self.store.by_id.get(child_id)
        if order is None:
            return Refusal(ErrorCode.ORDER_NOT_FOUND, f"child {child_id} not found", "order_id")
        if order.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            return Refusal(ErrorCode.ORDER_NOT_AMENDABLE, f"child {child_id} is {order.status.value}", "order_id")
        if quantity <= order.filled_quantity:
            return Refusal(ErrorCode.VALIDATION_QUANTITY, f"quantity {quantity} <= filled {order.filled_quantity}",
                           "quantity")
        order.replace_count += 1
        replace_id = f"{child_id}.R{order.replace_count}"
        order.pending_quantity = quantity
        order.pending_limit_price = limit_price if limit_price is not None else order.limit_price
        self.store.mark_pending(order, replace_id, OrderStatus.PENDING_REPLACE)
        self.venue.send_replace(order, replace_id, quantity, limit_price)
        return None

    def publish(self, event: object) -> None:
        if self.keep_events:
            self.events.append(event)

    def last_quote(self, symbol: str) -> Quote | None:
        return self.quotes.get(symbol)

    # --- VenueListener --------------------------------------------------------------------------------------------

    def on_execution(self, report: ExecutionReport) -> None:
        order = self.store.find(report)
        if order is None:
            return
        limit_before = order.limit_price
        transition = self.store.apply_report(order, report)
        if transition is None:
            return
        if transition.fill_quantity:
            self.fills.append(ChildFill(report.ts_event, order.order_id, order.parent_id or "", order.side,
                                        transition.fill_quantity, transition.fill_price, limit_before))
        if order.parent_id is not None:
            self.manager.on_child_update(order, transition.event, transition.fill_quantity,
                                         transition.fill_price or None)

    def on_quote(self, quote: Quote) -> None:
        self.quotes[quote.symbol] = quote
        self.manager.on_quote(quote)

    def on_trade(self, trade: TradePrint) -> None:
        book = self.tape.own if trade.own else self.tape.others
        book[trade.symbol] = book.get(trade.symbol, 0) + trade.quantity
        self.manager.on_trade(trade)

