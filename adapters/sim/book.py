"""A per-symbol limit order book: price-time priority, off-book stops, and the FIX time-in-force rules.

The book knows nothing of reports, latency or ids on the wire: it matches ``BookOrder``s and returns what happened as a
list of events (``Fill``, ``Triggered``, ``Unfilled``) for the venue to translate. Prices and quantities are integers.

Each side keeps a sorted list of price keys (bids by price, asks by negated price, so the best is always the last
element and removing it is O(1)) and a dict of price -> level, each level a deque of ``(sequence, order)`` entries.
Cancels are O(1): the order is marked and the level's live quantity reduced; its stale entry is skipped when matching
reaches it. A replace that loses priority gives the order a new sequence and a new entry, which makes the old one stale.
"""

from __future__ import annotations

import heapq
from bisect import insort
from collections import deque
from dataclasses import dataclass

from gateway.model import OrderType, Side, TimeInForce

_STOP_TYPES = (OrderType.STOP, OrderType.STOP_LIMIT)
_RESTING_TIFS = (TimeInForce.DAY, TimeInForce.GTD)


@dataclass(slots=True, eq=False)
class BookOrder:
    """One order in the book: ours (``own``) or a background participant's. Identity is the object itself."""

    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    limit_price: int | None = None  # None for MARKET and STOP: no price limit once executing
    stop_price: int | None = None
    expire_ns: int | None = None
    own: bool = False
    symbol: str = ""
    client_order_id: str = ""  # ClOrdID of the live version
    venue_order_id: str = ""
    filled_quantity: int = 0
    sequence: int = 0  # time priority: lower is earlier; renewed when priority is lost
    resting: bool = False  # on the book, or waiting off-book as an untriggered stop
    triggered: bool = False
    done: bool = False  # filled, canceled, expired or killed: nothing more will happen to it

    @property
    def open_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def leaves_quantity(self) -> int:
        return 0 if self.done else self.quantity - self.filled_quantity

    @property
    def is_waiting_stop(self) -> bool:
        return self.resting and not self.triggered and self.order_type in _STOP_TYPES


@dataclass(slots=True)
class Fill:
    """One match: ``aggressor`` took ``quantity`` at ``price`` from ``resting``; cumulative fills after this match."""

    aggressor: BookOrder
    resting: BookOrder
    price: int
    quantity: int
    aggressor_filled: int
    resting_filled: int


@dataclass(slots=True)
class Triggered:
    """A stop order's stop price was reached; it now executes as a market (STOP) or limit (STOP_LIMIT) order."""

    order: BookOrder


@dataclass(slots=True)
class Unfilled:
    """An order ended with quantity left that may not rest: IOC or market remainder, FOK that could not fill in full."""

    order: BookOrder
    reason: str


BookEvent = Fill | Triggered | Unfilled


class _Level:
    __slots__ = ("quantity", "entries", "compact_at")

    def __init__(self) -> None:
        self.quantity = 0  # open quantity of the live orders only
        self.entries: deque[tuple[int, BookOrder]] = deque()
        self.compact_at = 64  # entry count at which stale entries are swept out

    def compact(self) -> None:
        """Drop stale entries, so a long-lived level with many cancels behind its head does not grow without bound."""
        live = deque(entry for entry in self.entries if entry[1].resting and entry[1].sequence == entry[0])
        self.entries = live
        self.compact_at = max(64, 2 * len(live))


class _BookSide:
    """One side of the book. ``keys`` ascend and end with the best price (bids: price; asks: -price)."""

    __slots__ = ("sign", "keys", "levels")

    def __init__(self, is_bid: bool) -> None:
        self.sign = 1 if is_bid else -1
        self.keys: list[int] = []
        self.levels: dict[int, _Level] = {}

    def best(self) -> int | None:
        return self.keys[-1] * self.sign if self.keys else None

    def add(self, order: BookOrder) -> None:
        price = order.limit_price
        assert price is not None
        level = self.levels.get(price)
        if level is None:
            level = self.levels[price] = _Level()
            insort(self.keys, price * self.sign)
        level.entries.append((order.sequence, order))
        level.quantity += order.quantity - order.filled_quantity

    def reduce(self, price: int, quantity: int) -> None:
        """Take ``quantity`` of live open quantity off the level at ``price``, dropping the level when it empties."""
        level = self.levels[price]
        level.quantity -= quantity
        if level.quantity == 0:
            self._drop(price)
        elif len(level.entries) > level.compact_at:
            level.compact()

    def _drop(self, price: int) -> None:
        del self.levels[price]
        keys = self.keys
        key = price * self.sign
        if keys[-1] == key:
            keys.pop()
        else:
            keys.remove(key)


class OrderBook:
    """The book of one symbol. Every mutating call returns the events it caused, in the order they happened."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.last_price: int | None = None
        self.traded_volume = 0
        self._bids = _BookSide(is_bid=True)
        self._asks = _BookSide(is_bid=False)
        self._buy_stops: list[tuple[int, int, BookOrder]] = []  # min-heap by stop price: triggers when last >= stop
        self._sell_stops: list[tuple[int, int, BookOrder]] = []  # min-heap by -stop price: triggers when last <= stop
        self._sequence = 0
        self._events: list[BookEvent] = []

    # --- queries ----------------------------------------------------------------------------------------------------

    def best_bid(self) -> int | None:
        return self._bids.best()

    def best_ask(self) -> int | None:
        return self._asks.best()

    def top(self) -> tuple[int, int, int, int]:
        """Return ``(bid_price, bid_size, ask_price, ask_size)``; an empty side is ``(0, 0)``."""
        bids, asks = self._bids, self._asks
        if bids.keys:
            bid = bids.keys[-1]
            bid_size = bids.levels[bid].quantity
        else:
            bid = bid_size = 0
        if asks.keys:
            ask = -asks.keys[-1]
            ask_size = asks.levels[ask].quantity
        else:
            ask = ask_size = 0
        return bid, bid_size, ask, ask_size

    def depth(self, side: Side, levels: int) -> list[tuple[int, int]]:
        """Return up to ``levels`` ``(price, quantity)`` pairs of ``side``, best first."""
        book_side = self._bids if side is Side.BUY else self._asks
        keys = book_side.keys
        out = []
        for index in range(len(keys) - 1, max(-1, len(keys) - 1 - levels), -1):
            price = keys[index] * book_side.sign
            out.append((price, book_side.levels[price].quantity))
        return out

    def available(self, side: Side, limit_price: int | None) -> int:
        """Return the resting quantity an order on ``side`` could take at ``limit_price`` or better (None: any)."""
        opposite = self._asks if side is Side.BUY else self._bids
        keys, levels, sign = opposite.keys, opposite.levels, opposite.sign
        total = 0
        for index in range(len(keys) - 1, -1, -1):
            price = keys[index] * sign
            if limit_price is not None and (price > limit_price if side is Side.BUY else price < limit_price):
                break
            total += levels[price].quantity
        return total

    def resting_orders(self) -> list[BookOrder]:
        """Return the live orders on the book and the waiting stops, in no particular order (for tests and audits)."""
        seen: dict[int, BookOrder] = {}
        for book_side in (self._bids, self._asks):
            for level in book_side.levels.values():
                for sequence, order in level.entries:
                    if order.resting and order.sequence == sequence:
                        seen[id(order)] = order
        for heap in (self._buy_stops, self._sell_stops):
            for _, sequence, order in heap:
                if order.resting and order.sequence == sequence:
                    seen[id(order)] = order
        return list(seen.values())

    def level_quantities(self, side: Side) -> dict[int, int]:
        """Return price -> live open quantity of every level on ``side`` (for invariant checks)."""
        book_side = self._bids if side is Side.BUY else self._asks
        return {price: level.quantity for price, level in book_side.levels.items()}

    # --- commands ---------------------------------------------------------------------------------------------------

    def submit(self, order: BookOrder) -> list[BookEvent]:
        """Accept a new order: match what crosses, rest what its time in force allows, park an untriggered stop."""
        if order.quantity <= 0:
            raise ValueError(f"quantity must be positive, got {order.quantity}")
        if order.order_type is OrderType.LIMIT and order.limit_price is None:
            raise ValueError("a LIMIT order needs a limit_price")
        self._sequence += 1
        order.sequence = self._sequence
        limit = order.limit_price
        if order.order_type is OrderType.LIMIT and order.time_in_force in _RESTING_TIFS:
            # fast path for the common passive order: nothing crosses, so nothing trades and no stop can trigger
            if order.side is Side.BUY:
                asks = self._asks.keys
                if not asks or -asks[-1] > limit:  # type: ignore[operator]
                    order.resting = True
                    self._bids.add(order)
                    return []
            else:
                bids = self._bids.keys
                if not bids or bids[-1] < limit:  # type: ignore[operator]
                    order.resting = True
                    self._asks.add(order)
                    return []
        if order.order_type in _STOP_TYPES and not order.triggered:
            if order.stop_price is None:
                raise ValueError(f"a {order.order_type.value} order needs a stop_price")
            if self._stop_reached(order):
                self._trigger(order)
            else:
                self._park_stop(order)
        else:
            self._execute(order)
        self._run_stops()
        return self._drain()

    def cancel(self, order: BookOrder) -> bool:
        """Take a resting order or waiting stop off the book; False if it was not there."""
        if not order.resting:
            return False
        order.resting = False
        order.done = True
        if not order.triggered and order.order_type in _STOP_TYPES:
            return True  # its heap entry is now stale
        side = self._bids if order.side is Side.BUY else self._asks
        price = order.limit_price
        level = side.levels[price]  # type: ignore[index]
        level.quantity -= order.quantity - order.filled_quantity
        if level.quantity == 0:
            side._drop(price)  # type: ignore[arg-type]
        elif len(level.entries) > level.compact_at:
            level.compact()
        return True

    def replace(self, order: BookOrder, quantity: int, limit_price: int | None) -> list[BookEvent]:
        """Change total quantity and/or limit price (None keeps it) of a resting order.

        Time priority is kept only when the price is unchanged and the quantity does not go up; otherwise the order
        goes to the back of its (new) level, and a price that now crosses trades at once.
        """
        if not order.resting:
            raise ValueError("only a resting order can be replaced")
        if quantity <= order.filled_quantity:
            raise ValueError(f"quantity {quantity} must exceed the filled quantity {order.filled_quantity}")
        new_price = order.limit_price if limit_price is None else limit_price
        if order.is_waiting_stop:
            if order.order_type is OrderType.STOP and limit_price is not None:
                raise ValueError("a STOP order has no limit price to change")
            order.quantity = quantity
            order.limit_price = new_price
            return []
        assert order.limit_price is not None and new_price is not None
        side = self._bids if order.side is Side.BUY else self._asks
        if new_price == order.limit_price and quantity <= order.quantity:
            side.levels[new_price].quantity -= order.quantity - quantity
            order.quantity = quantity
            return []
        side.reduce(order.limit_price, order.quantity - order.filled_quantity)
        order.resting = False
        order.quantity = quantity
        order.limit_price = new_price
        self._sequence += 1
        order.sequence = self._sequence
        self._execute(order)
        self._run_stops()
        return self._drain()

    # --- matching ---------------------------------------------------------------------------------------------------

    def _drain(self) -> list[BookEvent]:
        events = self._events
        self._events = []
        return events

    def _execute(self, order: BookOrder) -> None:
        """Run an executable order (limit, market, or a triggered stop) against the book and settle its remainder."""
        tif = order.time_in_force
        if tif is TimeInForce.FOK:
            wanted = order.quantity - order.filled_quantity
            if self.available(order.side, order.limit_price) < wanted:
                order.done = True
                self._events.append(Unfilled(order, "FOK: not enough quantity to fill in full"))
                return
        self._match(order)
        if order.filled_quantity == order.quantity:
            order.done = True
            return
        if order.limit_price is None:
            order.done = True
            self._events.append(Unfilled(order, "MARKET: no more liquidity; remainder canceled"))
        elif tif is TimeInForce.IOC or tif is TimeInForce.FOK:
            order.done = True
            self._events.append(Unfilled(order, f"{tif.value}: unfilled remainder canceled"))
        else:
            order.resting = True
            (self._bids if order.side is Side.BUY else self._asks).add(order)

    def _match(self, order: BookOrder) -> None:
        buying = order.side is Side.BUY
        opposite = self._asks if buying else self._bids
        keys, levels, sign = opposite.keys, opposite.levels, opposite.sign
        limit = order.limit_price
        remaining = order.quantity - order.filled_quantity
        events = self._events
        traded = 0
        price = 0
        while remaining and keys:
            key = keys[-1]
            price = key * sign
            if limit is not None and (price > limit if buying else price < limit):
                break
            level = levels[price]
            entries = level.entries
            while remaining and entries:
                sequence, resting = entries[0]
                if sequence != resting.sequence or not resting.resting:
                    entries.popleft()
                    continue
                open_quantity = resting.quantity - resting.filled_quantity
                quantity = open_quantity if open_quantity < remaining else remaining
                resting.filled_quantity += quantity
                order.filled_quantity += quantity
                remaining -= quantity
                level.quantity -= quantity
                traded += quantity
                if quantity == open_quantity:
                    resting.resting = False
                    resting.done = True
                    entries.popleft()
                events.append(Fill(order, resting, price, quantity, order.filled_quantity, resting.filled_quantity))
            if level.quantity == 0:
                keys.pop()
                del levels[price]
            elif remaining:
                raise AssertionError(f"level {price} of {self.symbol} has quantity {level.quantity} but no live order")
        if traded:
            self.last_price = events[-1].price  # type: ignore[union-attr]
            self.traded_volume += traded

    # --- stops ------------------------------------------------------------------------------------------------------

    def _stop_reached(self, order: BookOrder) -> bool:
        last = self.last_price
        stop = order.stop_price
        assert stop is not None
        if last is None:
            return False
        return last >= stop if order.side is Side.BUY else last <= stop

    def _park_stop(self, order: BookOrder) -> None:
        order.resting = True
        assert order.stop_price is not None
        if order.side is Side.BUY:
            heapq.heappush(self._buy_stops, (order.stop_price, order.sequence, order))
        else:
            heapq.heappush(self._sell_stops, (-order.stop_price, order.sequence, order))

    def _trigger(self, order: BookOrder) -> None:
        order.resting = False
        order.triggered = True
        self._sequence += 1
        order.sequence = self._sequence  # a triggered stop joins the queue at its trigger time
        self._events.append(Triggered(order))
        self._execute(order)

    def _run_stops(self) -> None:
        """Trigger every waiting stop the last trade price has reached, including those that triggered trades reach."""
        buy_stops, sell_stops = self._buy_stops, self._sell_stops
        while True:
            last = self.last_price
            if last is None:
                return
            while buy_stops and not _is_live_stop(buy_stops[0]):
                heapq.heappop(buy_stops)
            while sell_stops and not _is_live_stop(sell_stops[0]):
                heapq.heappop(sell_stops)
            if buy_stops and buy_stops[0][0] <= last:
                self._trigger(heapq.heappop(buy_stops)[2])
            elif sell_stops and -sell_stops[0][0] >= last:
                self._trigger(heapq.heappop(sell_stops)[2])
            else:
                return


def _is_live_stop(entry: tuple[int, int, BookOrder]) -> bool:
    order = entry[2]
    return order.resting and order.sequence == entry[1] and not order.triggered
