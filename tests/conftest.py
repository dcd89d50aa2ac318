"""Shared fixtures: a deterministic in-process gateway on the simulated clock, and a live one behind the real API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import settings

from gateway.app import Gateway, build_gateway, serve
from gateway.clock import SimClock, TimerQueue
from gateway.config import GatewayConfig, Principal, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.model import Order, OrderType, Side, SubmitOrder, TimeInForce

# CI runs the same examples every time (a property failure there must be reproducible, never luck); a developer's run
# explores new ones. Either way a failure prints the blob that reproduces it.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

START_NS = 1_795_000_000_000_000_000  # a fixed simulated morning, so every run is the same


def make_config(venue: dict[str, Any] | None = None, risk: dict[str, Any] | None = None, **sections: Any) -> GatewayConfig:
    data = demo_config_data()
    if venue is not None:
        data["venues"][0].update(venue)
    if risk is not None:
        data["risk"].update(risk)
    data.update(sections)
    return parse_config(data)


class SimWorld:
    """A gateway on a SimClock: call ``advance(seconds)`` to let time (and the venue) move."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.engine = gateway.engine
        self.venue = gateway.adapters["SIM"]
        self.timers = gateway.timers
        self.clock = gateway.clock
        self.events: list[Any] = []
        self.client_ids = 0
        self.engine.subscribe(self.principal("risk"), self.events.append)

    def principal(self, name: str) -> Principal:
        return self.engine.config.principals[DEMO_KEYS[name]]

    def submit(self, trader: str, account: str, side: Side, quantity: int, order_type: OrderType = OrderType.LIMIT,
               price: int | None = None, stop: int | None = None, tif: TimeInForce = TimeInForce.DAY,
               symbol: str = "ACME", expire_ns: int | None = None) -> Order:
        """Submit as ``trader`` with a fresh client order id; raises RefusalError if refused."""
        self.client_ids += 1
        command = SubmitOrder(account, symbol, side, order_type, quantity, f"t{self.client_ids}", tif, price, stop,
                              expire_ns)
        return self.engine.submit_order(self.principal(trader), command)

    def advance(self, seconds: float) -> None:
        self.timers.advance_by(int(seconds * 1_000_000_000))

    def events_named(self, name: str, order_id: str | None = None) -> list[Any]:
        return [e for e in self.events if e.event == name and (order_id is None or getattr(e, "order_id", None) == order_id)]


@pytest.fixture
def sim_world() -> Callable[..., SimWorld]:
    def build(open_market: bool = False, venue: dict[str, Any] | None = None, risk: dict[str, Any] | None = None,
              **sections: Any) -> SimWorld:
        config = make_config({"open_market": open_market, **(venue or {})}, risk, **sections)
        clock = SimClock(START_NS)
        gateway = build_gateway(config, clock, TimerQueue(clock))
        venue_adapter = gateway.adapters["SIM"]
        venue_adapter.connect()
        if open_market:
            venue_adapter.open_market()
        return SimWorld(gateway)

    return build


@pytest.fixture
async def live_gateway() -> AsyncIterator[Callable[..., Any]]:
    """Start real gateways (API on a free loopback port, sim venue on the live clock); stop them after the test."""
    stops: list[tuple[asyncio.Event, asyncio.Task[Gateway]]] = []

    async def start(venue: dict[str, Any] | None = None, risk: dict[str, Any] | None = None) -> tuple[Gateway, str]:
        config = make_config({"open_market": False, "latency_ns": 0, **(venue or {})}, risk)
        stop = asyncio.Event()
        ready: asyncio.Future[Gateway] = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(serve(config, stop, ready))
        stops.append((stop, task))
        gateway = await asyncio.wait_for(ready, 10)
        port = gateway.extras["server"].port
        return gateway, f"http://127.0.0.1:{port}"

    yield start
    for stop, task in stops:
        stop.set()
        await asyncio.wait_for(task, 10)
