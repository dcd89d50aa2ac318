"""Helpers for the FIX tests: instruments, a recording listener, orders, and an environment around the broker."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fix_proxy import FixProxy

from adapters.base import IgnoringListener
from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter
from gateway.model import ExecType, ExecutionReport, Instrument, Order, OrderType, Side, TimeInForce

BROKER_SCRIPT = Path(__file__).resolve().parent / "quickfix_broker.py"

INSTRUMENTS = {
    "ACME": Instrument("ACME", tick_size=1, lot_size=1, price_precision=2, reference_price=170010, limit_down=0,
                       limit_up=0, average_daily_volume=1_000_000),
    "TINY": Instrument("TINY", tick_size=1, lot_size=1, price_precision=4, reference_price=12345, limit_down=0,
                       limit_up=0, average_daily_volume=1_000_000),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class BrokerClient:
    """The test's side of the QuickFIX broker process: what it received, and commands to it."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.app_received: list[dict[str, str]] = []
        self.admin_received: list[dict[str, str]] = []
        self.duplicates_ignored: list[str] = []
        self.logons = 0
        self.logouts = 0
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def start(cls, directory: Path, sessions: str = "UNWIND:BROKER,UNWIND2:BROKER2") -> BrokerClient:
        for _ in range(3):  # a free port can be taken between probing and binding: try another
            port = free_port()
            process = await asyncio.create_subprocess_exec(
                sys.executable, str(BROKER_SCRIPT), "--port", str(port), "--dir", str(directory),
                "--sessions", sessions, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                limit=1 << 24)
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            if line and json.loads(line)["event"] == "ready":
                return cls(process, port)
            process.kill()
            await process.wait()
        raise RuntimeError("the QuickFIX broker did not start")

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            event = json.loads(line)
            kind = event["event"]
            if kind == "app":
                self.app_received.append(event["fields"])
            elif kind == "admin":
                self.admin_received.append(event["fields"])
            elif kind == "logon":
                self.logons += 1
            elif kind == "logout":
                self.logouts += 1
            elif kind == "duplicate":
                self.duplicates_ignored.append(event["cl_ord_id"])
            elif kind == "reply":
                future = self._replies.pop(event["id"])
                if "error" in event:
                    future.set_exception(RuntimeError(event["error"]))
                else:
                    future.set_result(event["result"])
            self._changed.set()

    async def call(self, op: str, **args: Any) -> Any:
        """Run a command in the broker (fill, expire, bust, correct, report, send_admin, seqnums)."""
        command_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[command_id] = future
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": command_id, "op": op, "args": args}).encode() + b"\n")
        return await asyncio.wait_for(future, 15)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def orders_received(self, msg_type: str = "D") -> list[str]:
        return [m["11"] for m in self.app_received if m["35"] == msg_type]

    def sent(self) -> dict[str, dict[str, str]]:
        """Application messages received, by ClOrdID (the last one for each)."""
        return {m["11"]: m for m in self.app_received if "11" in m}

    async def close(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self._reader.cancel()


class RecordingListener(IgnoringListener):
    """Collects what the adapter reports and lets a test await a condition on it."""

    def __init__(self) -> None:
        self.reports: list[ExecutionReport] = []
        self.connected: list[bool] = []
        self._changed = asyncio.Event()

    def on_execution(self, report: ExecutionReport) -> None:
        self.reports.append(report)
        self._changed.set()

    def on_venue_connected(self, venue: str, connected: bool) -> None:
        self.connected.append(connected)
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_logged_on(self, times: int = 1) -> None:
        await self.wait_for(lambda: self.connected.count(True) >= times)

    def for_order(self, client_order_id: str) -> list[ExecutionReport]:
        return [r for r in self.reports if r.client_order_id == client_order_id]

    def exec_types(self, client_order_id: str) -> list[ExecType]:
        return [r.exec_type for r in self.for_order(client_order_id)]


_order_numbers = itertools.count(1)


def make_order(
    account: str = "FILL",
    symbol: str = "ACME",
    side: Side = Side.BUY,
    order_type: OrderType = OrderType.LIMIT,
    quantity: int = 100,
    limit_price: int | None = 170010,
    stop_price: int | None = None,
    time_in_force: TimeInForce = TimeInForce.DAY,
    expire_ns: int | None = None,
) -> Order:
    number = next(_order_numbers)
    return Order(
        order_id=f"O{number}", client_order_id=f"C{number}", account=account, principal="tester", symbol=symbol,
        side=side, order_type=order_type, time_in_force=time_in_force, quantity=quantity, limit_price=limit_price,
        stop_price=stop_price, expire_ns=expire_ns, venue="BROKER", ts_created=0,
        venue_client_order_id=f"G{number}-{id(object())}",
    )


async def start_adapter(
    config: FixAdapterConfig, started: list[FixVenueAdapter]
) -> tuple[FixVenueAdapter, RecordingListener]:
    """Start an adapter with a recording listener, add it to started (stopped at teardown) and wait for its logon."""
    adapter = FixVenueAdapter(config)
    listener = RecordingListener()
    adapter.bind(listener)
    await adapter.start()
    started.append(adapter)
    await listener.wait_logged_on()
    return adapter, listener


class BrokerEnvironment:
    """A running QuickFIX broker plus helpers to make adapters that talk to it (directly or through a relay)."""

    def __init__(self, broker: BrokerClient, port: int, directory: Path) -> None:
        self.broker = broker
        self.port = port
        self.directory = directory
        self.adapters: list[FixVenueAdapter] = []
        self.proxies: list[FixProxy] = []

    def config(self, port: int | None = None, sender: str = "UNWIND", target: str = "BROKER",
               **overrides: object) -> FixAdapterConfig:
        values: dict[str, object] = {
            "name": target, "host": "127.0.0.1", "port": port or self.port, "sender_comp_id": sender,
            "target_comp_id": target, "instruments": INSTRUMENTS, "store_dir": str(self.directory / "store"),
            "heartbeat_interval_s": 5, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.5, "logon_timeout_s": 5.0,
            "logout_timeout_s": 2.0,
        }
        values.update(overrides)
        return FixAdapterConfig(**values)  # type: ignore[arg-type]

    async def adapter(self, config: FixAdapterConfig | None = None) -> tuple[FixVenueAdapter, RecordingListener]:
        """Start an adapter, wait for its logon and return it with its listener."""
        return await start_adapter(config or self.config(), self.adapters)

    async def proxy(self) -> FixProxy:
        proxy = FixProxy(self.port)
        await proxy.start()
        self.proxies.append(proxy)
        return proxy
