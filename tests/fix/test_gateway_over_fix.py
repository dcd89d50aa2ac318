"""The whole gateway over FIX: two brokers, each a real QuickFIX acceptor (BRKA and BRKB), as the gateway's venues.

Orders enter through the command table (what the WebSocket and HTTP fronts call), are routed by account, symbol and
default, and come back acknowledged and filled at exact prices with positions moved; an amend and a cancel make the
round trip; a broker's reject reaches the client with the broker's reason; a connection dropped under an open order
comes back, the fill the broker made meanwhile is applied exactly once, and the reconnect asks the broker for the
status of the open order. Every wait is on an observable event, with a timeout.

The engine's side of a reconnect (which orders it asks about, and that recovery owns the first connection) is also
checked deterministically on the simulated clock at the end.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fix_helpers import BrokerClient
from fix_proxy import IN, FixProxy

from gateway.app import Gateway, build_gateway, make_adapter, serve
from gateway.clock import LiveTimerDriver, SimClock, TimerQueue
from gateway.config import GatewayConfig, Principal, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.engine import Engine
from gateway.model import ErrorCode, Order, OrderEvent, OrderStatus, RefusalError

TRADER_KEY = "tina-test-key"
RISK_KEY = "rita-test-key"
ACCOUNTS = ("ALPHA", "BETA", "GAMMA", "RESTER", "BARRED")
# what each of our accounts is called at each broker: the QuickFIX broker's behaviour follows its Account (1)
BROKER_ACCOUNTS = {
    "BRKA": {"ALPHA": "FILL", "BETA": "FILL", "RESTER": "REST", "BARRED": "REJECT"},
    "BRKB": {"BETA": "FILL", "GAMMA": "FILL", "RESTER": "REST", "BARRED": "REJECT"},
}


def gateway_config(store_dir: Path, ports: dict[str, int]) -> GatewayConfig:
    """Configure two FIX brokers: ALPHA trades at BRKA and GAMMA at BRKB whatever the symbol; DYNA goes to BRKB, the
    rest to BRKA."""
    venues = [{"name": name, "kind": "fix", "host": "127.0.0.1", "port": port, "sender_comp_id": "UNWIND",
               "target_comp_id": name, "store_dir": str(store_dir), "heartbeat_interval_s": 10,
               "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5, "logon_timeout_s": 10.0,
               "accounts": BROKER_ACCOUNTS[name]} for name, port in ports.items()]
    return parse_config({
        "gateway": {"log_level": "warning"},
        "instruments": [
            {"symbol": "ACME", "price_precision": 2, "tick_size": "0.01", "reference_price": "100.00"},
            {"symbol": "DYNA", "price_precision": 3, "tick_size": "0.005", "reference_price": "8.125"},
        ],
        "accounts": [{"id": account, "trader": "tina"} for account in ACCOUNTS],
        "principals": [{"name": "tina", "role": "trader", "api_key": TRADER_KEY, "accounts": list(ACCOUNTS)},
                       {"name": "rita", "role": "risk", "api_key": RISK_KEY}],
        "venues": venues,
        "routing": {"default_venue": "BRKA", "accounts": {"ALPHA": "BRKA", "GAMMA": "BRKB"},
                    "symbols": {"DYNA": "BRKB"}},
    })


class GatewayWatch:
    """Everything the engine publishes, and every venue connection change, with a way to await a condition."""

    def __init__(self, engine: Engine, principal: Principal) -> None:
        self.events: list[Any] = []
        self.connections: list[tuple[str, bool]] = []
        self._changed = asyncio.Event()
        engine.subscribe(principal, self._on_event)
        engine_on_venue_connected = engine.on_venue_connected

        def on_venue_connected(venue: str, connected: bool) -> None:
            engine_on_venue_connected(venue, connected)  # the engine acts first (a reconnect asks for status)
            self.connections.append((venue, connected))
            self._changed.set()

        engine.on_venue_connected = on_venue_connected  # type: ignore[method-assign]

    def _on_event(self, event: Any) -> None:
        self.events.append(event)
        self._changed.set()

    def named(self, name: str, order_id: str | None = None) -> list[OrderEvent]:
        return [e for e in self.events if isinstance(e, OrderEvent) and e.event == name
                and (order_id is None or e.order_id == order_id)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


@dataclass
class FixWorld:
    gateway: Gateway
    watch: GatewayWatch
    brokers: dict[str, BrokerClient]
    proxies: dict[str, FixProxy]
    trader: Principal
    _client_ids: int = field(default=0)

    @property
    def engine(self) -> Engine:
        return self.gateway.engine

    def submit(self, account: str, symbol: str, side: str, quantity: int, price: str) -> str:
        """Submit through the command table as the trader; return the order id (RefusalError if refused)."""
        self._client_ids += 1
        answer = self.gateway.commands.dispatch(self.trader, "submit", {
            "account": account, "symbol": symbol, "side": side, "quantity": quantity, "price": price,
            "client_order_id": f"c{self._client_ids}"})
        return answer["order_id"]

    def order(self, order_id: str) -> Order:
        return self.engine.orders.by_id[order_id]

    def has(self, name: str, order_id: str) -> bool:
        return bool(self.watch.named(name, order_id))

    def position(self, account: str, symbol: str) -> dict[str, Any]:
        (position,) = [p for p in self.gateway.commands.dispatch(self.trader, "positions", {"account": account})
                       ["positions"] if p["symbol"] == symbol]
        return position

    def received(self, venue: str, msg_type: str) -> list[dict[str, str]]:
        return [m for m in self.brokers[venue].app_received if m["35"] == msg_type]


@pytest.fixture
async def fix_world(tmp_path: Path) -> AsyncIterator[FixWorld]:
    brokers: dict[str, BrokerClient] = {}
    proxies: dict[str, FixProxy] = {}
    gateway: Gateway | None = None
    driver: LiveTimerDriver | None = None
    try:
        started = await asyncio.gather(*(BrokerClient.start(tmp_path / name, f"UNWIND:{name}")
                                         for name in ("BRKA", "BRKB")), return_exceptions=True)
        brokers = {name: broker for name, broker in zip(("BRKA", "BRKB"), started)
                   if isinstance(broker, BrokerClient)}
        for failure in started:
            if isinstance(failure, BaseException):
                raise failure
        for name, broker in brokers.items():
            proxies[name] = FixProxy(broker.port)
            await proxies[name].start()
        config = gateway_config(tmp_path / "fix-store", {name: proxy.port for name, proxy in proxies.items()})
        gateway = build_gateway(config)
        driver = LiveTimerDriver(gateway.timers, asyncio.get_running_loop())
        watch = GatewayWatch(gateway.engine, config.principals[RISK_KEY])
        await gateway.start_venues()
        await watch.wait_for(lambda: all(adapter.connected for adapter in gateway.adapters.values()))  # type: ignore
        yield FixWorld(gateway, watch, brokers, proxies, config.principals[TRADER_KEY])
    finally:
        if gateway is not None:
            await gateway.stop_venues()
        if driver is not None:
            driver.close()
        for proxy in proxies.values():
            await proxy.stop()
        for broker in brokers.values():
            await broker.close()


async def test_orders_are_routed_by_account_symbol_and_default_and_fill_at_exact_prices(fix_world: FixWorld) -> None:
    world = fix_world
    by_account = world.submit("ALPHA", "DYNA", "BUY", 100, "8.125")  # ALPHA's broker, though DYNA goes to BRKB
    by_symbol = world.submit("BETA", "DYNA", "SELL", 30, "8.130")
    by_default = world.submit("BETA", "ACME", "BUY", 7, "100.25")
    by_account_b = world.submit("GAMMA", "ACME", "SELL", 5, "99.95")
    orders = (by_account, by_symbol, by_default, by_account_b)
    await world.watch.wait_for(lambda: all(world.has("OrderFilled", order_id) for order_id in orders))

    assert [world.order(order_id).venue for order_id in orders] == ["BRKA", "BRKB", "BRKA", "BRKB"]
    for order_id in orders:
        assert [e.event for e in world.watch.events if getattr(e, "order_id", None) == order_id] == [
            "OrderSubmitted", "OrderAccepted", "OrderFilled"]
    fills = {order_id: world.watch.named("OrderFilled", order_id)[0] for order_id in orders}
    assert [(fills[o].last_quantity, fills[o].last_price, fills[o].status) for o in orders] == [
        (100, "8.125", OrderStatus.FILLED), (30, "8.130", OrderStatus.FILLED), (7, "100.25", OrderStatus.FILLED),
        (5, "99.95", OrderStatus.FILLED)]

    # each broker got exactly its orders, on its own session, with prices at the instrument's precision and the
    # account under the broker's name for it
    sent_a = {m["11"]: m for m in world.received("BRKA", "D")}
    sent_b = {m["11"]: m for m in world.received("BRKB", "D")}
    assert set(sent_a) == {world.order(by_account).venue_client_order_id, world.order(by_default).venue_client_order_id}
    assert set(sent_b) == {world.order(by_symbol).venue_client_order_id,
                           world.order(by_account_b).venue_client_order_id}
    alpha = sent_a[world.order(by_account).venue_client_order_id]
    assert (alpha["56"], alpha["1"], alpha["55"], alpha["54"], alpha["38"], alpha["44"]) == (
        "BRKA", "FILL", "DYNA", "1", "100", "8.125")
    assert sent_b[world.order(by_symbol).venue_client_order_id]["44"] == "8.130"
    assert sent_a[world.order(by_default).venue_client_order_id]["44"] == "100.25"
    assert {m["56"] for m in sent_b.values()} == {"BRKB"}

    assert world.position("ALPHA", "DYNA") == {"account": "ALPHA", "symbol": "DYNA", "quantity": 100,
                                               "average_price": "8.1250000", "realized_pnl": "0.000"}
    assert (world.position("BETA", "DYNA")["quantity"], world.position("BETA", "DYNA")["average_price"]) == (
        -30, "8.1300000")
    assert (world.position("BETA", "ACME")["quantity"], world.position("BETA", "ACME")["average_price"]) == (
        7, "100.250000")
    assert world.position("GAMMA", "ACME")["quantity"] == -5


async def test_amend_and_cancel_round_trip_over_fix(fix_world: FixWorld) -> None:
    world = fix_world
    order_id = world.submit("RESTER", "DYNA", "BUY", 200, "8.100")  # DYNA: BRKB, which rests it
    await world.watch.wait_for(lambda: world.has("OrderAccepted", order_id))
    first_id = world.order(order_id).venue_client_order_id
    await world.brokers["BRKB"].call("fill", cl_ord_id=first_id, quantity=50, price="8.100")
    await world.watch.wait_for(lambda: world.has("OrderFilled", order_id))

    answer = world.gateway.commands.dispatch(world.trader, "amend",
                                             {"order_id": order_id, "quantity": 300, "price": "8.105"})
    assert answer["status"] == "PENDING_REPLACE"
    await world.watch.wait_for(lambda: world.has("OrderReplaced", order_id))
    order = world.order(order_id)
    assert (order.quantity, order.limit_price, order.filled_quantity, order.leaves_quantity, order.status) == (
        300, 8105, 50, 250, OrderStatus.PARTIALLY_FILLED)
    (replace,) = world.received("BRKB", "G")
    assert (replace["41"], replace["11"], replace["38"], replace["44"], replace["1"], replace["37"]) == (
        first_id, order.venue_client_order_id, "300", "8.105", "REST", order.venue_order_id)

    answer = world.gateway.commands.dispatch(world.trader, "cancel", {"order_id": order_id})
    assert answer["status"] == "PENDING_CANCEL"
    await world.watch.wait_for(lambda: world.has("OrderCanceled", order_id))
    assert (order.status, order.filled_quantity, order.leaves_quantity) == (OrderStatus.CANCELED, 50, 0)
    (cancel,) = world.received("BRKB", "F")
    assert cancel["41"] == replace["11"] and cancel["11"] != replace["11"]

    assert [e.event for e in world.watch.events if getattr(e, "order_id", None) == order_id] == [
        "OrderSubmitted", "OrderAccepted", "OrderFilled", "OrderPendingReplace", "OrderReplaced",
        "OrderPendingCancel", "OrderCanceled"]
    position = world.position("RESTER", "DYNA")
    assert (position["quantity"], position["average_price"]) == (50, "8.1000000")
    assert world.received("BRKA", "D") == []  # nothing of this went to the other broker


async def test_broker_reject_surfaces_as_order_rejected_with_the_brokers_reason(fix_world: FixWorld) -> None:
    world = fix_world
    order_id = world.submit("BARRED", "ACME", "BUY", 10, "100.00")
    await world.watch.wait_for(lambda: world.has("OrderRejected", order_id))
    (rejected,) = world.watch.named("OrderRejected", order_id)
    assert rejected.code is ErrorCode.VENUE_REJECTED
    assert rejected.reason == "account REJECT may not trade (OrdRejReason=3)"
    view = world.gateway.commands.dispatch(world.trader, "order", {"order_id": order_id})["order"]
    assert (view["status"], view["venue"], view["reject_reason"]) == (
        "REJECTED", "BRKA", "account REJECT may not trade (OrdRejReason=3)")
    assert world.gateway.commands.dispatch(world.trader, "positions", {"account": "BARRED"})["positions"] == []
    with pytest.raises(RefusalError) as caught:  # a done order cannot be canceled; nothing is sent
        world.gateway.commands.dispatch(world.trader, "cancel", {"order_id": order_id})
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_CANCELABLE
    assert world.received("BRKA", "F") == []


async def test_dropped_connection_comes_back_and_the_fill_made_meanwhile_is_applied_once(fix_world: FixWorld) -> None:
    world = fix_world
    broker_a, proxy_a = world.brokers["BRKA"], world.proxies["BRKA"]
    resting = world.submit("RESTER", "ACME", "BUY", 100, "100.10")  # default venue BRKA, resting
    elsewhere = world.submit("RESTER", "DYNA", "SELL", 40, "8.200")  # BRKB, resting: its link stays up
    await world.watch.wait_for(lambda: world.has("OrderAccepted", resting) and world.has("OrderAccepted", elsewhere))
    client_order_id = world.order(resting).venue_client_order_id
    assert world.received("BRKA", "H") == []  # the first logon asked nothing (and nothing was open then)

    proxy_a.refuse_connections = True
    proxy_a.cut()
    await world.watch.wait_for(lambda: ("BRKA", False) in world.watch.connections)
    await broker_a.wait_for(lambda: broker_a.logouts == 1)  # QuickFIX saw the session go, too
    with pytest.raises(RefusalError) as caught:  # while BRKA is down its orders are refused, naming it
        world.submit("ALPHA", "ACME", "BUY", 1, "100.00")
    assert caught.value.refusal.code is ErrorCode.VENUE_UNAVAILABLE and "BRKA" in caught.value.refusal.message
    fill_id = await broker_a.call("fill", cl_ord_id=client_order_id, quantity=60, price="100.10")
    proxy_a.refuse_connections = False

    await world.watch.wait_for(lambda: world.watch.connections.count(("BRKA", True)) == 2)
    await world.watch.wait_for(lambda: world.has("OrderFilled", resting) and world.has("OrderStatusReported", resting))
    # a barrier: the broker answers a new order after everything it sent before it, so nothing else is on its way
    barrier = world.submit("ALPHA", "ACME", "BUY", 1, "100.00")
    await world.watch.wait_for(lambda: world.has("OrderFilled", barrier))

    (fill,) = world.watch.named("OrderFilled", resting)
    assert (fill.exec_id, fill.last_quantity, fill.last_price, fill.filled_quantity, fill.leaves_quantity) == (
        fill_id, 60, "100.10", 60, 40)
    order = world.order(resting)
    assert (order.status, order.filled_quantity) == (OrderStatus.PARTIALLY_FILLED, 60)
    position = world.position("RESTER", "ACME")
    assert (position["quantity"], position["average_price"]) == (60, "100.100000")
    # it came by the session's resend, marked PossDup
    carrying = [r for r in proxy_a.seen(IN, "8") if f"\x0117={fill_id}\x01".encode() in r.raw]
    assert carrying and all(r.poss_dup for r in carrying)

    # the reconnect asked BRKA, once, about its one open order; BRKB's link never dropped and was not asked
    assert [m["11"] for m in world.received("BRKA", "H")] == [client_order_id]
    assert world.received("BRKB", "H") == []
    (status,) = world.watch.named("OrderStatusReported", resting)
    assert world.watch.events.index(status) > world.watch.events.index(fill)  # the resend came first
    assert (status.filled_quantity, status.leaves_quantity) == (60, 40)
    (answer,) = [r for r in proxy_a.seen(IN, "8") if b"\x01150=I\x01" in r.raw]
    assert b"\x0114=60\x01" in answer.raw and b"\x01151=40\x01" in answer.raw  # the broker agrees
    assert world.order(elsewhere).status is OrderStatus.NEW


async def test_unwind_serve_trades_with_unwind_sim_venue_over_fix(tmp_path: Path) -> None:
    """``unwind sim-venue --fix-port`` in its own process, ``serve`` with a FIX venue pointed at it, the real API."""
    from gateway.api.client import UnwindClient

    venue = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "sim-venue", "--fix-port", "0", "--no-market", "--comp-id", "SIMFIX",
        "--store-dir", str(tmp_path / "venue-store"), "--log-file", str(tmp_path / "sim-venue.jsonl"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    stop = asyncio.Event()
    task: asyncio.Task[Gateway] | None = None
    try:
        assert venue.stdout is not None
        banner = (await asyncio.wait_for(venue.stdout.readline(), 30)).decode()
        match = re.search(r"accepting FIX 4\.4 on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        data = demo_config_data()
        data["venues"] = [{"name": "SIMFIX", "kind": "fix", "host": "127.0.0.1", "port": int(match.group(1)),
                           "sender_comp_id": "UNWIND", "target_comp_id": "SIMFIX",
                           "store_dir": str(tmp_path / "gateway-store"), "reconnect_initial_s": 0.05}]
        data["routing"] = {"default_venue": "SIMFIX"}
        ready: asyncio.Future[Gateway] = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(serve(parse_config(data), stop, ready))
        gateway = await asyncio.wait_for(ready, 15)
        watch = GatewayWatch(gateway.engine, gateway.config.principals[DEMO_KEYS["risk"]])
        await watch.wait_for(lambda: gateway.adapters["SIMFIX"].connected)
        url = f"ws://127.0.0.1:{gateway.extras['server'].port}/v1/stream"
        async with UnwindClient(url, DEMO_KEYS["alice"]) as alice, UnwindClient(url, DEMO_KEYS["bob"]) as bob:
            bid = await alice.submit_order("ALICE-1", "ACME", "BUY", 10, price="100.00")
            await watch.wait_for(lambda: bool(watch.named("OrderAccepted", bid["order_id"])))
            offer = await bob.submit_order("BOB-1", "ACME", "SELL", 10, price="100.00")
            await watch.wait_for(lambda: all(watch.named("OrderFilled", o["order_id"]) for o in (bid, offer)))
            assert [(e.last_quantity, e.last_price, e.status) for e in watch.named("OrderFilled", bid["order_id"])] == [
                (10, "100.00", OrderStatus.FILLED)]
            (alice_acme,) = [p for p in await alice.positions("ALICE-1") if p["symbol"] == "ACME"]
            (bob_acme,) = [p for p in await bob.positions("BOB-1") if p["symbol"] == "ACME"]
            assert (alice_acme["quantity"], bob_acme["quantity"]) == (5_000 + 10, -10)
            assert {o["venue"] for o in await alice.orders()} == {"SIMFIX"}
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 15)
        if venue.returncode is None:
            venue.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(venue.wait(), 10)
        except TimeoutError:
            venue.kill()
            await venue.wait()


# --- the engine's side of a reconnect, on the simulated clock ---------------------------------------------------------

START_NS = 1_795_000_000_000_000_000
MS = 1_000_000


class StatusRequests:
    """Record each request_status call a venue gets, then let it through."""

    def __init__(self, venue: Any) -> None:
        self.calls: list[list[str]] = []
        forward = venue.request_status

        def request_status(orders: list[Order]) -> None:
            self.calls.append([order.order_id for order in orders])
            forward(orders)

        venue.request_status = request_status


def _two_sim_venues_data(journal_dir: Path | None = None) -> dict[str, Any]:
    data = demo_config_data()
    data["venues"] = [{"name": "EAST", "kind": "sim", "open_market": False, "latency_ns": 100 * 1000},
                      {"name": "WEST", "kind": "sim", "open_market": False, "latency_ns": 100 * 1000}]
    data["routing"] = {"default_venue": "EAST", "symbols": {"DYNA": "WEST"}}
    if journal_dir is not None:
        data["gateway"]["journal_dir"] = str(journal_dir)
    return data


def test_a_reconnect_asks_the_venue_about_its_open_orders_only() -> None:
    config = parse_config(_two_sim_venues_data())
    clock = SimClock(START_NS)
    timers = TimerQueue(clock)
    gateway = build_gateway(config, clock, timers)
    east, west = gateway.adapters["EAST"], gateway.adapters["WEST"]
    asked = {"EAST": StatusRequests(east), "WEST": StatusRequests(west)}
    events: list[Any] = []
    gateway.engine.subscribe(config.principals[DEMO_KEYS["risk"]], events.append)
    east.connect()  # type: ignore[attr-defined]
    west.connect()  # type: ignore[attr-defined]
    alice = config.principals[DEMO_KEYS["alice"]]

    def submit(symbol: str, price: str, client_order_id: str) -> str:
        return gateway.commands.dispatch(alice, "submit", {"account": "ALICE-1", "symbol": symbol, "side": "BUY",
                                                           "quantity": 10, "price": price,
                                                           "client_order_id": client_order_id})["order_id"]

    open_east = submit("ACME", "99.00", "e1")
    done_east = submit("ACME", "99.50", "e2")
    open_west = submit("DYNA", "8.000", "w1")
    timers.advance_by(MS)
    gateway.commands.dispatch(alice, "cancel", {"order_id": done_east})
    timers.advance_by(MS)
    assert gateway.engine.orders.by_id[done_east].status is OrderStatus.CANCELED
    assert asked["EAST"].calls == [] and asked["WEST"].calls == []  # first connections: start-up, nothing asked

    east.disconnect()  # type: ignore[attr-defined]
    assert asked["EAST"].calls == []  # a disconnect asks nothing
    east.connect()  # type: ignore[attr-defined]
    assert asked["EAST"].calls == [[open_east]] and asked["WEST"].calls == []
    timers.advance_by(MS)
    statuses = [e for e in events if isinstance(e, OrderEvent) and e.event == "OrderStatusReported"]
    assert [(e.order_id, e.status, e.filled_quantity) for e in statuses] == [(open_east, OrderStatus.NEW, 0)]

    gateway.commands.dispatch(alice, "cancel", {"order_id": open_west})
    timers.advance_by(MS)
    west.disconnect()  # type: ignore[attr-defined]
    west.connect()  # type: ignore[attr-defined]
    assert asked["WEST"].calls == []  # nothing open there: nothing to ask


def test_recovery_owns_the_first_connection_and_the_engine_asks_on_later_ones(tmp_path: Path) -> None:
    """With a journal, start-up reconciliation asks once; the engine does not ask again until a reconnect."""
    config = parse_config(_two_sim_venues_data(tmp_path / "journal"))
    clock = SimClock(START_NS)
    timers = TimerQueue(clock)
    east = make_adapter(config.venues[0], config, timers)
    west = make_adapter(config.venues[1], config, timers)
    first = build_gateway(config, clock, timers, adapters={"EAST": east, "WEST": west})
    east.connect()  # type: ignore[attr-defined]
    west.connect()  # type: ignore[attr-defined]
    alice = config.principals[DEMO_KEYS["alice"]]
    order_id = first.commands.dispatch(alice, "submit", {"account": "ALICE-1", "symbol": "ACME", "side": "BUY",
                                                         "quantity": 10, "price": "99.00",
                                                         "client_order_id": "j1"})["order_id"]
    timers.advance_by(MS)
    assert first.engine.orders.by_id[order_id].status is OrderStatus.NEW
    east.disconnect()  # type: ignore[attr-defined]
    west.disconnect()  # type: ignore[attr-defined]
    first.extras["recovery"].close()  # the first gateway stops; its order works on at the venue

    asked = StatusRequests(east)
    second = build_gateway(config, clock, timers, adapters={"EAST": east, "WEST": west})
    assert second.engine.orders.by_id[order_id].is_working  # rebuilt from the journal
    east.connect()  # type: ignore[attr-defined]
    west.connect()  # type: ignore[attr-defined]
    assert asked.calls == []  # the engine leaves the first connection to recovery
    recovery = second.extras["recovery"]
    recovery.start_reconciliation()
    timers.advance_by(MS)
    assert recovery.reconciled and not recovery.summary.mismatches
    assert asked.calls == [[order_id]]  # once, by recovery

    east.disconnect()  # type: ignore[attr-defined]
    east.connect()  # type: ignore[attr-defined]
    assert asked.calls == [[order_id], [order_id]]  # a later reconnect: the engine asks
    recovery.close()
