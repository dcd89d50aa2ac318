"""The record format: round trip, a torn or corrupt tail cut with a log line, damage elsewhere refused, snapshots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import structlog

from gateway.clock import SimClock
from gateway.journal import (
    FRAME_HEADER_BYTES,
    FsyncPolicy,
    Journal,
    JournalConfig,
    JournalCorrupt,
    encode_frame,
    segment_header,
)
from gateway.model import (
    ExecType,
    ExecutionReport,
    KillScope,
    Order,
    OrderStatus,
    OrderType,
    SetKillSwitch,
    Side,
    TimeInForce,
)
from gateway.recovery import order_from_payload, report_from_payload

NEVER = JournalConfig(fsync=FsyncPolicy.NEVER)
SEGMENT_HEADER_BYTES = len(segment_header(1))  # magic, first sequence, the schema of compact payloads


def an_order(number: int = 1) -> Order:
    return Order(f"U{number}", f"c{number}", "ALICE-1", "alice", "ACME", Side.BUY, OrderType.LIMIT, TimeInForce.DAY,
                 100 * number, 10_000 + number, None, None, "SIM", 5, venue_client_order_id=f"U{number}")


def segment_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("journal-*.wal"))


def write_records(directory: Path, count: int) -> list[bytes]:
    """Append ``count`` order records; return each record's frame as it is on disk."""
    clock = SimClock(1_000)
    journal = Journal(directory, NEVER, clock)
    frames = []
    for number in range(1, count + 1):
        journal.append("order", an_order(number))
        frames.append(encode_frame(number, 1_000, "order", an_order(number)))
    journal.close()
    return frames


def test_records_round_trip_with_their_types(tmp_path: Path) -> None:
    clock = SimClock(7_000)
    journal = Journal(tmp_path, NEVER, clock)
    order = an_order()
    order.status = OrderStatus.PENDING_CANCEL
    order.status_before_pending = OrderStatus.PARTIALLY_FILLED
    report = ExecutionReport("SIM", ExecType.TRADE, "U1", exec_id="SIM-E9", last_quantity=40, last_price=10_001,
                             cumulative_quantity=40, leaves_quantity=60, ts_event=123, possible_duplicate=True,
                             order_status=OrderStatus.PARTIALLY_FILLED)
    journal.append("order", order)
    clock.set_ns(8_000)
    journal.append("report", report)
    journal.append("kill_switch", SetKillSwitch(KillScope.ACCOUNT, "ALICE-1", True, "test"))
    journal.append("parent.submitted", {"tags": frozenset({"b", "a"}), "nested": [1, {"x": None}]})
    order.filled_quantity = 99  # serialized at append time: a later change does not reach the journal
    journal.close()

    reopened = Journal(tmp_path, NEVER, clock)
    records = list(reopened.records())
    assert [(r.sequence, r.kind, r.ts_ns) for r in records] == [
        (1, "order", 7_000), (2, "report", 8_000), (3, "kill_switch", 8_000), (4, "parent.submitted", 8_000)]
    rebuilt = order_from_payload(records[0].payload)
    order.filled_quantity = 0
    assert rebuilt == order
    assert report_from_payload(records[1].payload) == report
    assert records[2].payload == {"scope": "account", "target": "ALICE-1", "engaged": True, "reason": "test"}
    assert records[3].payload == {"tags": ["a", "b"], "nested": [1, {"x": None}]}
    assert reopened.sequence == 4 and reopened.cut_tails == []
    reopened.append("order", an_order(5))  # numbering continues
    reopened.close()
    assert [r.sequence for r in Journal(tmp_path, NEVER, clock).records()] == [1, 2, 3, 4, 5]


def _tear(path: Path, size: int, data: bytes, at: int) -> None:
    del size
    with open(path, "r+b") as handle:
        handle.seek(at)
        handle.write(data)


@pytest.mark.parametrize(
    ("damage", "expected_reason"),
    [
        ("cut_in_header", "torn record header"),
        ("cut_in_body", "torn record body"),
        ("flip_body_byte", "checksum mismatch"),
        ("flip_sequence_byte", "checksum mismatch"),
        ("zeroed_tail", "record length 0 out of range"),
        ("garbage_appended", "out of range"),
    ],
)
def test_a_torn_or_corrupt_tail_is_cut_with_an_error_line(tmp_path: Path, damage: str, expected_reason: str) -> None:
    frames = write_records(tmp_path, 5)
    segment = segment_files(tmp_path)[0]
    good_end = SEGMENT_HEADER_BYTES + sum(len(f) for f in frames[:4])  # the fifth record is the one damaged
    size = segment.stat().st_size
    if damage == "cut_in_header":
        os.truncate(segment, good_end + 7)
    elif damage == "cut_in_body":
        os.truncate(segment, size - 3)
    elif damage == "flip_body_byte":
        original = segment.read_bytes()[size - 10]
        _tear(segment, size, bytes([original ^ 0x01]), size - 10)
    elif damage == "flip_sequence_byte":
        _tear(segment, size, b"\x09", good_end + 8)
    elif damage == "zeroed_tail":  # a file system that extended the file but never wrote the data
        os.truncate(segment, good_end)
        with open(segment, "ab") as handle:
            handle.write(b"\x00" * 64)
    else:  # a good fifth record, then junk
        with open(segment, "ab") as handle:
            handle.write(b"\xff\xff\xff\x7f junk that is no record")
    with structlog.testing.capture_logs() as logs:
        journal = Journal(tmp_path, NEVER, SimClock(2_000))
    cut_lines = [line for line in logs if line["event"] == "journal_tail_cut"]
    assert len(cut_lines) == 1
    line = cut_lines[0]
    assert line["log_level"] == "error" and expected_reason in line["reason"] and line["segment"] == segment.name
    kept = 5 if damage == "garbage_appended" else 4
    expected_offset = SEGMENT_HEADER_BYTES + sum(len(f) for f in frames[:kept])
    assert line["offset"] == expected_offset and line["last_good_sequence"] == kept
    assert segment.stat().st_size == expected_offset  # cut, not skipped
    cut_copy = tmp_path / line["kept_as"]
    assert cut_copy.stat().st_size == line["bytes_cut"] > 0  # the cut bytes are kept for inspection
    assert journal.sequence == kept
    journal.append("order", an_order(9))
    journal.close()
    records = list(Journal(tmp_path, NEVER, SimClock(3_000)).records())
    assert [r.sequence for r in records] == list(range(1, kept + 2))
    assert records[-1].payload["order_id"] == "U9"


def test_a_torn_segment_header_is_rewritten(tmp_path: Path) -> None:
    write_records(tmp_path, 0)
    segment = segment_files(tmp_path)[0]
    os.truncate(segment, 5)
    with structlog.testing.capture_logs() as logs:
        journal = Journal(tmp_path, NEVER, SimClock(1))
    assert any(line["event"] == "journal_tail_cut" and "torn segment header" in line["reason"] for line in logs)
    journal.append("order", an_order())
    journal.close()
    assert [r.sequence for r in Journal(tmp_path, NEVER, SimClock(1)).records()] == [1]


def test_damage_in_an_older_segment_is_refused_not_cut(tmp_path: Path) -> None:
    clock = SimClock(1)
    journal = Journal(tmp_path, NEVER, clock)
    for number in range(1, 4):
        journal.append("order", an_order(number))
    journal.write_snapshot({"version": 1})  # rotates: later records go to a second segment
    journal.append("order", an_order(4))
    journal.close()
    older = segment_files(tmp_path)[0]
    with open(older, "r+b") as handle:
        handle.seek(SEGMENT_HEADER_BYTES + FRAME_HEADER_BYTES + 3)
        handle.write(b"#")
    reopened = Journal(tmp_path, NEVER, clock)  # opening only cuts the last segment's tail: this one is fine
    assert reopened.cut_tails == []
    with pytest.raises(JournalCorrupt, match="checksum mismatch"):
        list(reopened.records())
    assert [r.sequence for r in reopened.records(after_sequence=3)] == [4]  # after the snapshot it reads on
    reopened.close()


def test_snapshot_then_records_after_it_and_a_damaged_snapshot_is_skipped(tmp_path: Path) -> None:
    clock = SimClock(1)
    journal = Journal(tmp_path, NEVER, clock)
    journal.append("order", an_order(1))
    journal.write_snapshot({"version": 1, "marker": "first"})
    journal.append("order", an_order(2))
    journal.append("order", an_order(3))
    second = journal.write_snapshot({"version": 1, "marker": "second"})
    journal.write_snapshot({"version": 1, "marker": "again"})  # nothing new since: no empty segment is made
    journal.append("order", an_order(4))
    journal.close()
    assert [p.name for p in segment_files(tmp_path)] == [
        "journal-00000000000000000001.wal", "journal-00000000000000000002.wal", "journal-00000000000000000004.wal"]
    reopened = Journal(tmp_path, NEVER, clock)
    snapshot = reopened.latest_snapshot()
    assert snapshot is not None and snapshot.sequence == 3 and snapshot.state["marker"] == "again"
    assert [r.sequence for r in reopened.records(snapshot.sequence)] == [4]
    reopened.close()
    os.truncate(second, second.stat().st_size - 2)  # the newest snapshot file (same sequence 3) is torn
    with structlog.testing.capture_logs() as logs:
        snapshot = Journal(tmp_path, NEVER, clock).latest_snapshot()
    assert snapshot is not None and snapshot.sequence == 1 and snapshot.state["marker"] == "first"
    assert any(line["event"] == "journal_snapshot_unreadable" for line in logs)


def test_fsync_always_makes_each_record_durable_and_batch_catches_up(tmp_path: Path) -> None:
    clock = SimClock(1)
    always = Journal(tmp_path / "always", JournalConfig(fsync=FsyncPolicy.ALWAYS), clock)
    always.append("order", an_order())
    assert always.durable_sequence == always.sequence == 1
    always.close()
    batch = Journal(tmp_path / "batch", JournalConfig(fsync=FsyncPolicy.BATCH, batch_interval_ms=2,
                                                      batch_records=4), clock)
    for number in range(1, 11):
        batch.append("order", an_order(number))
    assert batch.wait_durable(10, timeout_s=10.0)  # the background thread fsyncs without being asked
    batch.close()
    never = Journal(tmp_path / "never", JournalConfig(fsync=FsyncPolicy.NEVER), clock)
    never.append("order", an_order())
    assert never.durable_sequence == 0  # nothing forced it: honest about what is not durable yet
    never.close()
    assert Journal(tmp_path / "never", NEVER, clock).sequence == 1


def test_journal_config_errors_name_the_key() -> None:
    from gateway.config import ConfigError

    assert JournalConfig.from_options({"fsync": "always", "batch_records": 8}).fsync is FsyncPolicy.ALWAYS
    with pytest.raises(ConfigError, match="journal.fsync"):
        JournalConfig.from_options({"fsync": "sometimes"})
    with pytest.raises(ConfigError, match="journal.batch_interval_ms"):
        JournalConfig.from_options({"batch_interval_ms": 0})
    with pytest.raises(ConfigError, match="unknown key"):
        JournalConfig.from_options({"fsink": "always"})
