"""SimVenue: the embedded default broker, a matching engine with a background market, behind the VenueAdapter contract.

Time comes only from the TimerQueue given to the constructor. A send travels ``latency_ns`` to the venue, is processed
there at venue time (``ts_event``), and everything it causes travels ``latency_ns`` back, in the order it happened.
With ``latency_ns == 0`` a send is processed and answered synchronously inside the call; a send made from inside a
listener callback is queued and processed as soon as the reports already produced have been delivered, so the
listener never sees reports out of order and the book is never re-entered.

Our orders and the background participants' orders meet in the same ``OrderBook`` per symbol. Every fill prints on
the tape (``own=True`` when one side was ours). Reject reasons start with a stable code from ``RejectCode`` followed
by a colon and a message naming the field and the value (``"PRICE_LIMIT: limit_price 110.00 is above the limit up
105.00"``).

What the listener sees for one of our orders, FIX-style:
- accepted: NEW (leaves = quantity); then TRADE per fill (last qty/price, cumulative, leaves); a stop first waits,
  then TRIGGERED when a print reaches its stop price;
- an IOC or market remainder, or a FOK that cannot fill in full: CANCELED with leaves 0 and the reason (unsolicited);
- cancel: CANCELED under the cancel's ClOrdID with ``orig_client_order_id`` the live one; replace: REPLACED likewise
  (cumulative and leaves after the change), then TRADEs if the new price crosses; refused: CANCEL_REJECTED;
- GTD at ``expire_ns`` and DAY at the close: EXPIRED; refused on arrival: REJECTED;
- ``request_status``: one ORDER_STATUS per order echoing the ClOrdID asked about, with cumulative and leaves; an
  unknown order gets cumulative 0, leaves 0 and ``reject_reason`` ``"UNKNOWN_ORDER: ..."``.
Every report but CANCEL_REJECTED, ORDER_STATUS and a local NOT_CONNECTED refusal carries an exec id unique on the
venue. A quote side with nothing on it has price 0 and size 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import replace
from enum import Enum
from functools import partial

import structlog

from adapters.base import VenueListener
from adapters.sim.book import BookEvent, BookOrder, Fill, OrderBook, Triggered, Unfilled
from adapters.sim.config import SimVenueConfig
from adapters.sim.market import LimitLock, SymbolMarket, volume_shape
from gateway.clock import TimerHandle, TimerQueue
from gateway.model import (
    ExecType,
    ExecutionReport,
    Instrument,
    Order,
    OrderType,
    Quote,
    Side,
    SymbolStatus,
    TimeInForce,
    TradePrint,
    VenueStatus,
)

log = structlog.get_logger(__name__)


class RejectCode(str, Enum):
    """The stable first word of every reject reason the simulated venue gives."""

    NOT_CONNECTED = "NOT_CONNECTED"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    HALTED = "HALTED"
    CLOSED = "CLOSED"
    QUANTITY = "QUANTITY"
    LOT_SIZE = "LOT_SIZE"
    PRICE_MISSING = "PRICE_MISSING"
    PRICE = "PRICE"
    PRICE_TICK = "PRICE_TICK"
    PRICE_LIMIT = "PRICE_LIMIT"
    EXPIRE_TIME = "EXPIRE_TIME"
    DUPLICATE_ORDER_ID = "DUPLICATE_ORDER_ID"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"
    TOO_LATE = "TOO_LATE"
    QUANTITY_BELOW_FILLED = "QUANTITY_BELOW_FILLED"
    NOT_AMENDABLE = "NOT_AMENDABLE"


class VenueReject(Exception):
    """Raised inside a venue step to refuse a request; carries the reason text."""

    def __init__(self, code: RejectCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.reason = f"{code.value}: {message}"


# kinds of outbound messages; _LOCAL reports come from the adapter itself and are delivered even when disconnected
_EXECUTION, _QUOTE, _TRADE, _STATUS, _LOCAL = range(5)
_Outbound = tuple[int, object]


class SimVenue:
    """A simulated venue for ``instruments``, driven by ``timers`` (and its clock), configured by ``config``."""

    def __init__(
        self,
        timers: TimerQueue,
        instruments: dict[str, Instrument],
        config: SimVenueConfig | None = None,
    ) -> None:
        self.config = config or SimVenueConfig()
        self.name = self.config.name
        self._timers = timers
        self._clock = timers.clock
        self._latency_ns = self.config.latency_ns
        self._instruments = dict(instruments)
        self._markets = {symbol: SymbolMarket(instrument, self.config) for symbol, instrument in instruments.items()}
        self._listener: VenueListener | None = None
        self._connected = False
        self._outbox: list[_Outbound] = []
        self._inbox: deque[Callable[[], None]] = deque()
        self._pumping = False
        self._orders_by_client_id: dict[str, BookOrder] = {}
        self._orders_by_venue_id: dict[str, BookOrder] = {}
        self._executions: list[ExecutionReport] = []
        self._received: list[tuple[str, str]] = []  # (request kind, ClOrdID) of every request that reached the venue
        self._record = self.config.record_executions
        self._order_sequence = 0
        self._exec_sequence = 0
        self._published: dict[str, tuple[int, int, int, int]] = {}
        self._open_ns: int | None = None
        self._close_ns: int | None = None
        self._next_tick_ns = 0
        self._tick_handle: TimerHandle | None = None
        self._close_handle: TimerHandle | None = None
        self._closed = False

    # --- VenueAdapter -----------------------------------------------------------------------------------------------

    def bind(self, listener: VenueListener) -> None:
        """Say where reports go; binding again (an engine restarted against the same venue) replaces the listener."""
        self._listener = listener

    async def start(self) -> None:
        self.connect()

    async def stop(self) -> None:
        self.disconnect()

    @property
    def connected(self) -> bool:
        return self._connected

    def send_new(self, order: Order) -> None:
        """Send ``order`` as a new order with ClOrdID ``order.venue_client_order_id``."""
        order_type = order.order_type
        book_order = BookOrder(
            order.side,
            order_type,
            order.time_in_force,
            order.quantity,
            order.limit_price if order_type is OrderType.LIMIT or order_type is OrderType.STOP_LIMIT else None,
            order.stop_price if order_type is OrderType.STOP or order_type is OrderType.STOP_LIMIT else None,
            order.expire_ns,
            True,
            order.symbol,
            order.venue_client_order_id or order.client_order_id,
        )
        if not self._connected:
            self._refuse_locally(book_order.client_order_id, None, ExecType.REJECTED)
            return
        self._inbound(partial(self._on_new, book_order))

    def send_cancel(self, order: Order, cancel_client_order_id: str) -> None:
        """Ask to cancel the live version ``order.venue_client_order_id`` under ``cancel_client_order_id``."""
        target = order.venue_client_order_id or order.client_order_id
        if not self._connected:
            self._refuse_locally(cancel_client_order_id, target, ExecType.CANCEL_REJECTED)
            return
        self._inbound(partial(self._on_cancel, target, order.venue_order_id, cancel_client_order_id))

    def send_replace(self, order: Order, replace_client_order_id: str, quantity: int, limit_price: int | None) -> None:
        """Ask to change total quantity and/or limit price (None keeps it) under ``replace_client_order_id``."""
        target = order.venue_client_order_id or order.client_order_id
        if not self._connected:
            self._refuse_locally(replace_client_order_id, target, ExecType.CANCEL_REJECTED)
            return
        step = partial(self._on_replace, target, order.venue_order_id, replace_client_order_id, quantity, limit_price)
        self._inbound(step)

    def request_status(self, orders: list[Order]) -> None:
        """Ask for the state of ``orders``; each is answered by an ORDER_STATUS report with cumulative and leaves."""
        asked = [(order.venue_client_order_id or order.client_order_id, order.venue_order_id) for order in orders]
        if not self._connected:
            for client_order_id, _ in asked:
                self._refuse_locally(client_order_id, None, ExecType.ORDER_STATUS)
            return
        self._inbound(partial(self._on_status_request, asked))

    def resend_executions(self, client_order_ids: Collection[str]) -> None:
        """Send again, marked possible duplicates, every report made about the orders known by ``client_order_ids``
        (any version's ClOrdID): what a FIX session's resend brings after a reconnect. Recovery asks for it."""
        if not self._connected:
            return
        self._inbound(partial(self._on_resend, frozenset(client_order_ids)))

    # --- scenario controls ------------------------------------------------------------------------------------------

    def connect(self) -> None:
        """Bring the session up (what ``start`` does): tell the listener, then send a snapshot of every symbol."""
        if self._connected:
            return
        self._connected = True
        if self._listener is not None:
            self._listener.on_venue_connected(self.name, True)
        now = self._clock.now_ns()
        for symbol, market in self._markets.items():
            if market.status is not VenueStatus.OPEN:
                self._outbox.append((_STATUS, SymbolStatus(self.name, symbol, market.status, now)))
            top = market.book.top()
            if top[1] or top[3]:
                self._published[symbol] = top
                self._outbox.append((_QUOTE, Quote(self.name, symbol, top[0], top[1], top[2], top[3], now)))
        self._flush()

    def disconnect(self) -> None:
        """Drop the session (what ``stop`` does): the market goes on, our orders keep working, reports are lost."""
        if not self._connected:
            return
        self._connected = False
        if self._listener is not None:
            self._listener.on_venue_connected(self.name, False)

    def open_market(self, start_ns: int | None = None) -> None:
        """Schedule the session: market-data ticks every ``interval_ns`` from ``start_ns`` (default now), the close
        ``session_ns`` later. Without it the books hold only the orders sent to them."""
        if self._open_ns is not None:
            raise RuntimeError(f"the market of {self.name} was already opened at {self._open_ns}")
        if self._closed:
            raise RuntimeError(f"the market of {self.name} is closed for the day")
        start = self._clock.now_ns() if start_ns is None else start_ns
        self._open_ns = start
        self._close_ns = start + self.config.session_ns
        self._next_tick_ns = start
        self._tick_handle = self._timers.call_at(start, self._on_tick)
        self._close_handle = self._timers.call_at(self._close_ns, self.close_market)
        log.info("sim_market_scheduled", venue=self.name, open_ns=start, close_ns=self._close_ns)

    def close_market(self) -> None:
        """Close now: makers withdraw, DAY orders expire, every symbol turns CLOSED and new orders are refused."""
        if self._closed:
            return
        self._closed = True
        now = self._clock.now_ns()
        if self._tick_handle is not None:
            self._tick_handle.cancel()
            self._tick_handle = None
        if self._close_handle is not None:
            self._close_handle.cancel()
            self._close_handle = None
        for order in self._orders_by_venue_id.values():
            if not order.done and order.time_in_force is TimeInForce.DAY:
                self._markets[order.symbol].book.cancel(order)
                self._report(order, ExecType.EXPIRED, reason="DAY order expired at the close")
        for symbol, market in self._markets.items():
            market.withdraw_makers()
            market.status = VenueStatus.CLOSED
            self._outbox.append((_STATUS, SymbolStatus(self.name, symbol, VenueStatus.CLOSED, now)))
            self._publish_quote(market)
        log.info("sim_market_closed", venue=self.name, ts=now)
        self._flush()

    def halt(self, symbol: str) -> None:
        """Halt ``symbol``: no trading, new orders and replaces refused, cancels still accepted; the walk goes on."""
        market = self._market(symbol)
        if market.status is not VenueStatus.OPEN:
            return
        market.status = VenueStatus.HALTED
        self._outbox.append((_STATUS, SymbolStatus(self.name, symbol, VenueStatus.HALTED, self._clock.now_ns())))
        log.info("sim_symbol_halted", venue=self.name, symbol=symbol)
        self._flush()

    def resume(self, symbol: str) -> None:
        """Reopen a halted ``symbol``: makers re-quote around wherever the walk has gone meanwhile."""
        market = self._market(symbol)
        if market.status is not VenueStatus.HALTED:
            return
        market.status = VenueStatus.OPEN
        self._outbox.append((_STATUS, SymbolStatus(self.name, symbol, VenueStatus.OPEN, self._clock.now_ns())))
        if self._background_running():
            self._apply(market, market.requote())
            self._publish_quote(market)
        log.info("sim_symbol_resumed", venue=self.name, symbol=symbol)
        self._flush()

    def gap(self, symbol: str, new_mid: int) -> None:
        """Move ``symbol``'s market to ``new_mid`` (price units, clamped to the limits) at once and print a trade there.

        Makers re-quote around the new mid, so resting orders the market jumped over are filled at their own prices,
        and a taker trades at the new level, so the tape shows the gap and stops are reached.
        """
        market = self._market(symbol)
        old_fair = market.fair
        market.set_fair(float(new_mid))
        log.info("sim_market_gapped", venue=self.name, symbol=symbol, old_mid=round(old_fair), new_mid=new_mid)
        if market.status is not VenueStatus.OPEN or not self._background_running():
            return
        self._apply(market, market.requote())
        self._apply(market, market.print_at_new_level(Side.SELL if new_mid < old_fair else Side.BUY))
        self._publish_quote(market)
        self._flush()

    def background_order(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        limit_price: int | None = None,
        time_in_force: TimeInForce = TimeInForce.IOC,
    ) -> BookOrder:
        """Have another participant send an order now (IOC by default; DAY rests as liquidity) and return it."""
        market = self._market(symbol)
        order_type = OrderType.MARKET if limit_price is None else OrderType.LIMIT
        order = BookOrder(side, order_type, time_in_force, quantity, limit_price, symbol=symbol)
        if market.status is VenueStatus.OPEN:
            self._apply(market, market.book.submit(order))
            self._publish_quote(market)
            self._flush()
        else:
            order.done = True
        return order

    # --- queries ----------------------------------------------------------------------------------------------------

    @property
    def instruments(self) -> dict[str, Instrument]:
        return dict(self._instruments)

    @property
    def session_open_ns(self) -> int | None:
        return self._open_ns

    @property
    def session_close_ns(self) -> int | None:
        return self._close_ns

    def book(self, symbol: str) -> OrderBook:
        return self._market(symbol).book

    def quote(self, symbol: str) -> Quote:
        """Return the top of the book as it is at the venue now (no latency); an empty side has price and size 0."""
        bid, bid_size, ask, ask_size = self._market(symbol).book.top()
        return Quote(self.name, symbol, bid, bid_size, ask, ask_size, self._clock.now_ns())

    def last_price(self, symbol: str) -> int | None:
        return self._market(symbol).book.last_price

    def fair_price(self, symbol: str) -> int:
        """Return the random walk's current fair price, rounded to the tick."""
        market = self._market(symbol)
        tick = market.instrument.tick_size
        return round(market.fair / tick) * tick

    def status(self, symbol: str) -> VenueStatus:
        return self._market(symbol).status

    def limit_lock(self, symbol: str) -> LimitLock:
        return self._market(symbol).limit_lock()

    def traded_volume(self, symbol: str) -> int:
        """Return every share traded in ``symbol`` so far, ours and the background's."""
        return self._market(symbol).book.traded_volume

    def executions(self) -> list[ExecutionReport]:
        """Return every report the venue made about our orders, in order (status answers are not executions).

        Empty when ``record_executions`` is off (benchmarks turn it off to save memory).
        """
        return list(self._executions)

    def received_requests(self) -> list[tuple[str, str]]:
        """Return ``("new" | "cancel" | "replace", ClOrdID)`` of every request that reached the venue, in order."""
        return list(self._received)

    def find_order(self, client_order_id: str) -> BookOrder | None:
        """Return the venue's record of the order known by ``client_order_id`` (any version's ClOrdID)."""
        return self._orders_by_client_id.get(client_order_id)

    # --- steps at the venue -----------------------------------------------------------------------------------------

    def _on_new(self, order: BookOrder) -> None:
        self._received.append(("new", order.client_order_id))
        market = self._markets.get(order.symbol)
        try:
            self._check_new(market, order)
        except VenueReject as reject:
            order.done = True
            self._report(order, ExecType.REJECTED, reason=reject.reason)
            return
        assert market is not None
        self._order_sequence += 1
        order.venue_order_id = f"{self.name}-{self._order_sequence}"
        self._orders_by_client_id[order.client_order_id] = order
        self._orders_by_venue_id[order.venue_order_id] = order
        self._report(order, ExecType.NEW)
        self._apply(market, market.book.submit(order))
        if order.time_in_force is TimeInForce.GTD and not order.done:
            assert order.expire_ns is not None
            self._timers.call_at(order.expire_ns, partial(self._on_expire, order))
        self._publish_quote(market)

    def _on_cancel(self, target_id: str, venue_order_id: str | None, cancel_id: str) -> None:
        self._received.append(("cancel", cancel_id))
        order = self._lookup(target_id, venue_order_id)
        try:
            self._check_amendable(order, target_id, cancel_id, halted_blocks=False)
        except VenueReject as reject:
            self._report_cancel_reject(order, cancel_id, target_id, reject.reason)
            return
        assert order is not None
        market = self._markets[order.symbol]
        market.book.cancel(order)
        orig_id = order.client_order_id
        order.client_order_id = cancel_id
        self._orders_by_client_id[cancel_id] = order
        self._report(order, ExecType.CANCELED, orig_client_order_id=orig_id)
        self._publish_quote(market)

    def _on_replace(
        self, target_id: str, venue_order_id: str | None, replace_id: str, quantity: int, limit_price: int | None
    ) -> None:
        self._received.append(("replace", replace_id))
        order = self._lookup(target_id, venue_order_id)
        try:
            self._check_amendable(order, target_id, replace_id, halted_blocks=True)
            assert order is not None
            self._check_replace(order, quantity, limit_price)
        except VenueReject as reject:
            self._report_cancel_reject(order, replace_id, target_id, reject.reason)
            return
        market = self._markets[order.symbol]
        orig_id = order.client_order_id
        order.client_order_id = replace_id
        self._orders_by_client_id[replace_id] = order
        filled = order.filled_quantity
        self._report(
            order, ExecType.REPLACED, orig_client_order_id=orig_id, cumulative=filled, leaves=quantity - filled
        )
        self._apply(market, market.book.replace(order, quantity, limit_price))
        self._publish_quote(market)

    def _on_status_request(self, asked: list[tuple[str, str | None]]) -> None:
        now = self._clock.now_ns()
        for client_order_id, venue_order_id in asked:
            order = self._lookup(client_order_id, venue_order_id)
            if order is None:
                report = ExecutionReport(
                    venue=self.name,
                    exec_type=ExecType.ORDER_STATUS,
                    client_order_id=client_order_id,
                    venue_order_id=venue_order_id,
                    cumulative_quantity=0,
                    leaves_quantity=0,
                    reject_reason=f"{RejectCode.UNKNOWN_ORDER.value}: no order {client_order_id} on {self.name}",
                    ts_event=now,
                )
            else:
                report = ExecutionReport(
                    venue=self.name,
                    exec_type=ExecType.ORDER_STATUS,
                    client_order_id=client_order_id,
                    venue_order_id=order.venue_order_id,
                    cumulative_quantity=order.filled_quantity,
                    leaves_quantity=order.leaves_quantity,
                    ts_event=now,
                )
            self._outbox.append((_EXECUTION, report))

    def _on_resend(self, client_order_ids: frozenset[str]) -> None:
        venue_order_ids = set()
        for client_order_id in client_order_ids:
            order = self._orders_by_client_id.get(client_order_id)
            if order is not None:
                venue_order_ids.add(order.venue_order_id)
        for report in self._executions:
            if (report.venue_order_id in venue_order_ids or report.client_order_id in client_order_ids
                    or report.orig_client_order_id in client_order_ids):
                self._outbox.append((_EXECUTION, replace(report, possible_duplicate=True)))

    def _on_expire(self, order: BookOrder) -> None:
        if order.done:
            return
        market = self._markets[order.symbol]
        market.book.cancel(order)
        self._report(order, ExecType.EXPIRED, reason=f"GTD order expired at {order.expire_ns}")
        self._publish_quote(market)
        self._flush()

    def _on_tick(self) -> None:
        """One market-data interval: every symbol walks; open ones re-quote, trade and publish."""
        assert self._open_ns is not None and self._close_ns is not None
        now = self._clock.now_ns()
        volume_rate = volume_shape((now - self._open_ns) / self.config.session_ns, self.config.volume_u_shape)
        for market in self._markets.values():
            if market.status is not VenueStatus.OPEN:
                market.walk()  # price discovery goes on during a halt; the book shows it on resume
                continue
            events = market.step(volume_rate)
            if events:
                self._apply(market, events)
            self._publish_quote(market)
        self._flush()
        self._next_tick_ns += self.config.interval_ns
        if self._next_tick_ns < self._close_ns:
            self._tick_handle = self._timers.call_at(self._next_tick_ns, self._on_tick)
        else:
            self._tick_handle = None

    # --- checks -----------------------------------------------------------------------------------------------------

    def _check_new(self, market: SymbolMarket | None, order: BookOrder) -> None:
        if market is None:
            raise VenueReject(RejectCode.UNKNOWN_SYMBOL, f"symbol {order.symbol!r} is not traded on {self.name}")
        symbol = order.symbol
        if order.client_order_id in self._orders_by_client_id:
            raise VenueReject(RejectCode.DUPLICATE_ORDER_ID, f"ClOrdID {order.client_order_id!r} was already used")
        self._check_open(market, symbol)
        self._check_quantity(market, order.quantity)
        order_type = order.order_type
        if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            if order.limit_price is None:
                raise VenueReject(RejectCode.PRICE_MISSING, f"limit_price is required for a {order_type.value} order")
            self._check_price(market, "limit_price", order.limit_price)
        if order_type in (OrderType.STOP, OrderType.STOP_LIMIT):
            if order.stop_price is None:
                raise VenueReject(RejectCode.PRICE_MISSING, f"stop_price is required for a {order_type.value} order")
            self._check_price(market, "stop_price", order.stop_price)
        if order.time_in_force is TimeInForce.GTD:
            now = self._clock.now_ns()
            if order.expire_ns is None:
                raise VenueReject(RejectCode.EXPIRE_TIME, "expire_ns is required for a GTD order")
            if order.expire_ns <= now:
                raise VenueReject(RejectCode.EXPIRE_TIME, f"expire_ns {order.expire_ns} is not after venue time {now}")

    def _check_open(self, market: SymbolMarket, symbol: str) -> None:
        if market.status is VenueStatus.HALTED:
            raise VenueReject(RejectCode.HALTED, f"{symbol} is halted on {self.name}")
        if market.status is VenueStatus.CLOSED:
            raise VenueReject(RejectCode.CLOSED, f"{symbol} is closed on {self.name}")

    def _check_quantity(self, market: SymbolMarket, quantity: int) -> None:
        if quantity <= 0:
            raise VenueReject(RejectCode.QUANTITY, f"quantity must be positive, got {quantity}")
        lot = market.instrument.lot_size
        if self.config.enforce_lot_size and quantity % lot:
            raise VenueReject(
                RejectCode.LOT_SIZE,
                f"quantity {quantity} is not a multiple of the lot size {lot} of {market.instrument.symbol}",
            )

    def _check_price(self, market: SymbolMarket, field: str, price: int) -> None:
        instrument = market.instrument
        if price <= 0:
            raise VenueReject(RejectCode.PRICE, f"{field} must be positive, got {instrument.format_price(price)}")
        if price % instrument.tick_size:
            text, tick = instrument.format_price(price), instrument.format_price(instrument.tick_size)
            raise VenueReject(RejectCode.PRICE_TICK, f"{field} {text} is off the tick {tick} of {instrument.symbol}")
        if instrument.limit_up and price > instrument.limit_up:
            text, limit = instrument.format_price(price), instrument.format_price(instrument.limit_up)
            raise VenueReject(RejectCode.PRICE_LIMIT, f"{field} {text} is above the limit up {limit}")
        if instrument.limit_down and price < instrument.limit_down:
            text, limit = instrument.format_price(price), instrument.format_price(instrument.limit_down)
            raise VenueReject(RejectCode.PRICE_LIMIT, f"{field} {text} is below the limit down {limit}")

    def _check_amendable(self, order: BookOrder | None, target_id: str, request_id: str, halted_blocks: bool) -> None:
        if order is None:
            raise VenueReject(RejectCode.UNKNOWN_ORDER, f"no order {target_id!r} on {self.name}")
        if request_id in self._orders_by_client_id:
            raise VenueReject(RejectCode.DUPLICATE_ORDER_ID, f"ClOrdID {request_id!r} was already used")
        if order.done:
            state = "filled" if order.filled_quantity == order.quantity else "no longer working"
            raise VenueReject(RejectCode.TOO_LATE, f"order {target_id!r} is {state}")
        if halted_blocks:
            self._check_open(self._markets[order.symbol], order.symbol)

    def _check_replace(self, order: BookOrder, quantity: int, limit_price: int | None) -> None:
        market = self._markets[order.symbol]
        self._check_quantity(market, quantity)
        if quantity <= order.filled_quantity:
            raise VenueReject(
                RejectCode.QUANTITY_BELOW_FILLED,
                f"quantity {quantity} must exceed the filled quantity {order.filled_quantity}",
            )
        if limit_price is not None:
            if order.limit_price is None:
                raise VenueReject(
                    RejectCode.NOT_AMENDABLE, f"a {order.order_type.value} order has no limit_price to change"
                )
            self._check_price(market, "limit_price", limit_price)

    # --- reports and market data ------------------------------------------------------------------------------------

    def _lookup(self, client_order_id: str, venue_order_id: str | None) -> BookOrder | None:
        order = self._orders_by_client_id.get(client_order_id)
        if order is None and venue_order_id:
            order = self._orders_by_venue_id.get(venue_order_id)
        return order

    def _next_exec_id(self) -> str:
        self._exec_sequence += 1
        return f"{self.name}-E{self._exec_sequence}"

    def _report(
        self,
        order: BookOrder,
        exec_type: ExecType,
        *,
        reason: str | None = None,
        orig_client_order_id: str | None = None,
        cumulative: int | None = None,
        leaves: int | None = None,
    ) -> None:
        report = ExecutionReport(
            venue=self.name,
            exec_type=exec_type,
            client_order_id=order.client_order_id,
            orig_client_order_id=orig_client_order_id,
            venue_order_id=order.venue_order_id or None,
            exec_id=self._next_exec_id(),
            cumulative_quantity=order.filled_quantity if cumulative is None else cumulative,
            leaves_quantity=order.leaves_quantity if leaves is None else leaves,
            reject_reason=reason,
            ts_event=self._clock.now_ns(),
        )
        if self._record:
            self._executions.append(report)
        self._outbox.append((_EXECUTION, report))

    def _report_trade(self, order: BookOrder, price: int, quantity: int, cumulative: int, now: int) -> None:
        report = ExecutionReport(
            venue=self.name,
            exec_type=ExecType.TRADE,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            exec_id=self._next_exec_id(),
            last_quantity=quantity,
            last_price=price,
            cumulative_quantity=cumulative,
            leaves_quantity=order.quantity - cumulative,
            ts_event=now,
        )
        if self._record:
            self._executions.append(report)
        self._outbox.append((_EXECUTION, report))

    def _report_cancel_reject(self, order: BookOrder | None, request_id: str, target_id: str, reason: str) -> None:
        report = ExecutionReport(
            venue=self.name,
            exec_type=ExecType.CANCEL_REJECTED,
            client_order_id=request_id,
            orig_client_order_id=target_id,
            venue_order_id=order.venue_order_id if order is not None else None,
            cumulative_quantity=order.filled_quantity if order is not None else None,
            leaves_quantity=order.leaves_quantity if order is not None else None,
            reject_reason=reason,
            ts_event=self._clock.now_ns(),
        )
        if self._record:
            self._executions.append(report)
        self._outbox.append((_EXECUTION, report))

    def _apply(self, market: SymbolMarket, events: list[BookEvent]) -> None:
        """Turn what the book did into reports for our orders and prints on the tape."""
        if not events:
            return
        name = self.name
        symbol = market.instrument.symbol
        now = self._clock.now_ns()
        outbox = self._outbox
        for event in events:
            if type(event) is Fill:
                aggressor, resting = event.aggressor, event.resting
                price, quantity = event.price, event.quantity
                if aggressor.own:
                    self._report_trade(aggressor, price, quantity, event.aggressor_filled, now)
                if resting.own:
                    self._report_trade(resting, price, quantity, event.resting_filled, now)
                outbox.append((_TRADE, TradePrint(name, symbol, price, quantity, now, aggressor.own or resting.own)))
            elif type(event) is Triggered:
                if event.order.own:
                    self._report(event.order, ExecType.TRIGGERED, cumulative=0, leaves=event.order.quantity)
            elif type(event) is Unfilled and event.order.own:
                self._report(event.order, ExecType.CANCELED, reason=event.reason)

    def _publish_quote(self, market: SymbolMarket) -> None:
        symbol = market.instrument.symbol
        top = market.book.top()
        if self._published.get(symbol) != top:
            self._published[symbol] = top
            quote = Quote(self.name, symbol, top[0], top[1], top[2], top[3], self._clock.now_ns())
            self._outbox.append((_QUOTE, quote))

    def _background_running(self) -> bool:
        """Whether the other participants are in the market: the session has opened and not closed."""
        return self._open_ns is not None and not self._closed and self._clock.now_ns() >= self._open_ns

    def _market(self, symbol: str) -> SymbolMarket:
        market = self._markets.get(symbol)
        if market is None:
            raise KeyError(f"symbol {symbol!r} is not traded on {self.name}")
        return market

    # --- transport: latency, ordering, delivery ---------------------------------------------------------------------

    def _inbound(self, step: Callable[[], None]) -> None:
        """Carry a request to the venue: after the latency, or at once (queued behind any delivery in progress)."""
        if self._latency_ns:
            self._timers.call_later(self._latency_ns, partial(self._run_step, step))
        elif self._pumping:
            self._inbox.append(step)
        else:
            self._pumping = True
            try:
                step()
            finally:
                self._pumping = False
            self._pump()

    def _run_step(self, step: Callable[[], None]) -> None:
        step()
        self._flush()

    def _flush(self) -> None:
        """Send what the venue produced back: as one batch after the latency, or now."""
        if not self._outbox:
            return
        if self._latency_ns:
            batch = self._outbox
            self._outbox = []
            self._timers.call_later(self._latency_ns, partial(self._deliver, batch))
        else:
            self._pump()

    def _pump(self) -> None:
        """Latency 0: deliver what was produced, then process requests that arrived meanwhile, until both are empty."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                if self._outbox:
                    batch = self._outbox
                    self._outbox = []
                    self._deliver(batch)
                elif self._inbox:
                    self._inbox.popleft()()
                else:
                    return
        finally:
            self._pumping = False

    def _deliver(self, batch: list[_Outbound]) -> None:
        listener = self._listener
        if listener is None:
            return
        for kind, payload in batch:
            if kind == _LOCAL:
                listener.on_execution(payload)  # type: ignore[arg-type]
            elif not self._connected:
                continue
            elif kind == _EXECUTION:
                listener.on_execution(payload)  # type: ignore[arg-type]
            elif kind == _TRADE:
                listener.on_trade(payload)  # type: ignore[arg-type]
            elif kind == _QUOTE:
                listener.on_quote(payload)  # type: ignore[arg-type]
            else:
                listener.on_symbol_status(payload)  # type: ignore[arg-type]

    def _refuse_locally(self, client_order_id: str, orig_client_order_id: str | None, exec_type: ExecType) -> None:
        """Answer a send made while disconnected: the adapter itself refuses, the venue never hears of it."""
        report = ExecutionReport(
            venue=self.name,
            exec_type=exec_type,
            client_order_id=client_order_id,
            orig_client_order_id=orig_client_order_id,
            cumulative_quantity=0 if exec_type is ExecType.REJECTED else None,
            leaves_quantity=0 if exec_type is ExecType.REJECTED else None,
            reject_reason=f"{RejectCode.NOT_CONNECTED.value}: the session to {self.name} is down",
            ts_event=self._clock.now_ns(),
        )
        if self._latency_ns:
            self._timers.call_later(0, partial(self._deliver, [(_LOCAL, report)]))
        else:
            self._outbox.append((_LOCAL, report))
            self._pump()
