"""Shared pieces for the simulated-venue tests: instruments, an engine-side Order builder, a recording listener.

Imported by the test modules of this folder; conftest.py puts the folder on sys.path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.sim import SimVenue, SimVenueConfig
from gateway.clock import NANOS_PER_SECOND, SimClock, TimerQueue
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
)

START_NS = 1_700_000_000 * NANOS_PER_SECOND


def make_instrument(
    symbol: str = "AAA",
    reference_price: int = 10_000,  # 100.00
    tick_size: int = 1,
    lot_size: int = 100,
    limit_down: int = 9_000,
    limit_up: int = 11_000,
    average_daily_volume: int = 5_000_000,
) -> Instrument:
    return Instrument(symbol, tick_size, lot_size, 2, reference_price, limit_down, limit_up, average_daily_volume)


class RecordingListener:
    """Keep everything the venue reports, with the simulated time it arrived."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.executions: list[ExecutionReport] = []
        self.execution_arrivals: list[int] = []
        self.quotes: list[Quote] = []
        self.trades: list[TradePrint] = []
        self.statuses: list[SymbolStatus] = []
        self.connections: list[tuple[str, bool]] = []
        self.on_execution_hook: Callable[[ExecutionReport], None] | None = None

    def on_execution(self, report: ExecutionReport) -> None:
        self.executions.append(report)
        self.execution_arrivals.append(self.clock.now_ns())
        if self.on_execution_hook is not None:
            self.on_execution_hook(report)

    def on_quote(self, quote: Quote) -> None:
        self.quotes.append(quote)

    def on_trade(self, trade: TradePrint) -> None:
        self.trades.append(trade)

    def on_symbol_status(self, status: SymbolStatus) -> None:
        self.statuses.append(status)

    def on_venue_connected(self, venue: str, connected: bool) -> None:
        self.connections.append((venue, connected))

    def reports_for(self, client_order_id: str) -> list[ExecutionReport]:
        return [r for r in self.executions if client_order_id in (r.client_order_id, r.orig_client_order_id)]

    def exec_types(self, client_order_id: str) -> list[ExecType]:
        return [r.exec_type for r in self.reports_for(client_order_id)]


def make_order(
    client_order_id: str,
    side: Side,
    quantity: int,
    limit_price: int | None = None,
    order_type: OrderType | None = None,
    time_in_force: TimeInForce = TimeInForce.DAY,
    stop_price: int | None = None,
    expire_ns: int | None = None,
    symbol: str = "AAA",
) -> Order:
    """Build the engine's Order the way the engine hands it to an adapter."""
    if order_type is None:
        order_type = OrderType.LIMIT if limit_price is not None else OrderType.MARKET
    return Order(
        order_id=f"O-{client_order_id}",
        client_order_id=client_order_id,
        account="ACC-1",
        principal="alice",
        symbol=symbol,
        side=side,
        order_type=order_type,
        time_in_force=time_in_force,
        quantity=quantity,
        limit_price=limit_price,
        stop_price=stop_price,
        expire_ns=expire_ns,
        venue="SIM",
        ts_created=0,
        venue_client_order_id=client_order_id,
    )


@dataclass
class SimHarness:
    clock: SimClock
    timers: TimerQueue
    venue: SimVenue
    listener: RecordingListener
    instruments: dict[str, Instrument] = field(default_factory=dict)

    def advance(self, delta_ns: int) -> None:
        self.timers.advance_by(delta_ns)

    def now(self) -> int:
        return self.clock.now_ns()


def build_harness(
    instruments: dict[str, Instrument] | None = None, connect: bool = True, **config: object
) -> SimHarness:
    """A connected SimVenue on a SimClock at START_NS; ``config`` overrides SimVenueConfig fields."""
    instruments = instruments if instruments is not None else {"AAA": make_instrument()}
    clock = SimClock(START_NS)
    timers = TimerQueue(clock)
    venue = SimVenue(timers, instruments, SimVenueConfig(**config))  # type: ignore[arg-type]
    listener = RecordingListener(clock)
    venue.bind(listener)
    if connect:
        venue.connect()
    return SimHarness(clock, timers, venue, listener, instruments)

