"""A real ``kill -9``: a gateway process journaling with the batch fsync thread is killed at a random moment, three times.

Whatever the process had reported as journaled before the kill is in the file afterwards (a process crash loses
nothing that reached the OS), and the next process, built by ``build_gateway`` from ``journal_dir``, replays it,
continues the id sequence and reconciles with its (new, empty) simulated venue.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from gateway.journal import FsyncPolicy, Journal, JournalConfig

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, sys
    from gateway.app import build_gateway
    from gateway.clock import SimClock, TimerQueue
    from gateway.config import parse_config
    from gateway.demo_config import DEMO_KEYS, demo_config_data
    from gateway.logging import configure_logging
    from gateway.model import OrderType, RefusalError, Side, SubmitOrder, TimeInForce

    directory, start_ns, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    configure_logging("error", stream=sys.stderr)
    data = demo_config_data()
    data["gateway"]["journal_dir"] = directory
    data["journal"] = {"fsync": "batch", "batch_interval_ms": 2, "snapshot_interval_s": 1}
    data["risk"]["max_open_orders"] = 100_000
    config = parse_config(data)
    clock = SimClock(start_ns)
    timers = TimerQueue(clock)
    gateway = build_gateway(config, clock, timers)
    engine, venue, recovery = gateway.engine, gateway.adapters["SIM"], gateway.extras["recovery"]
    journal = gateway.extras["journal"]
    venue.connect()
    venue.open_market()
    recovery.start_reconciliation()
    while not recovery.reconciled:
        timers.advance_by(1_000_000)
    summary = recovery.summary
    print("RECOVERED " + json.dumps({"orders": summary.orders_rebuilt, "resolved": summary.orders_resolved,
                                     "open": summary.open_orders, "order_sequence": engine.order_sequence,
                                     "mismatches": summary.mismatches}), flush=True)
    principals = [(config.principals[DEMO_KEYS["alice"]], "ALICE-1"), (config.principals[DEMO_KEYS["bob"]], "BOB-1")]
    number = 0
    while True:
        for principal, account in principals:
            number += 1
            quote = venue.quote("ACME")
            price = (quote.bid_price or 10_000) + (number % 5) - 2
            command = SubmitOrder(account, "ACME", Side.BUY if number % 2 else Side.SELL, OrderType.LIMIT, 10,
                                  f"{seed}-{number}", TimeInForce.DAY, price)
            try:
                engine.submit_order(principal, command)
            except RefusalError:
                pass
        timers.advance_by(10_000_000)
        print(f"SEQ {journal.sequence} {engine.order_sequence} {len(engine.orders.by_id)}", flush=True)
""")


def test_kill_9_at_random_moments_loses_nothing_that_was_journaled(tmp_path: Path) -> None:
    rng = random.Random(99)
    directory = tmp_path / "journal"
    start_ns = 1_795_000_000_000_000_000
    last: tuple[int, int, int] | None = None
    for round_number in range(3):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(directory), str(start_ns), str(round_number)],
                                 cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
        try:
            assert child.stdout is not None
            recovered = json.loads(child.stdout.readline().removeprefix("RECOVERED "))
            # the child's venue dies with it: the next one cannot know orders that already traded; they are closed
            assert all("does not know order" in mismatch for mismatch in recovered["mismatches"])
            if last is not None:
                _, order_sequence, orders = last
                assert recovered["order_sequence"] >= order_sequence  # no id is handed out twice
                assert recovered["orders"] >= orders
                assert recovered["open"] == 0  # the new venue knew none of them: all resolved, none resent
                assert recovered["resolved"] > 0
            for _ in range(rng.randint(120, 300)):  # 1.2 to 3 simulated seconds: snapshots are taken
                line = child.stdout.readline()
                assert line.startswith("SEQ "), line
                sequence, order_sequence, orders = (int(part) for part in line.split()[1:])
                last = (sequence, order_sequence, orders)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL
        assert last is not None
        journal = Journal(directory, JournalConfig(fsync=FsyncPolicy.NEVER))
        assert journal.sequence >= last[0]  # everything it said was journaled is there
        for cut in journal.cut_tails:  # a cut, if any, only ever takes what came after
            assert cut["last_good_sequence"] >= last[0]
        records = list(journal.records())
        snapshot = journal.latest_snapshot()
        assert snapshot is not None  # the child took snapshots (every simulated second)
        assert [r.sequence for r in records] == list(range(1, journal.sequence + 1))
        journal.close()
        start_ns += 3_600_000_000_000  # the next process starts an hour later on its simulated clock
