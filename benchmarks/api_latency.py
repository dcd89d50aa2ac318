"""Latency of the internal API: limit orders over the persistent WebSocket against a real gateway in a subprocess.

    python benchmarks/api_latency.py                 # 100,000 orders per phase (about a minute and a half)
    python benchmarks/api_latency.py --orders 20000  # a quick look

The gateway runs as ``unwind serve`` would (uvloop, the same ``serve``, logging at warning) in its own process, on the
demo world with the simulated venue at ``--venue-latency-us`` one way, so the venue's matching happens later on the
loop and is not part of the measured path: handing the order to the venue is a timer entry, as a real venue send is a
socket write. Orders alternate BUY below and SELL above the reference price, one share each, on a ladder of prices, so
they rest without filling and the book grows by levels, not by sweeps. The account's open-order limit is lifted (the
orders rest); every other limit is the demo's, and nothing may be refused.

Measured, each as an HDR histogram (p50/p99/p99.9/max):

- ``submit -> ack``: client round trip, from just before the send to the ack's arrival;
- ``submit -> OrderAccepted``: to the arrival of the venue's acceptance event (includes two venue latencies);
- ``submit-to-venue``: inside the gateway, from the command's JSON decoded to the child order handed to the venue
  (``Engine.latency``; the gateway writes its raw samples to a file when it stops);
- ``ping -> ack``: the baseline, a WebSocket echo through the same server, measured in the same run.

Two phases: closed loop (one order in flight: pure latency) and pipelined (``--window`` orders in flight: orders per
second, and latency under load). A third, smaller phase sends through ``gateway.api.client.UnwindClient`` to show what
the Python client adds. The gateway also counts its garbage collector's pauses (``gc.callbacks``): they are most of the
p99.9 and max. ``--journal`` runs the gateway with its durable journal. Prints Markdown tables and writes
benchmarks/out/api_latency.json (``--name`` to change it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson

from benchmarks.common import LatencyHistogram, command_line, latency_table, machine, write_json

ACCOUNT = "ALICE-1"
SYMBOL = "ACME"  # reference 100.00, tick 0.01, collar 5%: the ladder stays within 1% of the reference
LADDER_TICKS = 100  # BUY at 99.99 .. 99.00, SELL at 100.01 .. 101.00
AIM_P50_US = 20.0
AIM_P99_US = 60.0


# --- the gateway process ------------------------------------------------------------------------------------------


def gateway_config(venue_latency_ns: int, journal_dir: str | None = None) -> Any:
    from gateway.config import parse_config
    from gateway.demo_config import demo_config_data

    data = demo_config_data()
    data["gateway"].update({"port": 0, "log_level": "warning"})
    if journal_dir:
        data["gateway"]["journal_dir"] = journal_dir  # the journal's default fsync policy (batch)
    data["venues"][0].update({"latency_ns": venue_latency_ns, "open_market": False})
    data["risk"]["max_open_orders"] = 0  # the benchmark's orders rest: lift the open-order count, nothing else
    return parse_config(data)


class CollectorPauses:
    """Every pause of Python's cyclic garbage collector in this process, by generation (gc.callbacks)."""

    def __init__(self) -> None:
        self.pauses_ns: dict[int, list[int]] = {0: [], 1: [], 2: []}
        self._started_ns = 0
        gc.callbacks.append(self._on_collect)

    def _on_collect(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns()
        else:
            self.pauses_ns[info["generation"]].append(time.perf_counter_ns() - self._started_ns)

    def summary(self) -> dict[str, dict[str, float]]:
        return {f"gen{generation}": {"count": len(pauses), "total_ms": round(sum(pauses) / 1e6, 1),
                                     "max_ms": round(max(pauses, default=0) / 1e6, 2)}
                for generation, pauses in self.pauses_ns.items()}


def run_gateway(venue_latency_ns: int, samples_path: str, cpu: int | None, journal_dir: str | None) -> int:
    """Serve like ``unwind serve``; print the port when ready; on SIGTERM write the submit-to-venue samples and exit."""
    import uvloop

    from gateway.app import serve
    from gateway.logging import configure_logging

    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    config = gateway_config(venue_latency_ns, journal_dir)
    configure_logging(config.log_level, stream=sys.stderr)
    collector = CollectorPauses()

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[Any] = loop.create_future()
        serving = loop.create_task(serve(config, None, ready))
        gateway = await ready
        print(f"READY {gateway.extras['server'].port}", flush=True)
        return await serving

    engine = uvloop.run(main()).engine
    with open(samples_path, "wb") as handle:
        engine.latency.samples.tofile(handle)
    print(orjson.dumps({"orders": len(engine.orders.by_id), "samples": len(engine.latency.samples),
                        "collector_pauses": collector.summary()}).decode(), flush=True)
    return 0


@dataclass
class GatewayProcess:
    process: subprocess.Popen[str]
    port: int
    samples_path: str

    @classmethod
    def start(cls, venue_latency_ns: int, cpu: int | None, journal_dir: str | None) -> GatewayProcess:
        samples_path = tempfile.mktemp(prefix="api_latency_samples_", suffix=".bin")
        command = [sys.executable, __file__, "--gateway-process", "--venue-latency-us", str(venue_latency_ns / 1000),
                   "--samples-file", samples_path]
        if cpu is not None:
            command += ["--gateway-cpu", str(cpu)]
        if journal_dir is not None:
            command += ["--journal-dir", journal_dir]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("READY "):
            process.kill()
            raise RuntimeError(f"the gateway did not start: {line!r}")
        return cls(process, int(line.split()[1]), samples_path)

    def stop(self) -> tuple[dict[str, Any], array[int]]:
        """Stop the gateway gracefully; return its counts and its submit-to-venue samples (ns, in submit order)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        counts = orjson.loads(out.strip().splitlines()[-1])
        samples = array("q")
        with open(self.samples_path, "rb") as handle:
            samples.frombytes(handle.read())
        os.unlink(self.samples_path)
        return counts, samples


# --- the client ---------------------------------------------------------------------------------------------------


def submit_message(index: int) -> bytes:
    """The index-th order: BUY below and SELL above the reference, alternately, on a ladder of LADDER_TICKS prices."""
    step = (index // 2) % LADDER_TICKS
    if index % 2 == 0:
        side, price = "BUY", 9999 - step
    else:
        side, price = "SELL", 10001 + step
    return orjson.dumps({"type": "submit", "req_id": index, "account": ACCOUNT, "symbol": SYMBOL, "side": side,
                         "order_type": "LIMIT", "time_in_force": "DAY", "quantity": 1,
                         "price": f"{price // 100}.{price % 100:02d}", "client_order_id": f"b{index}"})


@dataclass
class Phase:
    """Latencies and counts of one phase, as the client saw them."""

    name: str
    ack: LatencyHistogram
    accepted: LatencyHistogram | None = None
    refusals: int = 0
    refusal_examples: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    count: int = 0

    def refused(self, answer: dict[str, Any]) -> None:
        self.refusals += 1
        if len(self.refusal_examples) < 3:
            self.refusal_examples.append(answer)

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0


def _order_index(client_order_id: str) -> int:
    return int(client_order_id[1:])


async def closed_loop_orders(ws: Any, first: int, count: int, name: str) -> Phase:
    """One order in flight: send, wait for its ack and its OrderAccepted, then the next."""
    phase = Phase(name, LatencyHistogram(f"{name}: submit -> ack"), LatencyHistogram(f"{name}: submit -> OrderAccepted"))
    messages = [submit_message(index) for index in range(first, first + count)]
    perf = time.perf_counter_ns
    receive = ws.receive
    loads = orjson.loads
    started = perf()
    for offset, message in enumerate(messages):
        index = first + offset
        client_order_id = f"b{index}"
        sent = perf()
        await ws.send_bytes(message)
        acked = accepted = False
        while not (acked and accepted):
            body = loads((await receive()).data)
            now = perf()
            kind = body.get("type")
            if kind == "ack" and body["req_id"] == index:
                phase.ack.record(now - sent)
                acked = True
            elif kind == "error":
                phase.refused(body)
                acked = accepted = True
            elif body.get("event") == "OrderAccepted" and body["client_order_id"] == client_order_id:
                phase.accepted.record(now - sent)  # type: ignore[union-attr]
                accepted = True
            elif body.get("event") == "OrderRejected":
                phase.refused(body)
                acked = accepted = True
    phase.elapsed_s = (perf() - started) / 1e9
    phase.count = count
    return phase


async def pipelined_orders(ws: Any, first: int, count: int, window: int, name: str) -> Phase:
    """Keep ``window`` orders in flight (sent, not yet accepted by the venue); measure orders per second."""
    phase = Phase(name, LatencyHistogram(f"{name}: submit -> ack"), LatencyHistogram(f"{name}: submit -> OrderAccepted"))
    messages = [submit_message(index) for index in range(first, first + count)]
    sent_ns = array("q", bytes(8 * count))
    perf = time.perf_counter_ns
    receive = ws.receive
    loads = orjson.loads
    next_offset = 0
    done = 0
    in_flight = 0
    started = perf()
    while done < count:
        while in_flight < window and next_offset < count:
            sent_ns[next_offset] = perf()
            await ws.send_bytes(messages[next_offset])
            next_offset += 1
            in_flight += 1
        body = loads((await receive()).data)
        now = perf()
        kind = body.get("type")
        if kind == "ack":
            phase.ack.record(now - sent_ns[body["req_id"] - first])
        elif kind == "error":
            phase.refused(body)
            done += 1
            in_flight -= 1
        elif body.get("event") == "OrderAccepted":
            phase.accepted.record(now - sent_ns[_order_index(body["client_order_id"]) - first])  # type: ignore[union-attr]
            done += 1
            in_flight -= 1
        elif body.get("event") == "OrderRejected":
            phase.refused(body)
            done += 1
            in_flight -= 1
    phase.elapsed_s = (perf() - started) / 1e9
    phase.count = count
    return phase


async def closed_loop_pings(ws: Any, count: int, name: str) -> Phase:
    phase = Phase(name, LatencyHistogram(f"{name}: ping -> ack (baseline)"))
    perf = time.perf_counter_ns
    started = perf()
    for index in range(count):
        message = orjson.dumps({"type": "ping", "req_id": index})
        sent = perf()
        await ws.send_bytes(message)
        while True:
            body = orjson.loads((await ws.receive()).data)
            if body.get("req_id") == index:
                phase.ack.record(perf() - sent)
                break
    phase.elapsed_s = (perf() - started) / 1e9
    phase.count = count
    return phase


async def pipelined_pings(ws: Any, count: int, window: int, name: str) -> Phase:
    phase = Phase(name, LatencyHistogram(f"{name}: ping -> ack (baseline)"))
    sent_ns = array("q", bytes(8 * count))
    perf = time.perf_counter_ns
    next_index = done = 0
    started = perf()
    while done < count:
        while next_index - done < window and next_index < count:
            message = orjson.dumps({"type": "ping", "req_id": next_index})
            sent_ns[next_index] = perf()
            await ws.send_bytes(message)
            next_index += 1
        body = orjson.loads((await ws.receive()).data)
        if body.get("type") == "ack":
            phase.ack.record(perf() - sent_ns[body["req_id"]])
            done += 1
    phase.elapsed_s = (perf() - started) / 1e9
    phase.count = count
    return phase


async def through_python_client(url: str, api_key: str, first: int, count: int) -> Phase:
    """The same closed loop through gateway.api.client.UnwindClient (futures, reader task, event queue)."""
    from gateway.api.client import UnwindClient

    name = "UnwindClient"
    phase = Phase(name, LatencyHistogram(f"{name}: submit -> ack"), LatencyHistogram(f"{name}: submit -> OrderAccepted"))
    perf = time.perf_counter_ns
    async with UnwindClient(url, api_key, reconnect=False) as client:
        started = perf()
        for offset in range(count):
            index = first + offset
            step = (index // 2) % LADDER_TICKS
            side, price = ("BUY", 9999 - step) if index % 2 == 0 else ("SELL", 10001 + step)
            client_order_id = f"b{index}"
            sent = perf()
            ack = await client.submit_order(ACCOUNT, SYMBOL, side, 1, price=f"{price // 100}.{price % 100:02d}",
                                            client_order_id=client_order_id)
            phase.ack.record(perf() - sent)
            order_id = ack["order_id"]
            await client.wait_for_event(lambda e, order_id=order_id: e.get("event") == "OrderAccepted"
                                        and e.get("order_id") == order_id)
            phase.accepted.record(perf() - sent)  # type: ignore[union-attr]
        phase.elapsed_s = (perf() - started) / 1e9
    phase.count = count
    return phase


# --- the run ------------------------------------------------------------------------------------------------------


async def drive(port: int, args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from gateway.demo_config import DEMO_KEYS

    url = f"ws://127.0.0.1:{port}/v1/stream"
    key = DEMO_KEYS["alice"]
    plan: dict[str, tuple[int, int]] = {}  # phase -> (first order index, count): the gateway's samples come in order
    next_index = 0

    def take(name: str, count: int) -> int:
        nonlocal next_index
        plan[name] = (next_index, count)
        next_index += count
        return plan[name][0]

    phases: dict[str, Phase] = {}
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, headers={"X-API-Key": key}, max_msg_size=0, autoping=True)
        await closed_loop_pings(ws, args.warmup, "warm-up")
        await closed_loop_orders(ws, take("warm-up", args.warmup), args.warmup, "warm-up")
        phases["ping_closed"] = await closed_loop_pings(ws, args.pings, "closed loop")
        phases["closed"] = await closed_loop_orders(ws, take("closed", args.orders), args.orders, "closed loop")
        phases["ping_pipelined"] = await pipelined_pings(ws, args.pings, args.window, f"window {args.window}")
        phases["pipelined"] = await pipelined_orders(ws, take("pipelined", args.orders), args.orders, args.window,
                                                     f"window {args.window}")
        await ws.close()
    if args.client_orders:
        phases["client"] = await through_python_client(url, key, take("client", args.client_orders),
                                                       args.client_orders)
    return {"phases": phases, "plan": plan, "orders_sent": next_index}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders in each of the two main phases")
    parser.add_argument("--window", type=int, default=64, help="orders in flight in the pipelined phase")
    parser.add_argument("--pings", type=int, default=0, help="baseline pings per phase (default: orders / 5)")
    parser.add_argument("--warmup", type=int, default=0, help="unrecorded orders first (default: orders / 20)")
    parser.add_argument("--client-orders", type=int, default=-1,
                        help="orders through UnwindClient (default: orders / 10; 0 skips the phase)")
    parser.add_argument("--venue-latency-us", type=float, default=50.0, help="simulated venue latency, one way")
    parser.add_argument("--pin", action="store_true", help="pin the gateway to CPU 1 and the client to CPU 0")
    parser.add_argument("--journal", action="store_true",
                        help="run the gateway with its durable journal (a temporary directory, default fsync policy)")
    parser.add_argument("--name", default="api_latency", help="JSON file name under benchmarks/out/")
    parser.add_argument("--gateway-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--samples-file", help=argparse.SUPPRESS)
    parser.add_argument("--gateway-cpu", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--journal-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    venue_latency_ns = int(args.venue_latency_us * 1000)
    if venue_latency_ns <= 0:
        parser.error("--venue-latency-us must be > 0: the venue's matching must stay off the measured path")
    if args.gateway_process:
        return run_gateway(venue_latency_ns, args.samples_file, args.gateway_cpu, args.journal_dir)
    args.pings = args.pings or max(1_000, args.orders // 5)
    args.warmup = args.warmup or max(500, args.orders // 20)
    if args.client_orders < 0:
        args.client_orders = max(500, args.orders // 10)

    import uvloop

    if args.pin:
        os.sched_setaffinity(0, {0})
    gc.collect()
    gc.freeze()  # the client's own start-up objects: its collections stay small and off the measured round trips
    wall_started = time.perf_counter()
    journal_dir = tempfile.mkdtemp(prefix="api_latency_journal_") if args.journal else None
    gateway = GatewayProcess.start(venue_latency_ns, 1 if args.pin else None, journal_dir)
    try:
        run = uvloop.run(drive(gateway.port, args))
    finally:
        counts, samples = gateway.stop()
        if journal_dir is not None:
            shutil.rmtree(journal_dir, ignore_errors=True)
    phases: dict[str, Phase] = run["phases"]
    refusals = sum(phase.refusals for phase in phases.values())

    server: dict[str, LatencyHistogram] = {}
    aligned = len(samples) == run["orders_sent"] and refusals == 0
    for name, (first, count) in run["plan"].items():
        if name != "warm-up" and aligned:
            server[name] = LatencyHistogram(f"{phases[name].name}: submit-to-venue").record_all(
                samples[first:first + count])
    rows: list[dict[str, Any]] = []
    for key in ("ping_closed", "closed", "ping_pipelined", "pipelined", "client"):
        phase = phases.get(key)
        if phase is None:
            continue
        if key in server:
            rows.append(server[key].summary())
        rows.append(phase.ack.summary())
        if phase.accepted is not None:
            rows.append(phase.accepted.summary())

    closed, pipelined = phases["closed"], phases["pipelined"]
    ping_closed, ping_pipelined = phases["ping_closed"], phases["ping_pipelined"]
    submit_to_venue = server["closed"].summary() if "closed" in server else {}
    ratios = {
        "closed_submit_ack_p50_over_ping_p50": closed.ack.summary()["p50_us"] / ping_closed.ack.summary()["p50_us"],
        "pipelined_orders_per_s_over_pings_per_s": pipelined.per_second / ping_pipelined.per_second,
    }
    aim = {"submit_to_venue_p50_us": AIM_P50_US, "submit_to_venue_p99_us": AIM_P99_US,
           "met": bool(submit_to_venue) and submit_to_venue["p50_us"] < AIM_P50_US
           and submit_to_venue["p99_us"] < AIM_P99_US}
    labels = {"ping_closed": "ping, closed loop (baseline)", "closed": "submit, closed loop",
              "ping_pipelined": f"ping, window {args.window} (baseline)", "pipelined": f"submit, window {args.window}",
              "client": "submit via UnwindClient, closed loop"}
    throughput = {labels[key]: {"count": phase.count, "elapsed_s": round(phase.elapsed_s, 3),
                                "per_second": round(phase.per_second)} for key, phase in phases.items()}
    document = {
        "benchmark": "api_latency",
        "command": command_line(),
        "machine": machine(),
        "settings": {"orders": args.orders, "window": args.window, "pings": args.pings, "warmup": args.warmup,
                     "client_orders": args.client_orders, "venue_latency_ns": venue_latency_ns, "pinned": args.pin,
                     "journal": args.journal, "symbol": SYMBOL,
                     "gateway": "subprocess, uvloop, demo world, open-order limit lifted"},
        "latency": rows,
        "throughput": throughput,
        "refusals": refusals,
        "refusal_examples": [example for phase in phases.values() for example in phase.refusal_examples],
        "gateway_counts": counts,
        "server_samples_aligned": aligned,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "aim": aim,
        "wall_s": round(time.perf_counter() - wall_started, 1),
    }
    path = write_json(args.name, document)

    print(latency_table(rows, f"API latency, {args.orders:,} orders per phase, venue latency "
                              f"{venue_latency_ns / 1000:g} µs one way"))
    print()
    print("| phase | messages | seconds | per second |")
    print("|---|---:|---:|---:|")
    for name, row in throughput.items():
        print(f"| {name} | {row['count']:,} | {row['elapsed_s']:.2f} | {row['per_second']:,} |")
    print()
    print(f"refusals: {refusals}   gateway orders: {counts['orders']:,}   samples aligned: {aligned}")
    print(f"collector pauses in the gateway: {counts['collector_pauses']}")
    print(f"ratios: {document['ratios']}")
    if submit_to_venue:
        print(f"aim (submit-to-venue p50 < {AIM_P50_US:g} µs, p99 < {AIM_P99_US:g} µs): "
              f"p50 {submit_to_venue['p50_us']:.1f} µs, p99 {submit_to_venue['p99_us']:.1f} µs -> "
              f"{'met' if aim['met'] else 'not met'}")
    print(f"machine: {document['machine']['cpu']}, {document['machine']['cores']} cores; wall {document['wall_s']} s")
    print(f"JSON: {path.relative_to(ROOT)}")
    return 0 if refusals == 0 and aligned else 1


if __name__ == "__main__":
    sys.exit(main())
