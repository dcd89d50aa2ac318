"""The other participants of one symbol: a seeded random walk, market makers quoting around it, takers trading.

Each tick the fair price takes a random step (clamped to the daily price limits), the background market makers keep
``depth_levels`` levels a side around it (re-pricing stale levels, replenishing consumed ones), and one background
taker sends an IOC order whose size is drawn so that a day's volume is about the instrument's average daily volume,
shaped by an intraday U-curve. Everything trades through the real book, so our resting orders are hit when the market
comes to them and their queue position matters. One ``random.Random`` per symbol, seeded from the venue seed and the
symbol, keeps each symbol's path independent of the others and identical on every run.
"""

from __future__ import annotations

import math
import random
from enum import Enum

from adapters.sim.book import BookEvent, BookOrder, OrderBook
from adapters.sim.config import SimVenueConfig
from gateway.model import Instrument, OrderType, Side, TimeInForce, VenueStatus


class LimitLock(str, Enum):
    """Which daily price limit the fair price is pinned to, if any."""

    NONE = "NONE"
    LIMIT_UP = "LIMIT_UP"
    LIMIT_DOWN = "LIMIT_DOWN"


def volume_shape(session_fraction: float, u_shape: float) -> float:
    """Return the intraday volume rate relative to the day's mean: a parabola high at open and close, mean 1."""
    centred = 2.0 * min(max(session_fraction, 0.0), 1.0) - 1.0
    return (1.0 + u_shape * centred * centred) / (1.0 + u_shape / 3.0)


class SymbolMarket:
    """The background market of one symbol on top of its order book."""

    __slots__ = (
        "instrument",
        "config",
        "book",
        "rng",
        "status",
        "fair",
        "last_step",
        "lots_per_tick",
        "step_fraction",
        "spread",
        "level_gap",
        "level_lots",
        "_level_lots",
        "_tick",
        "_floor",
        "_ceiling",
        "_limit_up",
        "_limit_down",
        "_maker_bids",
        "_maker_asks",
        "_anchor",
    )

    def __init__(self, instrument: Instrument, config: SimVenueConfig) -> None:
        self.instrument = instrument
        self.config = config
        self.book = OrderBook(instrument.symbol)
        self.rng = random.Random(f"{config.seed}:{instrument.symbol}")
        self.status = VenueStatus.OPEN
        self.fair = float(instrument.reference_price)
        self.last_step = 0.0
        tick = self._tick = instrument.tick_size
        self._limit_up = instrument.limit_up
        self._limit_down = instrument.limit_down
        self._floor = max(instrument.limit_down, tick)  # lowest price anything may trade at
        self._ceiling = instrument.limit_up or 1 << 62
        ticks_per_session = config.session_ns // config.interval_ns
        self.lots_per_tick = instrument.average_daily_volume / instrument.lot_size / ticks_per_session
        self.step_fraction = config.daily_volatility / math.sqrt(ticks_per_session)
        spread_ticks = round(instrument.reference_price * config.spread_bps / 10_000 / tick)
        self.spread = max(config.min_spread_ticks, spread_ticks) * tick
        gap_ticks = config.level_gap_ticks or max(1, self.spread // tick // 2)
        self.level_gap = gap_ticks * tick
        self.level_lots = max(config.min_level_lots, round(self.lots_per_tick * config.level_size_factor))
        self._level_lots = [self.level_lots * (1.0 + 0.5 * level) for level in range(config.depth_levels)]
        self._maker_bids: dict[int, BookOrder] = {}
        self._maker_asks: dict[int, BookOrder] = {}
        self._anchor: tuple[int, int] | None = None

    # --- the walk ---------------------------------------------------------------------------------------------------

    def step(self, volume_rate: float) -> list[BookEvent]:
        """Run one market-data tick of an open market: walk, re-quote, and let a taker trade; return the book events."""
        self.walk()
        events = self.requote()
        taken = self.take(volume_rate)
        if taken:
            events += taken
        return events

    def walk(self) -> None:
        """Move the fair price one random step, never beyond the daily limits nor below one tick."""
        fair = self.fair
        random_ = self.rng.random
        # a bell-shaped step of unit variance (Irwin-Hall of three uniforms): a tenth the cost of random.gauss
        unit = (random_() + random_() + random_() - 1.5) * 2.0
        step = fair * self.step_fraction * unit
        self.last_step = step
        fair += step
        if fair > self._ceiling:
            fair = float(self._ceiling)
        elif fair < self._floor:
            fair = float(self._floor)
        self.fair = fair

    def set_fair(self, price: float) -> None:
        """Put the fair price at ``price`` at once, clamped like the walk (a scripted gap)."""
        price = min(max(price, float(self._floor)), float(self._ceiling))
        self.last_step = price - self.fair
        self.fair = price

    def limit_lock(self) -> LimitLock:
        if self._limit_up and self.fair >= self._limit_up:
            return LimitLock.LIMIT_UP
        if self._limit_down and self.fair <= self._limit_down:
            return LimitLock.LIMIT_DOWN
        return LimitLock.NONE

    # --- market makers ----------------------------------------------------------------------------------------------

    def _anchors(self) -> tuple[int, int]:
        """Return the makers' best bid and best ask for the current fair price (0 for a side that may not quote)."""
        fair = self.fair
        if self._limit_up and fair >= self._limit_up:  # limit-locked: buyers pile up at the limit, nobody offers
            return self._limit_up, 0
        if self._limit_down and fair <= self._limit_down:
            return 0, self._limit_down
        tick = self._tick
        bid = int((fair - self.spread / 2) // tick) * tick
        return bid, bid + self.spread

    def requote(self) -> list[BookEvent]:
        """Keep the makers' levels around the fair price: drop stale ones first, then post missing or consumed ones."""
        current = self._anchor
        if current is not None and current[0] < self.fair < current[1]:
            return self._replenish(current)  # makers leave quotes alone while the fair price stays inside them
        anchor = self._anchors()
        if anchor == current:
            return self._replenish(current)
        self._anchor = anchor
        bids, asks = self._maker_bids, self._maker_asks
        bid_prices = self._ladder(anchor[0], Side.BUY)
        ask_prices = self._ladder(anchor[1], Side.SELL)
        book = self.book
        for makers, wanted in ((bids, bid_prices), (asks, ask_prices)):
            stale = [price for price, order in makers.items() if order.done or price not in wanted]
            for price in stale:
                book.cancel(makers.pop(price))
        events: list[BookEvent] = []
        for side, makers, wanted in ((Side.BUY, bids, bid_prices), (Side.SELL, asks, ask_prices)):
            for level, price in enumerate(wanted):
                if price not in makers:
                    self._post(side, makers, price, level, events)
        return events

    def _replenish(self, anchor: tuple[int, int]) -> list[BookEvent]:
        """Repost the levels takers consumed in full, at the same prices (the ladder has not moved)."""
        events: list[BookEvent] = []
        gap = self.level_gap
        for side, makers, best in ((Side.BUY, self._maker_bids, anchor[0]), (Side.SELL, self._maker_asks, anchor[1])):
            consumed = [price for price, order in makers.items() if order.done]
            for price in consumed:
                del makers[price]
                level = 0 if price == best else min(len(self._level_lots) - 1, 1 + abs(best - price) // gap)
                self._post(side, makers, price, level, events)
        return events

    def _post(self, side: Side, makers: dict[int, BookOrder], price: int, level: int, events: list[BookEvent]) -> None:
        order = BookOrder(side, OrderType.LIMIT, TimeInForce.DAY, self._level_quantity(level), price)
        posted = self.book.submit(order)
        if posted:
            events += posted
        if order.done:  # it traded away in full against resting orders: post again next tick
            self._anchor = None
        else:
            makers[price] = order

    def _ladder(self, best: int, side: Side) -> list[int]:
        """Return the makers' prices on ``side``, best first: the touch, then grid points ``level_gap`` apart.

        Deeper levels sit on a fixed grid so that a move of the fair price re-prices only the touch and the ends of
        the ladder, not every level.
        """
        if not best:
            return []
        gap, deeper = self.level_gap, self.config.depth_levels - 1
        if side is Side.BUY:
            grid = (best - 1) // gap * gap  # the highest grid point below the touch
            floor = self._floor
            return [price for price in (best, *range(grid, grid - deeper * gap, -gap)) if price >= floor]
        grid = -(-(best + 1) // gap) * gap  # the lowest grid point above the touch
        ceiling = self._ceiling
        return [price for price in (best, *range(grid, grid + deeper * gap, gap)) if price <= ceiling]

    def _level_quantity(self, level: int) -> int:
        """Return a maker's size at its ``level``-th level: larger deeper down, varying by half either way."""
        lots = self._level_lots[level] * (0.5 + self.rng.random())
        return max(self.config.min_level_lots, round(lots)) * self.instrument.lot_size

    def withdraw_makers(self) -> None:
        """Cancel every maker order (at the close)."""
        for makers in (self._maker_bids, self._maker_asks):
            for order in makers.values():
                self.book.cancel(order)
            makers.clear()
        self._anchor = None

    # --- takers -----------------------------------------------------------------------------------------------------

    def take(self, volume_rate: float) -> list[BookEvent]:
        """Send one background IOC order sized so that the session's volume averages the average daily volume.

        ``volume_rate`` is the intraday rate relative to the day's mean (``volume_shape`` of the session fraction).
        """
        rng = self.rng
        draw = self.lots_per_tick * volume_rate * -math.log(1.0 - rng.random())  # exponential, mean 1
        lots = int(draw)
        if rng.random() < draw - lots:  # stochastic rounding keeps the mean exact for thinly traded symbols
            lots += 1
        if not lots:
            return []
        bias = self.config.taker_order_flow_bias
        buy_probability = 0.5 + (bias if self.last_step > 0 else -bias if self.last_step < 0 else 0.0)
        side = Side.BUY if rng.random() < buy_probability else Side.SELL
        return self._send_taker(side, lots * self.instrument.lot_size)

    def _send_taker(self, side: Side, quantity: int) -> list[BookEvent]:
        book = self.book
        touch = book.best_ask() if side is Side.BUY else book.best_bid()
        if touch is None:
            return []
        reach = self.config.taker_reach_levels * self.level_gap
        limit = touch + reach if side is Side.BUY else max(touch - reach, self.instrument.tick_size)
        return book.submit(BookOrder(side, OrderType.LIMIT, TimeInForce.IOC, quantity, limit))

    def print_at_new_level(self, side: Side) -> list[BookEvent]:
        """Have a taker trade one top-level size on ``side`` now, so a gap shows on the tape (and reaches stops)."""
        return self._send_taker(side, self.level_lots * self.instrument.lot_size)
