"""``unwind demo``: the gateway on the simulated venue, a scripted session driven through the real API, shown live.

The gateway runs in this process on a real loopback socket; the script talks to it with the Python client exactly as
a trader, an administrator and the risk engine would, and a watcher with the risk role prints every event it sees.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from gateway.api.client import UnwindClient, UnwindError
from gateway.demo_config import DEMO_KEYS, demo_config


class Display:
    """Readable, timestamped lines: the script's narration, and the events the risk role's stream carries."""

    COLORS = {"step": "1;36", "ok": "32", "refused": "1;31", "event": "0", "fill": "1;32", "warn": "33", "dim": "2"}

    def __init__(self, color: bool) -> None:
        self.color = color and sys.stdout.isatty()
        self.started = time.monotonic()

    def paint(self, kind: str, text: str) -> str:
        return f"\x1b[{self.COLORS[kind]}m{text}\x1b[0m" if self.color else text

    def line(self, kind: str, text: str) -> None:
        elapsed = time.monotonic() - self.started
        print(f"{self.paint('dim', f'{elapsed:6.2f}s')}  {self.paint(kind, text)}", flush=True)

    def step(self, number: int, text: str) -> None:
        print(flush=True)
        self.line("step", f"[{number}] {text}")

    def event(self, event: dict[str, Any]) -> None:
        name = event.get("event", "?")
        if name == "PositionChanged":
            self.line("dim", f"      position {event['account']} {event['symbol']} -> {event['quantity']:,}")
            return
        if name.startswith("Order"):
            detail = (f"{event['account']:<8} {event['order_id']:<10} {event['side']:<4} {event['quantity']:>6,} "
                      f"{event['symbol']:<5} {event['order_type']:<10} {event['status']}")
            if name == "OrderFilled":
                detail += f"  fill {event['last_quantity']:,} @ {event['last_price']} (avg {event['average_price']})"
                self.line("fill", f"  <- {name:<20} {detail}")
                return
            if event.get("reason"):
                detail += f"  reason: {event['reason']}"
            self.line("warn" if name in ("OrderRejected", "OrderCancelRejected") else "event", f"  <- {name:<20} {detail}")
            return
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k not in ("event", "ts_event"))
        self.line("warn", f"  <- {name:<20} {fields}")


async def _watch(client: UnwindClient, display: Display) -> None:
    async for event in client.stream():
        display.event(event)


async def _try(display: Display, label: str, action: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
    try:
        answer = await action
    except UnwindError as error:
        display.line("refused", f"  x  {label}: refused {error.code}: {error.message}")
        return None
    display.line("ok", f"  -> {label}: {', '.join(f'{k}={v}' for k, v in answer.items() if k not in ('type', 'req_id'))}")
    return answer


async def basic_script(base_url: str, display: Display, pause: Callable[[float], Awaitable[None]], gateway: Any) -> int:
    url = base_url.replace("http://", "ws://") + "/v1/stream"
    async with UnwindClient(url, DEMO_KEYS["alice"]) as alice, UnwindClient(url, DEMO_KEYS["admin"]) as admin, \
            UnwindClient(url, DEMO_KEYS["risk"]) as watcher:
        watch = asyncio.get_running_loop().create_task(_watch(watcher, display))
        await pause(1.0)  # let the simulated market open and quote

        display.step(1, "The market as the gateway sees it (simulated venue, seeded random walk)")
        market = (await alice.request("market"))["market"]
        for symbol, view in market.items():
            display.line("event", f"     {symbol:<5} bid {view['bid']} x {view['bid_size']:,}   ask {view['ask']} x "
                                  f"{view['ask_size']:,}   last {view['last']}")
        acme = market["ACME"]

        display.step(2, "alice: passive limit buy 300 ACME at the bid; it rests and fills as sellers arrive")
        resting = await _try(display, "submit LIMIT", alice.submit_order("ALICE-1", "ACME", "BUY", 300,
                                                                          price=acme["bid"]))
        await pause(1.5)

        display.step(3, "alice: marketable limit buy 400 ACME through the ask: fills at once, maybe over levels")
        through = _ticks(acme["ask"], 5, 2)
        await _try(display, "submit LIMIT", alice.submit_order("ALICE-1", "ACME", "BUY", 400, price=through))
        await pause(1.0)

        display.step(4, "alice: market sell 200 BOLT (lot size 100)")
        await _try(display, "submit MARKET", alice.submit_order("ALICE-1", "BOLT", "SELL", 200))
        await pause(1.0)

        display.step(5, "alice: stop sell 100 ACME 0.50 under the market, and a stop-limit; they wait for a trigger")
        market = (await alice.request("market"))["market"]["ACME"]
        await _try(display, "submit STOP", alice.submit_order("ALICE-1", "ACME", "SELL", 100, order_type="STOP",
                                                               stop_price=_ticks(market["bid"], -50, 2)))
        await _try(display, "submit STOP_LIMIT", alice.submit_order(
            "ALICE-1", "ACME", "SELL", 100, order_type="STOP_LIMIT", stop_price=_ticks(market["bid"], -60, 2),
            price=_ticks(market["bid"], -70, 2)))
        await pause(1.0)

        display.step(6, "alice: IOC and FOK for more than the ask shows: IOC fills part, FOK fills all or nothing")
        market = (await alice.request("market"))["market"]["ACME"]
        big = market["ask_size"] * 3 + 100
        await _try(display, "submit IOC", alice.submit_order("ALICE-1", "ACME", "BUY", big, price=market["ask"],
                                                              time_in_force="IOC"))
        await _try(display, "submit FOK", alice.submit_order("ALICE-1", "ACME", "BUY", big, price=market["ask"],
                                                              time_in_force="FOK"))
        await pause(1.0)

        display.step(7, "alice: amend the resting order (quantity 300 -> 500, price down a tick), then cancel it")
        if resting is not None:
            order = (await alice.request("order", order_id=resting["order_id"]))["order"]
            if order["status"] in ("NEW", "PARTIALLY_FILLED"):
                await _try(display, "amend", alice.amend_order(resting["order_id"], quantity=500,
                                                               price=_ticks(order["price"], -1, 2)))
                await pause(0.7)
                await _try(display, "cancel", alice.cancel_order(resting["order_id"]))
            else:
                display.line("dim", f"     (it is already {order['status']}: nothing left to amend)")
        await pause(1.0)

        display.step(8, "Refusals: each with a stable code and a message naming the limit and the value")
        await _try(display, "buy 60,000 ACME", alice.submit_order("ALICE-1", "ACME", "BUY", 60_000, price=acme["bid"]))
        await _try(display, "CRUX off the 0.05 tick", alice.submit_order("ALICE-1", "CRUX", "BUY", 5, price="1700.12"))
        await _try(display, "ACME far from the market", alice.submit_order("ALICE-1", "ACME", "BUY", 5, price="108.00"))
        await _try(display, "someone else's account", alice.submit_order("BOB-1", "ACME", "BUY", 5, price=acme["bid"]))
        await pause(1.0)

        display.step(9, "admin: kill switch on account ALICE-1: its working orders are canceled, new ones refused")
        await _try(display, "alice rests a buy", alice.submit_order("ALICE-1", "ACME", "BUY", 50,
                                                                    price=_ticks(acme["bid"], -20, 2)))
        await pause(0.5)
        await _try(display, "kill switch ON", admin.set_kill_switch("account", True, "ALICE-1", "demo"))
        await pause(0.7)
        await _try(display, "alice tries again", alice.submit_order("ALICE-1", "ACME", "BUY", 50, price=acme["bid"]))
        await _try(display, "kill switch OFF", admin.set_kill_switch("account", False, "ALICE-1", "demo over"))
        await _try(display, "alice tries again", alice.submit_order("ALICE-1", "ACME", "BUY", 50,
                                                                    price=_ticks(acme["bid"], -20, 2)))
        await pause(1.0)

        display.step(10, "Where alice stands")
        for order in await alice.orders():
            display.line("event", f"     {order['order_id']:<10} {order['side']:<4} {order['quantity']:>6,} "
                                  f"{order['symbol']:<5} {order['order_type']:<10} {order['time_in_force']:<4} "
                                  f"{order['status']:<17} filled {order['filled_quantity']:>6,} "
                                  f"avg {order['average_price']}")
        for position in await alice.positions():
            display.line("event", f"     {position['account']:<8} {position['symbol']:<5} {position['quantity']:>8,} "
                                  f"avg {position['average_price']}  realized {position['realized_pnl']}")
        watch.cancel()
    print()
    display.line("ok", "demo complete")
    return 0


def _ticks(price: str, ticks: int, precision: int) -> str:
    """Move a decimal price string by whole hundredths (ACME's tick), exactly."""
    units = round(float(price) * 10**precision) + ticks
    return f"{units // 10**precision}.{units % 10**precision:0{precision}d}"


def _scenario(name: str) -> tuple[Callable[[], Any], Callable[..., Awaitable[int]]]:
    """The configuration and the script of a scenario, imported only when it runs."""
    if name == "crash":
        from gateway.liquidation.demo import crash_config, crash_script

        return crash_config, crash_script
    return demo_config, basic_script


async def _run(scenario: str, speed: float, color: bool) -> int:
    from gateway.app import serve
    from gateway.logging import configure_logging

    log_path = Path(tempfile.gettempdir()) / "unwind-demo.log"
    configure_logging("info", file=str(log_path))  # the screen is for the display; the JSON log goes to a file
    display = Display(color)
    make_config, script = _scenario(scenario)
    stop = asyncio.Event()
    ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    server_task = asyncio.get_running_loop().create_task(serve(make_config(), stop, ready))
    await asyncio.wait({ready, server_task}, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():  # the gateway failed to start: say why rather than wait for it forever
        server_task.result()
        raise RuntimeError("the gateway stopped before it was ready")
    gateway = ready.result()
    base_url = f"http://127.0.0.1:{gateway.extras['server'].port}"
    display.line("step", f"Unwind gateway up at {base_url} on the simulated venue; scenario '{scenario}'")

    async def pause(seconds: float) -> None:
        await asyncio.sleep(seconds / speed)  # pacing for a human watching, not synchronisation

    try:
        return await script(base_url, display, pause, gateway)
    finally:
        stop.set()
        await server_task
        display.line("dim", f"gateway log (structlog JSON): {log_path}")


def run_demo(scenario: str = "basic", speed: float = 1.0, color: bool = True) -> int:
    import uvloop

    return uvloop.run(_run(scenario, max(speed, 0.01), color))
