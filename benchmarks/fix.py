"""FIX initiators against one QuickFIX acceptor: our adapter beside a QuickFIX initiator (its Python binding).

    python benchmarks/fix.py                       # 10,000 orders pipelined + 5,000 ping-pong per engine
    python benchmarks/fix.py --orders 5000 --pings 2000 --profile   # quicker, and where our CPU goes

The broker is a QuickFIX C++ acceptor (data dictionary validation on) whose Python application answers every
NewOrderSingle with two execution reports, an ack (150=0) and a fill (150=F). It runs in its own process, started
afresh for each engine. Each initiator also runs in its own process, so its CPU time (user + system, from
``resource.getrusage``) is its own:

- ``unwind``: ``FixVenueAdapter`` on uvloop (orders are ``gateway.model.Order``; reports come back as
  ``ExecutionReport`` through the listener), file store on;
- ``unwind-asyncio``: the same on the standard asyncio loop;
- ``quickfix``: a QuickFIX ``SocketInitiator`` with a ``FileStoreFactory`` (the same durability as ours): builds a
  ``fix.Message`` per order and reads eight fields of each report with ``getField``.

Two phases per engine, the same for all: *throughput*, ``--orders`` orders with ``--window`` in flight, the next sent
from the callback of each fill (orders per second with every fill received); *ping-pong*, ``--pings`` orders one at a
time, order out -> fill in, recorded in an HDR histogram (p50/p99/p99.9/max). CPU per order is the initiator
process's CPU over the phase divided by its orders: encode one order, decode its two reports, session bookkeeping,
syscalls. Prints a Markdown table and writes benchmarks/out/fix.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import LatencyHistogram, command_line, latency_table, machine, write_json

DATA_DICTIONARY = Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml"
SYMBOL, PRICE_TEXT, PRICE_UNITS, QUANTITY = "ACME", "1700.10", 170010, 100
WARMUP = 500


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- the broker (acceptor process) ----------------------------------------------------------------------------------


def run_acceptor(port: int, directory: Path) -> None:
    import quickfix as fix

    class Broker(fix.Application):
        def __init__(self) -> None:
            super().__init__()
            self.exec_ids = 0

        def onCreate(self, session_id: fix.SessionID) -> None: ...

        def onLogon(self, session_id: fix.SessionID) -> None: ...

        def onLogout(self, session_id: fix.SessionID) -> None: ...

        def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
            cl_ord_id = message.getField(11)
            quantity = message.getField(38)
            price = message.getField(44)
            side = message.getField(54)
            for exec_type, status, last_qty, cumulative, leaves in (("0", "0", "0", "0", quantity),
                                                                    ("F", "2", quantity, quantity, "0")):
                self.exec_ids += 1
                report = fix.Message()
                report.getHeader().setField(fix.MsgType("8"))
                for tag, value in ((37, cl_ord_id), (11, cl_ord_id), (17, f"X{self.exec_ids}"), (150, exec_type),
                                   (39, status), (55, SYMBOL), (54, side), (32, last_qty), (31, price),
                                   (151, leaves), (14, cumulative), (6, price if cumulative != "0" else "0")):
                    report.setField(fix.StringField(tag, value))
                report.setField(fix.TransactTime())
                fix.Session.sendToTarget(report, session_id)

    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "acceptor.cfg"
    config.write_text("\n".join([
        "[DEFAULT]", "ConnectionType=acceptor", f"SocketAcceptPort={port}", "SocketAcceptHost=127.0.0.1",
        "SocketNodelay=Y", "StartTime=00:00:00", "EndTime=00:00:00", "UseDataDictionary=Y",
        f"DataDictionary={DATA_DICTIONARY}", "ResetOnLogon=Y",
        "[SESSION]", "BeginString=FIX.4.4", "SenderCompID=BROKER", "TargetCompID=UNWIND",
        "[SESSION]", "BeginString=FIX.4.4", "SenderCompID=BROKER", "TargetCompID=QFI", ""]))
    settings = fix.SessionSettings(str(config))
    application, store = Broker(), fix.MemoryStoreFactory()
    acceptor = fix.SocketAcceptor(application, store, settings)
    acceptor.start()
    print(json.dumps({"ready": port}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin or kills us
    os._exit(0)  # never acceptor.stop(): this QuickFIX build can crash in it with a dictionary loaded


# --- our adapter (initiator process) --------------------------------------------------------------------------------


def run_unwind(args: argparse.Namespace, use_uvloop: bool) -> dict[str, Any]:
    from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter
    from gateway.model import ExecType, Instrument, Order, OrderType, Side, TimeInForce

    instrument = Instrument(SYMBOL, 1, 1, 2, PRICE_UNITS, 0, 0, 1_000_000)
    store = tempfile.mkdtemp(prefix="fix-bench-")
    config = FixAdapterConfig(name="BROKER", host="127.0.0.1", port=args.port, sender_comp_id="UNWIND",
                              target_comp_id="BROKER", instruments={SYMBOL: instrument}, store_dir=store,
                              heartbeat_interval_s=30, reset_seq_num_on_logon=True)
    trade = ExecType.TRADE
    total = WARMUP + args.orders + args.pings
    orders = [Order(f"O{i}", f"C{i}", "FILL", "bench", SYMBOL, Side.BUY, OrderType.LIMIT, TimeInForce.DAY, QUANTITY,
                    PRICE_UNITS, None, None, "BROKER", 0, venue_client_order_id=f"U{i}") for i in range(total)]

    class Driver:
        def __init__(self) -> None:
            self.adapter = FixVenueAdapter(config)
            self.adapter.bind(self)
            self.logged_on = asyncio.Event()
            self.done = asyncio.Event()
            self.next_index = 0
            self.fills = 0
            self.target = 0
            self.ping = False
            self.sent_ns = 0
            self.latency: list[int] = []

        def on_execution(self, report: Any) -> None:
            if report.exec_type is not trade:
                return
            self.fills += 1
            if self.ping:
                now = time.perf_counter_ns()
                self.latency.append(now - self.sent_ns)
            if self.fills == self.target:
                self.done.set()
            elif self.next_index < self.stop_index:
                self.send()

        def send(self) -> None:
            order = orders[self.next_index]
            self.next_index += 1
            self.sent_ns = time.perf_counter_ns()
            self.adapter.send_new(order)

        def on_quote(self, quote: Any) -> None: ...

        def on_trade(self, trade: Any) -> None: ...

        def on_symbol_status(self, status: Any) -> None: ...

        def on_venue_connected(self, venue: str, connected: bool) -> None:
            if connected:
                self.logged_on.set()

        async def phase(self, count: int, window: int, ping: bool) -> tuple[float, float]:
            self.done.clear()
            self.ping = ping
            self.target = self.fills + count
            self.stop_index = self.next_index + count
            started_cpu, started = cpu_seconds(), time.perf_counter()
            for _ in range(min(window, count)):
                self.send()
            await asyncio.wait_for(self.done.wait(), 300)
            return time.perf_counter() - started, cpu_seconds() - started_cpu

    async def main() -> dict[str, Any]:
        driver = Driver()
        await driver.adapter.start()
        await asyncio.wait_for(driver.logged_on.wait(), 30)
        await driver.phase(WARMUP, args.window, ping=False)
        if args.gc_freeze:
            import gc

            gc.freeze()  # what a long-running engine does after start-up: the collector skips the day's fixed objects
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        session = driver.adapter.session
        reads_before, messages_before = session.reads, session.messages_received
        elapsed, cpu = await driver.phase(args.orders, args.window, ping=False)
        if profiler is not None:
            profiler.disable()
        reads = session.reads - reads_before
        messages_per_read = (session.messages_received - messages_before) / max(reads, 1)
        ping_elapsed, ping_cpu = await driver.phase(args.pings, 1, ping=True)
        await driver.adapter.stop()
        result = {"orders": args.orders, "elapsed_s": elapsed, "cpu_s": cpu, "pings": args.pings,
                  "ping_elapsed_s": ping_elapsed, "ping_cpu_s": ping_cpu, "latency_ns": driver.latency,
                  "messages_per_read": messages_per_read}
        if profiler is not None:
            result["profile"] = _profile_text(profiler)
        return result

    if use_uvloop:
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


def _profile_text(profiler: Any) -> str:
    import io
    import pstats

    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(25)
    return stream.getvalue()


# --- QuickFIX's own initiator (process) -----------------------------------------------------------------------------


def run_quickfix(args: argparse.Namespace) -> dict[str, Any]:
    import threading

    import quickfix as fix

    directory = Path(tempfile.mkdtemp(prefix="fix-bench-qf-"))
    latency: list[int] = []

    class Initiator(fix.Application):
        def __init__(self) -> None:
            super().__init__()
            self.session_id: fix.SessionID | None = None
            self.logged_on = threading.Event()
            self.done = threading.Event()
            self.next_index = 0
            self.stop_index = 0
            self.fills = 0
            self.target = 0
            self.ping = False
            self.sent_ns = 0

        def onCreate(self, session_id: fix.SessionID) -> None:
            self.session_id = session_id

        def onLogon(self, session_id: fix.SessionID) -> None:
            self.logged_on.set()

        def onLogout(self, session_id: fix.SessionID) -> None: ...

        def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...

        def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
            # Read what our adapter maps into an ExecutionReport, so both engines decode the same.
            exec_type = message.getField(150)
            for tag in (11, 17, 39, 14, 151, 32, 31):
                message.getField(tag)
            if exec_type != "F":
                return
            self.fills += 1
            if self.ping:
                latency.append(time.perf_counter_ns() - self.sent_ns)
            if self.fills == self.target:
                self.done.set()
            elif self.next_index < self.stop_index:
                self.send()

        def send(self) -> None:
            index = self.next_index
            self.next_index += 1
            order = fix.Message()
            order.getHeader().setField(fix.MsgType("D"))
            order.setField(fix.ClOrdID(f"Q{index}"))
            order.setField(fix.Account("FILL"))
            order.setField(fix.HandlInst("1"))
            order.setField(fix.Symbol(SYMBOL))
            order.setField(fix.Side("1"))
            order.setField(fix.TimeInForce("0"))
            order.setField(fix.OrderQty(QUANTITY))
            order.setField(fix.OrdType("2"))
            order.setField(fix.Price(float(PRICE_TEXT)))
            order.setField(fix.TransactTime())
            self.sent_ns = time.perf_counter_ns()
            fix.Session.sendToTarget(order, self.session_id)

        def phase(self, count: int, window: int, ping: bool) -> tuple[float, float]:
            self.done.clear()
            self.ping = ping
            self.target = self.fills + count
            self.stop_index = self.next_index + count
            started_cpu, started = cpu_seconds(), time.perf_counter()
            for _ in range(min(window, count)):
                self.send()
            if not self.done.wait(300):
                raise TimeoutError("QuickFIX initiator: fills missing")
            return time.perf_counter() - started, cpu_seconds() - started_cpu

    config = directory / "initiator.cfg"
    config.write_text("\n".join([
        "[DEFAULT]", "ConnectionType=initiator", "SocketConnectHost=127.0.0.1", f"SocketConnectPort={args.port}",
        "SocketNodelay=Y", "StartTime=00:00:00", "EndTime=00:00:00", "HeartBtInt=30", "ReconnectInterval=1",
        "UseDataDictionary=Y", f"DataDictionary={DATA_DICTIONARY}", f"FileStorePath={directory / 'store'}",
        "ResetOnLogon=Y", "[SESSION]", "BeginString=FIX.4.4", "SenderCompID=QFI", "TargetCompID=BROKER", ""]))
    settings = fix.SessionSettings(str(config))
    application, store = Initiator(), fix.FileStoreFactory(settings)
    initiator = fix.SocketInitiator(application, store, settings)
    initiator.start()
    if not application.logged_on.wait(30):
        raise TimeoutError("QuickFIX initiator did not log on")
    application.phase(WARMUP, args.window, ping=False)
    elapsed, cpu = application.phase(args.orders, args.window, ping=False)
    ping_elapsed, ping_cpu = application.phase(args.pings, 1, ping=True)
    result = {"orders": args.orders, "elapsed_s": elapsed, "cpu_s": cpu, "pings": args.pings,
              "ping_elapsed_s": ping_elapsed, "ping_cpu_s": ping_cpu, "latency_ns": latency}
    print(json.dumps(result), flush=True)
    os._exit(0)  # skip stop(): see run_acceptor


# --- where our CPU goes (in process, no sockets) -------------------------------------------------------------------


def component_costs(orders: int = 10_000) -> list[tuple[str, float]]:
    """Time our per-order work piece by piece, and whole through the session with a fake transport (best of runs)."""
    import timeit

    import structlog

    from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter
    from adapters.fix.codec import FrameReader, MessageEncoder, TimestampFormatter, decode_fields
    from adapters.fix.mapping import FixOrderMapper
    from adapters.fix.session import FixSession, SessionRole
    from adapters.fix.store import SessionStore
    from gateway.clock import LiveClock, TimerQueue
    from gateway.model import Instrument, Order, OrderType, Side, TimeInForce

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    instrument = Instrument(SYMBOL, 1, 1, 2, PRICE_UNITS, 0, 0, 1_000_000)
    mapper = FixOrderMapper("BROKER", {SYMBOL: instrument})
    stamp = TimestampFormatter().format(time.time_ns())
    peer = MessageEncoder("BROKER", "UNWIND")

    def report(seq: int, index: int, exec_type: str, status: str, last: int, cumulative: int, leaves: int) -> bytes:
        return peer.encode("8", seq, TimestampFormatter().format(time.time_ns()),
                           f"37=B{index}\x0111=U{index}\x0117=X{index}{exec_type}\x01150={exec_type}\x0139={status}\x01"
                           f"55={SYMBOL}\x0154=1\x0132={last}\x0131={PRICE_TEXT}\x01151={leaves}\x0114={cumulative}\x01"
                           f"6={PRICE_TEXT}\x0160={stamp}\x01")

    def new_order(index: int) -> Order:
        return Order(f"O{index}", f"C{index}", "FILL", "bench", SYMBOL, Side.BUY, OrderType.LIMIT, TimeInForce.DAY,
                     QUANTITY, PRICE_UNITS, None, None, "BROKER", 0, venue_client_order_id=f"U{index}")

    ack, fill = report(5, 1, "0", "0", 0, 0, QUANTITY), report(6, 1, "F", "2", QUANTITY, QUANTITY, 0)
    ack_fields, fill_fields = decode_fields(ack), decode_fields(fill)
    order = new_order(1)
    reader = FrameReader(lambda reason, fragment: None)
    encoder = MessageEncoder("UNWIND", "BROKER")
    body = mapper.new_order_single(order, stamp)
    store = SessionStore(tempfile.mkdtemp(prefix="fix-bench-store-"), "parts", 1)
    raw = encoder.encode("D", 7, stamp, body)
    sequence = iter(range(1, 10**9))

    def record() -> None:
        store.record_sent(next(sequence), raw)
        store.flush()

    def best(function: Any, number: int = 20_000) -> float:
        return min(timeit.repeat(function, number=number, repeat=7)) / number * 1e6

    rows = [
        ("frame two reports (BodyLength, CheckSum)", best(lambda: (reader.feed(ack), reader.feed(fill)))),
        ("split-decode two reports", best(lambda: (decode_fields(ack), decode_fields(fill)))),
        ("map two reports to ExecutionReport", best(lambda: (mapper.execution_report(ack_fields, False),
                                                               mapper.execution_report(fill_fields, False)))),
        ("NewOrderSingle body from an Order", best(lambda: mapper.new_order_single(order, stamp))),
        ("header, BodyLength, CheckSum of the order", best(lambda: encoder.encode("D", 7, stamp, body))),
        ("store the order (copy into the mapped log)", best(record)),
    ]

    def whole_path() -> float:
        """Orders out and two reports in each through FixVenueAdapter and FixSession, written to a fake socket."""
        config = FixAdapterConfig("BROKER", "127.0.0.1", 1, "UNWIND", "BROKER", {SYMBOL: instrument},
                                  tempfile.mkdtemp(prefix="fix-bench-whole-"))
        clock = LiveClock()
        timers = TimerQueue(clock)
        adapter = FixVenueAdapter(config, timers=timers)

        class Count:
            reports = 0

            def on_execution(self, report: Any) -> None:
                self.reports += 1

            def on_venue_connected(self, venue: str, connected: bool) -> None: ...

        counter = Count()
        adapter.bind(counter)  # type: ignore[arg-type]
        session_store = SessionStore(config.store_dir, "whole", clock.now_ns())
        session = FixSession(config.session_settings(), session_store, clock, timers, adapter,
                             SessionRole.INITIATOR, schedule_flush=lambda flush: None)
        adapter.session, adapter.store = session, session_store

        class Socket:
            def write(self, data: bytes) -> None: ...

            def close(self) -> None: ...

        session.connection_made(Socket())
        session.data_received(peer.encode("A", 1, TimestampFormatter().format(time.time_ns()), "98=0\x01108=30\x01"))
        batch = 20
        batches = []
        for start in range(0, orders, batch):
            inbound = b"".join(report(2 + 2 * i, i, "0", "0", 0, 0, QUANTITY) +
                               report(3 + 2 * i, i, "F", "2", QUANTITY, QUANTITY, 0) for i in range(start, start + batch))
            batches.append(([new_order(i) for i in range(start, start + batch)], inbound))
        started = time.process_time()
        for batch_orders, inbound in batches:
            for each in batch_orders:
                adapter.send_new(each)
            session.flush()
            session.data_received(inbound)
        spent = time.process_time() - started
        assert counter.reports == 2 * orders, counter.reports
        return spent / orders * 1e6

    rows.append(("all of it through FixVenueAdapter + FixSession (no sockets)", min(whole_path() for _ in range(3))))

    def simplefix_parse() -> None:
        parser = simplefix.FixParser()
        parser.append_buffer(fill)
        parser.get_message()

    def simplefix_encode() -> None:
        message = simplefix.FixMessage()
        for tag, value in ((8, "FIX.4.4"), (35, "D"), (49, "UNWIND"), (56, "BROKER"), (34, 7), (52, stamp)):
            message.append_pair(tag, value, header=True)
        for field in body.split("\x01")[:-1]:
            tag, value = field.split("=", 1)
            message.append_pair(tag, value)
        message.encode()

    import simplefix

    rows.append(("(scale) simplefix: parse one report", best(simplefix_parse, 2_000)))
    rows.append(("(scale) simplefix: encode the same order", best(simplefix_encode, 5_000)))
    return rows


# --- the orchestrating parent ---------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(engine: str, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="fix-bench-acceptor-"))
    acceptor = subprocess.Popen([sys.executable, __file__, "--role", "acceptor", "--port", str(port), "--dir",
                                 str(directory)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert acceptor.stdout is not None
        json.loads(acceptor.stdout.readline())
        command = [sys.executable, __file__, "--role", engine, "--port", str(port), "--orders", str(args.orders),
                   "--pings", str(args.pings), "--window", str(args.window)]
        if args.profile:
            command.append("--profile")
        if args.gc_freeze:
            command.append("--gc-freeze")
        output = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        if output.returncode != 0:
            raise RuntimeError(f"{engine} failed:\n{output.stderr[-3000:]}")
        lines = [line for line in output.stdout.splitlines() if line.startswith("{")]
        return json.loads(lines[-1])
    finally:
        acceptor.kill()
        acceptor.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the throughput phase")
    parser.add_argument("--pings", type=int, default=3_000, help="orders in the ping-pong phase")
    parser.add_argument("--window", type=int, default=50, help="orders in flight in the throughput phase")
    parser.add_argument("--rounds", type=int, default=3, help="runs per engine, interleaved; medians are reported")
    parser.add_argument("--engines", default="unwind,unwind-asyncio,quickfix")
    parser.add_argument("--profile", action="store_true", help="cProfile our adapter's throughput phase")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() in our initiator after warm-up")
    parser.add_argument("--role", default="parent", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "acceptor":
        run_acceptor(args.port, args.dir)
        return
    if args.role in ("unwind", "unwind-asyncio"):
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings only
        print(json.dumps(run_unwind(args, use_uvloop=args.role == "unwind")), flush=True)
        return
    if args.role == "quickfix":
        run_quickfix(args)
        return

    load = os.getloadavg()
    engines = args.engines.split(",")
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
    for round_number in range(args.rounds):
        # Interleave, and turn the order round each time, so a change in the machine's load hits every engine alike.
        order = engines[round_number % len(engines):] + engines[:round_number % len(engines)]
        for engine in order:
            print(f"round {round_number + 1}/{args.rounds}: {engine} ...", file=sys.stderr, flush=True)
            runs[engine].append(measure(engine, args))
    rows = []
    latencies = []
    for engine, results in runs.items():
        throughput = [r["orders"] / r["elapsed_s"] for r in results]
        cpu = [r["cpu_s"] / r["orders"] * 1e6 for r in results]
        ping_cpu = [r["ping_cpu_s"] / r["pings"] * 1e6 for r in results]
        rows.append({"engine": engine, "orders_per_s": statistics.median(throughput),
                     "cpu_us_per_order": statistics.median(cpu), "ping_cpu_us_per_order": statistics.median(ping_cpu),
                     "orders_per_s_rounds": throughput, "cpu_us_per_order_rounds": cpu,
                     "ping_cpu_us_per_order_rounds": ping_cpu,
                     "messages_per_read": [r["messages_per_read"] for r in results if "messages_per_read" in r]})
        histogram = LatencyHistogram(f"{engine}: order out -> fill in")
        for result in results:
            histogram.record_all(result.pop("latency_ns"))
        latencies.append(histogram.summary())
    baseline = next((row for row in rows if row["engine"] == "quickfix"), rows[-1])
    title = (f"**Throughput and CPU per order** (median of {args.rounds} interleaved rounds; each initiator in its "
             "own process; the same QuickFIX acceptor)")
    header = ("| engine | orders/s | vs QuickFIX | CPU µs/order (pipelined) | vs QuickFIX | CPU µs/order (ping-pong) "
              "| vs QuickFIX |")
    lines = [title, "", header, "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['engine']} | {row['orders_per_s']:,.0f} | "
                     f"{row['orders_per_s'] / baseline['orders_per_s']:.2f}x | {row['cpu_us_per_order']:.1f} | "
                     f"{row['cpu_us_per_order'] / baseline['cpu_us_per_order']:.2f}x | "
                     f"{row['ping_cpu_us_per_order']:.1f} | "
                     f"{row['ping_cpu_us_per_order'] / baseline['ping_cpu_us_per_order']:.2f}x |")
    table = "\n".join(lines)
    latency = latency_table(latencies, f"Ping-pong latency, one order in flight ({args.rounds} rounds pooled)")
    document = {"command": command_line(), "machine": machine(), "load_average_at_start": load,
                "load_average_at_end": os.getloadavg(),
                "parameters": {"orders": args.orders, "pings": args.pings, "window": args.window,
                               "rounds": args.rounds},
                "runs": runs, "summary": rows, "latency": latencies}
    components = component_costs()
    document["in_process_us_per_order"] = dict(components)
    parts = "\n".join(["**Our CPU per order, in process without sockets** (best of 7 runs; one order out, two reports in)",
                        "", "| piece | µs |", "|---|---:|"] + [f"| {name} | {us:.2f} |" for name, us in components])
    path = write_json("fix", document)
    print(table)
    print()
    print(parts)
    print()
    print(latency)
    for engine, results in runs.items():
        for result in results:
            if "profile" in result:
                print(f"\nprofile of {engine} (throughput phase):\n{result.pop('profile')}")
                break
    print(f"\nmachine: {document['machine']}, load average at start {load}, at end {document['load_average_at_end']}"
          f"\nwritten {path}")


if __name__ == "__main__":
    main()
