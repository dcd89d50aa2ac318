"""A journal that cannot write: new orders and amends are refused with JOURNAL_UNAVAILABLE, nothing unjournaled is
sent that adds risk; cancels, the kill switch and venue reports still act (and reconciliation heals the journal)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import structlog
from journal_helpers import MS

from gateway.journal import FsyncPolicy, Journal, JournalConfig
from gateway.journal_protocol import JournalUnavailable
from gateway.model import (
    AmendOrder,
    CancelOrder,
    ErrorCode,
    KillScope,
    OrderStatus,
    OrderType,
    RefusalError,
    SetKillSwitch,
    Side,
    SubmitOrder,
    TimeInForce,
)

REPO = Path(__file__).resolve().parents[2]


def order_command(client_order_id: str, price: int = 9_900, account: str = "ALICE-1") -> SubmitOrder:
    return SubmitOrder(account, "ACME", Side.BUY, OrderType.LIMIT, 100, client_order_id, TimeInForce.DAY, price)


def disk_full(fd: int, data: bytes) -> int:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_refuses_new_orders_but_lets_risk_reducing_actions_through(journaled_world) -> None:
    world = journaled_world()
    engine, alice = world.engine, world.principal("alice")
    first = engine.submit_order(alice, order_command("a1"))
    second = engine.submit_order(alice, order_command("a2"))
    world.advance_ns(5 * MS)
    records_before = world.journal.sequence
    world.journal._write = disk_full

    with structlog.testing.capture_logs() as logs, pytest.raises(RefusalError) as refused:
        engine.submit_order(alice, order_command("a3"))
    refusal = refused.value.refusal
    assert refusal.code is ErrorCode.JOURNAL_UNAVAILABLE
    assert "No space left on device" in refusal.message and "refusing to act unjournaled" in refusal.message
    assert any(line["event"] == "journal_unavailable" and line["kind"] == "order" for line in logs)
    assert set(engine.orders.by_id) == {"U1", "U2"} and not engine.orders.has_client_order_id("ALICE-1", "a3")
    with pytest.raises(RefusalError) as amend_refused:  # an amend may add risk: refused the same way
        engine.amend_order(alice, AmendOrder(first.order_id, quantity=500))
    assert amend_refused.value.refusal.code is ErrorCode.JOURNAL_UNAVAILABLE
    assert first.replace_count == 0 and first.status is OrderStatus.NEW and first.quantity == 100

    with structlog.testing.capture_logs() as logs:  # a cancel only reduces risk: it goes, loudly
        engine.cancel_order(alice, CancelOrder(first.order_id))
        engine.set_kill_switch(world.principal("admin"), SetKillSwitch(KillScope.ACCOUNT, "ALICE-2", True, "disk"))
    acting = [line for line in logs if line["event"] == "journal_unavailable_acting_anyway"]
    assert [line["kind"] for line in acting] == ["cancel", "kill_switch"]
    world.advance_ns(5 * MS)
    assert first.status is OrderStatus.CANCELED  # the venue's report was applied although it was not journaled
    assert engine.risk.kill_switch.accounts == {"ALICE-2"}
    assert world.venue.received_requests() == [("new", "U1"), ("new", "U2"), ("cancel", "U1.C1")]
    assert world.journal.sequence == records_before  # nothing was written, nothing half-written

    world.journal._write = os.write  # space again: the journal takes records at once
    third = engine.submit_order(alice, order_command("a4"))
    assert third.order_id == "U3"
    world.advance_ns(5 * MS)

    world.crash()  # the journal never saw the cancel; the venue did; a restart settles it with the venue
    summary = world.restart()
    assert world.journal.cut_tails == [] and summary.mismatches == []
    assert world.engine.orders.by_id["U1"].status is OrderStatus.CANCELED
    assert world.engine.orders.by_id["U2"].status is OrderStatus.NEW
    assert world.engine.orders.by_id["U3"].status is OrderStatus.NEW
    assert second.order_id == "U2"


def test_a_short_write_is_cut_back_so_the_journal_stays_whole(tmp_path: Path) -> None:
    from gateway.clock import SimClock

    journal = Journal(tmp_path, JournalConfig(fsync=FsyncPolicy.NEVER), SimClock(1))
    journal.append("order", {"n": 1})
    size = next(tmp_path.glob("journal-*.wal")).stat().st_size

    def half_then_full(fd: int, data: bytes) -> int:
        return os.write(fd, data[: len(data) // 2])

    journal._write = half_then_full
    with pytest.raises(JournalUnavailable, match="short"):
        journal.append("order", {"n": 2, "padding": "x" * 100})
    assert next(tmp_path.glob("journal-*.wal")).stat().st_size == size  # the half record is gone
    journal._write = os.write
    journal.append("order", {"n": 3})
    journal.close()
    reopened = Journal(tmp_path, JournalConfig(fsync=FsyncPolicy.NEVER), SimClock(1))
    assert reopened.cut_tails == []
    assert [(r.sequence, r.payload["n"]) for r in reopened.records()] == [(1, 1), (2, 3)]
    reopened.close()


CHILD = textwrap.dedent("""
    import json, resource, sys
    from gateway.app import build_gateway
    from gateway.clock import SimClock, TimerQueue
    from gateway.config import parse_config
    from gateway.demo_config import DEMO_KEYS, demo_config_data
    from gateway.journal import FsyncPolicy, Journal, JournalConfig
    from gateway.model import OrderType, RefusalError, Side, SubmitOrder, TimeInForce

    directory, headroom = sys.argv[1], int(sys.argv[2])
    data = demo_config_data()
    data["venues"][0].update({"latency_ns": 0})
    data["risk"]["max_open_orders"] = 100_000
    config = parse_config(data)
    clock = SimClock(1_795_000_000_000_000_000)
    timers = TimerQueue(clock)
    journal = Journal(directory, JournalConfig(fsync=FsyncPolicy.BATCH, batch_interval_ms=1), clock)
    gateway = build_gateway(config, clock, timers, journal=journal)
    venue = gateway.adapters["SIM"]
    venue.connect()
    alice = config.principals[DEMO_KEYS["alice"]]
    size = journal._offset
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + headroom, size + headroom))  # a disk that fills up
    accepted, refusal = [], None
    for number in range(10_000):
        command = SubmitOrder("ALICE-1", "ACME", Side.BUY, OrderType.LIMIT, 10, f"c{number}", TimeInForce.DAY, 9_900)
        try:
            accepted.append(gateway.engine.submit_order(alice, command).order_id)
        except RefusalError as error:
            refusal = error.refusal
            break
    canceled = gateway.engine.request_cancel(gateway.engine.orders.by_id[accepted[0]]) is None
    received = [cid for kind, cid in venue.received_requests() if kind == "new"]
    print("RESULT " + json.dumps({"accepted": accepted, "code": refusal.code.value, "message": refusal.message,
                                  "received": received, "canceled": canceled}))
""")


def test_a_file_size_limit_makes_the_gateway_refuse_with_journal_unavailable(tmp_path: Path) -> None:
    """A real write error from the OS (EFBIG past RLIMIT_FSIZE, as a full disk gives ENOSPC), in a child process."""
    directory = tmp_path / "journal"
    done = subprocess.run([sys.executable, "-c", CHILD, str(directory), "20000"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert result["code"] == ErrorCode.JOURNAL_UNAVAILABLE.value
    assert "File too large" in result["message"] or "short" in result["message"]
    assert 5 < len(result["accepted"]) < 100
    assert result["received"] == result["accepted"]  # the refused order never reached the venue
    assert result["canceled"]  # and a cancel still could
    journal = Journal(directory, JournalConfig(fsync=FsyncPolicy.NEVER))
    assert journal.cut_tails == []  # the failed write left no torn record behind
    journaled = [r.payload["order_id"] for r in journal.records() if r.kind == "order"]
    assert journaled == result["accepted"]  # every order that went out is in the journal, and only those
    journal.close()
