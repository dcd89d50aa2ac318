"""What the journal costs: submit-to-venue latency with and without it, records per second, replay speed.

    python benchmarks/journal.py                 # about a minute
    python benchmarks/journal.py --orders 4000   # a quick look

1. **Submit-to-venue latency.** ``Engine.submit_order`` on the simulated venue (SimClock, 200 µs venue latency, so the
   send is a timer entry and the venue's work happens later, off the measured span), timed by the engine's own
   recorder from the call to the adapter's send: validation, risk, the journal append (serialize, checksum, one
   ``os.write``; ``always`` adds an ``fdatasync``) and the send. Configurations are interleaved in rounds so drift on
   a shared machine hits them alike: NullJournal (the baseline), and the journal with fsync ``never``, ``batch``
   (background thread) and ``always`` (fewer orders: every record waits for the disk).
2. **Records per second.** ``Journal.append`` of an ``Order`` alone, per policy, and the bytes per record.
3. **Recovery.** Opening a journal and replaying it into a fresh engine, from the first record and from a snapshot.

Prints Markdown tables and writes benchmarks/out/journal.json.
"""

from __future__ import annotations

import argparse
import gc
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import structlog

from benchmarks.common import LatencyHistogram, command_line, latency_table, machine, write_json
from gateway.app import build_gateway
from gateway.clock import SimClock, TimerQueue
from gateway.config import parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.journal import FsyncPolicy, Journal, JournalConfig
from gateway.journal_protocol import JournalWriter
from gateway.model import Order, OrderType, Side, SubmitOrder, TimeInForce
from gateway.recovery import Recovery

START_NS = 1_795_000_000_000_000_000
POLICIES = [FsyncPolicy.NEVER, FsyncPolicy.BATCH, FsyncPolicy.ALWAYS]


def quiet_logs() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))


def config() -> Any:
    data = demo_config_data()
    data["venues"][0].update({"open_market": False, "latency_ns": 200_000})
    data["risk"]["max_open_orders"] = 1_000_000
    return parse_config(data)


class Bench:
    """One gateway on its own SimClock with the given journal; submits resting orders and clears them off-span."""

    def __init__(self, name: str, journal: JournalWriter | None) -> None:
        self.name = name
        self.journal = journal
        self.clock = SimClock(START_NS)
        self.timers = TimerQueue(self.clock)
        self.gateway = build_gateway(config(), self.clock, self.timers, journal=journal)
        self.engine = self.gateway.engine
        self.gateway.adapters["SIM"].connect()  # type: ignore[attr-defined]
        self.alice = self.engine.config.principals[DEMO_KEYS["alice"]]
        self.count = 0
        self.histogram = LatencyHistogram(name)

    def run(self, orders: int, record: bool = True) -> None:
        engine, alice = self.engine, self.alice
        perf = time.perf_counter_ns
        engine.latency.clear()
        for _ in range(orders):
            self.count += 1
            command = SubmitOrder("ALICE-1", "ACME", Side.BUY, OrderType.LIMIT, 10, f"b{self.count}",
                                  TimeInForce.DAY, 9_900 - (self.count % 50))
            engine.submit_order(alice, command, perf())
            self.timers.advance_by(50_000)  # off the measured span: the venue acks, the engine journals the ack
            if self.count % 200 == 0:
                for order in engine.orders.open_orders():
                    engine.request_cancel(order)
                self.timers.advance_by(1_000_000)
        if record:
            self.histogram.record_all(engine.latency.samples)
        engine.latency.clear()


def latency_phase(orders: int, rounds: int, directory: Path) -> list[dict[str, Any]]:
    benches = [Bench("no journal (NullJournal)", None)]
    for policy in POLICIES:
        journal = Journal(directory / f"latency-{policy.value}", JournalConfig(fsync=policy, snapshot_interval_s=0))
        benches.append(Bench(f"journal, fsync {policy.value}", journal))
    for bench in benches:  # warm up: first calls, caches, the file's first pages
        bench.run(300, record=False)
    per_round = max(1, orders // rounds)
    for _ in range(rounds):
        for bench in benches:
            gc.collect()
            count = per_round // 10 if bench.name.endswith("always") else per_round
            bench.run(count)
    summaries = [bench.histogram.summary() for bench in benches]
    for bench in benches:
        if isinstance(bench.journal, Journal):
            bench.journal.close()
    return summaries


def an_order(number: int) -> Order:
    return Order(f"U{number}", f"c{number}", "ALICE-1", "alice", "ACME", Side.BUY, OrderType.LIMIT, TimeInForce.DAY,
                 100, 10_000, None, None, "SIM", START_NS, venue_client_order_id=f"U{number}")


def throughput_phase(records: int, directory: Path) -> list[dict[str, Any]]:
    """Append an Order over and over: each append timed (HDR), and the records per second of the whole run."""
    rows = []
    payload = an_order(1)
    perf = time.perf_counter_ns
    for policy in POLICIES:
        count = records // 50 if policy is FsyncPolicy.ALWAYS else records
        path = directory / f"throughput-{policy.value}"
        journal = Journal(path, JournalConfig(fsync=policy, snapshot_interval_s=0), SimClock(START_NS))
        append = journal.append
        histogram = LatencyHistogram(f"append, fsync {policy.value}")
        record = histogram.record
        gc.collect()
        started = perf()
        for _ in range(count):
            before = perf()
            append("order", payload)
            record(perf() - before)
        elapsed = perf() - started
        synced_at = perf()
        journal.sync()
        final_sync = perf() - synced_at
        size = sum(p.stat().st_size for p in path.glob("journal-*.wal"))
        journal.close()
        rows.append({**histogram.summary(), "policy": policy.value, "records": count,
                     "records_per_s": round(count / (elapsed / 1e9)), "bytes_per_record": round(size / count),
                     "final_sync_ms": round(final_sync / 1e6, 2)})
    return rows


def recovery_phase(records: int, directory: Path) -> list[dict[str, Any]]:
    """Fill a journal through a real session (orders, acks, cancels), then time opening and replaying it."""
    path = directory / "recovery"
    journal = Journal(path, JournalConfig(fsync=FsyncPolicy.NEVER, snapshot_interval_s=0))
    bench = Bench("filler", journal)
    while journal.sequence < records:
        bench.run(1_000, record=False)
    orders = len(bench.engine.orders.by_id)
    journal.close()
    rows = []
    for label, take_snapshot in (("from the first record", False), ("from a snapshot", True)):
        if take_snapshot:
            journal = Journal(path, JournalConfig(fsync=FsyncPolicy.NEVER, snapshot_interval_s=0))
            gateway = build_gateway(config(), SimClock(START_NS), None, journal=journal)
            recovery = Recovery(gateway.engine, journal)
            recovery.replay()
            started = time.perf_counter_ns()
            snapshot_path = recovery.snapshot()
            snapshot_ms = (time.perf_counter_ns() - started) / 1e6
            journal.close()
        gc.collect()
        started = time.perf_counter_ns()
        journal = Journal(path, JournalConfig(fsync=FsyncPolicy.NEVER, snapshot_interval_s=0))
        gateway = build_gateway(config(), SimClock(START_NS), None, journal=journal)
        summary = Recovery(gateway.engine, journal).replay()
        elapsed = time.perf_counter_ns() - started
        assert len(gateway.engine.orders.by_id) == orders
        row = {"replay": label, "records_replayed": summary.records_replayed, "orders": orders,
               "open_and_replay_ms": round(elapsed / 1e6, 1),
               "records_per_s": round(summary.records_replayed / (elapsed / 1e9)) if summary.records_replayed else None}
        if take_snapshot:
            row["snapshot_write_ms"] = round(snapshot_ms, 1)
            row["snapshot_bytes"] = snapshot_path.stat().st_size
        rows.append(row)
        journal.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders per configuration (always: a tenth)")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds")
    parser.add_argument("--records", type=int, default=200_000, help="records for the throughput phase")
    parser.add_argument("--replay-records", type=int, default=100_000, help="records for the recovery phase")
    parser.add_argument("--dir", default=None, help="where the journals go (default: a temporary directory)")
    args = parser.parse_args()
    quiet_logs()
    directory = Path(args.dir or tempfile.mkdtemp(prefix="unwind-journal-bench-"))
    try:
        latency = latency_phase(args.orders, args.rounds, directory)
        throughput = throughput_phase(args.records, directory)
        recovery = recovery_phase(args.replay_records, directory)
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    print(latency_table(latency, "Submit-to-venue latency (Engine.submit_order to the adapter's send)"))
    base = latency[0]
    print()
    for row in latency[1:]:
        print(f"- {row['name']}: p50 +{row['p50_us'] - base['p50_us']:.1f} µs, p99 +{row['p99_us'] - base['p99_us']:.1f}"
              f" µs over the baseline")
    print()
    print(latency_table(throughput, "Journal.append of an Order, alone"))
    print("\n| fsync | records | records/s (whole run) | bytes/record |\n|---|---:|---:|---:|")
    for row in throughput:
        print(f"| {row['policy']} | {row['records']:,} | {row['records_per_s']:,} | {row['bytes_per_record']} |")
    print("\n**Recovery: open the journal and replay it into a fresh engine**\n\n| replay | records | orders | ms | "
          "records/s | snapshot write ms | snapshot bytes |\n|---|---:|---:|---:|---:|---:|---:|")
    for row in recovery:
        print(f"| {row['replay']} | {row['records_replayed']:,} | {row['orders']:,} | {row['open_and_replay_ms']} | "
              f"{row['records_per_s'] or '-'} | {row.get('snapshot_write_ms', '-')} | {row.get('snapshot_bytes', '-')} |")
    path = write_json("journal", {"command": command_line(), "machine": machine(), "latency": latency,
                                  "throughput": throughput, "recovery": recovery})
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
