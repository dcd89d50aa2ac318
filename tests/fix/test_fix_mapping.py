"""Execution reports and rejects into our ExecutionReport; the adapter's refusals, config, schedule and backoff."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import simplefix
from fix_helpers import INSTRUMENTS, RecordingListener, free_port, make_order

from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter
from adapters.fix.codec import InvalidMessage, decode_fields
from adapters.fix.mapping import FixOrderMapper
from adapters.fix.schedule import SessionSchedule
from adapters.fix.session import FixSession, SessionSettings
from adapters.fix.store import SessionStore
from adapters.fix.transport import FixInitiator, ReconnectPolicy
from gateway.clock import SimClock, TimerQueue
from gateway.model import ExecType, OrderStatus

NS = 1_000_000_000


def build(msg_type: str, *pairs: tuple[int, object]) -> dict[str, str]:
    message = simplefix.FixMessage()
    message.append_pair(8, "FIX.4.4", header=True)
    message.append_pair(35, msg_type, header=True)
    message.append_pair(52, "20261122-10:00:00.000", header=True)
    for tag, value in pairs:
        message.append_pair(tag, value)
    return decode_fields(message.encode())


def report(exec_type: str, status: str, **extra: object) -> dict[str, str]:
    pairs: list[tuple[int, object]] = [(37, "B1"), (11, "C2"), (41, "C1"), (17, "E1"), (150, exec_type), (39, status),
                                       (55, "ACME"), (54, "1"), (151, 60), (14, 40), (6, "1700.10"),
                                       (60, "20261122-10:00:01.250")]
    pairs += [(int(tag[1:]), value) for tag, value in extra.items()]
    return build("8", *pairs)


mapper = FixOrderMapper("BROKER", INSTRUMENTS)


@pytest.mark.parametrize(("code", "status", "exec_type", "order_status"), [
    ("A", "A", ExecType.PENDING_NEW, OrderStatus.PENDING_NEW),
    ("0", "0", ExecType.NEW, OrderStatus.NEW),
    ("F", "1", ExecType.TRADE, OrderStatus.PARTIALLY_FILLED),
    ("F", "2", ExecType.TRADE, OrderStatus.FILLED),
    ("1", "1", ExecType.TRADE, OrderStatus.PARTIALLY_FILLED),
    ("6", "6", ExecType.PENDING_CANCEL, OrderStatus.PENDING_CANCEL),
    ("4", "4", ExecType.CANCELED, OrderStatus.CANCELED),
    ("E", "E", ExecType.PENDING_REPLACE, OrderStatus.PENDING_REPLACE),
    ("5", "0", ExecType.REPLACED, OrderStatus.NEW),
    ("8", "8", ExecType.REJECTED, OrderStatus.REJECTED),
    ("C", "C", ExecType.EXPIRED, OrderStatus.EXPIRED),
    ("G", "1", ExecType.TRADE_CORRECT, OrderStatus.PARTIALLY_FILLED),
    ("H", "0", ExecType.TRADE_CANCEL, OrderStatus.NEW),
    ("I", "1", ExecType.ORDER_STATUS, OrderStatus.PARTIALLY_FILLED),
    ("D", "0", ExecType.RESTATED, OrderStatus.NEW),
    ("L", "0", ExecType.TRIGGERED, OrderStatus.NEW),
])
def test_every_exec_type_maps(code: str, status: str, exec_type: ExecType, order_status: OrderStatus) -> None:
    mapped = mapper.execution_report(report(code, status, t32=40, t31="1700.1", t19="E0", t58="why", t103=2),
                                     possible_duplicate=False)
    assert mapped is not None
    assert (mapped.exec_type, mapped.order_status, mapped.client_order_id, mapped.orig_client_order_id,
            mapped.venue_order_id, mapped.exec_id, mapped.cumulative_quantity, mapped.leaves_quantity,
            mapped.ref_exec_id, mapped.ts_event) == (exec_type, order_status, "C2", "C1", "B1", "E1", 40, 60, "E0",
                                                     1_795_341_601_250_000_000)
    if exec_type in (ExecType.TRADE, ExecType.TRADE_CORRECT):
        assert (mapped.last_quantity, mapped.last_price) == (40, 170010)
    else:
        assert (mapped.last_quantity, mapped.last_price) == (0, 0)
    assert mapped.reject_reason == ("why (OrdRejReason=2)" if exec_type is ExecType.REJECTED else None)


def test_report_errors_name_the_tag() -> None:
    with pytest.raises(InvalidMessage) as unknown_symbol:
        mapper.execution_report(build("8", (37, "B"), (11, "C"), (17, "E"), (150, "0"), (39, "0"), (55, "ZZZ"),
                                      (54, "1"), (151, 1), (14, 0), (6, 0)), False)
    assert (unknown_symbol.value.ref_tag, unknown_symbol.value.reason) == (55, 5)
    with pytest.raises(InvalidMessage) as finer:
        mapper.execution_report(report("F", "1", t32=1, t31="1700.105"), False)
    assert (finer.value.ref_tag, finer.value.reason) == (31, 6)
    with pytest.raises(InvalidMessage) as missing_qty:
        mapper.execution_report(report("F", "1", t31="1700.10"), False)
    assert (missing_qty.value.ref_tag, missing_qty.value.reason) == (32, 1)
    with pytest.raises(InvalidMessage) as exec_type:
        mapper.execution_report(report("Z", "0"), False)
    assert exec_type.value.ref_tag == 150


def test_report_without_our_client_order_id_is_dropped() -> None:
    fields = report("I", "0")
    del fields["11"]
    assert mapper.execution_report(fields, False) is None


def test_cancel_reject_maps_to_cancel_rejected() -> None:
    mapped = mapper.cancel_reject(build("9", (37, "B1"), (11, "X1"), (41, "C1"), (39, "2"), (434, "1"), (102, "0"),
                                        (58, "too late")), possible_duplicate=True)
    assert (mapped.exec_type, mapped.client_order_id, mapped.orig_client_order_id, mapped.reject_reason,
            mapped.order_status, mapped.possible_duplicate) == (
        ExecType.CANCEL_REJECTED, "X1", "C1", "too late (CxlRejReason=0)", OrderStatus.FILLED, True)


def test_session_and_business_rejects_of_our_requests_become_rejection_reports() -> None:
    new = b"8=FIX.4.4\x019=20\x0135=D\x0111=C1\x0155=ACME\x0110=000\x01"
    cancel = b"8=FIX.4.4\x019=20\x0135=F\x0111=X1\x0141=C1\x0110=000\x01"
    status = b"8=FIX.4.4\x019=20\x0135=H\x0111=C1\x0110=000\x01"
    session_reject = {"35": "3", "45": "2", "373": "5", "58": "bad value"}
    business_reject = {"35": "j", "45": "3", "380": "4", "58": "not authorised"}
    rejected = mapper.refused_request(new, session_reject, 7)
    assert rejected is not None and (rejected.exec_type, rejected.client_order_id) == (ExecType.REJECTED, "C1")
    assert rejected.reject_reason == "refused by the venue's FIX engine: bad value (SessionRejectReason=5)"
    cancel_rejected = mapper.refused_request(cancel, business_reject, 7)
    assert cancel_rejected is not None
    assert (cancel_rejected.exec_type, cancel_rejected.client_order_id, cancel_rejected.orig_client_order_id) == (
        ExecType.CANCEL_REJECTED, "X1", "C1")
    assert "BusinessRejectReason=4" in (cancel_rejected.reject_reason or "")
    assert mapper.refused_request(status, session_reject, 7) is None


def test_cancel_replace_and_status_bodies() -> None:
    order = make_order(account="ACC", quantity=100, limit_price=170010)
    order.venue_order_id = "B9"
    cancel = decode_fields(b"8=X\x01" + mapper.cancel_request(order, "X1", "T").encode())
    assert (cancel["41"], cancel["11"], cancel["37"], cancel["38"], cancel["54"], cancel["60"]) == (
        order.venue_client_order_id, "X1", "B9", "100", "1", "T")
    replace = decode_fields(b"8=X\x01" + mapper.replace_request(order, "R1", 150, None, "T").encode())
    assert (replace["41"], replace["11"], replace["38"], replace["44"], replace["40"]) == (
        order.venue_client_order_id, "R1", "150", "1700.10", "2")
    status = decode_fields(b"8=X\x01" + mapper.status_request(order).encode())
    assert (status["11"], status["37"], status["55"]) == (order.venue_client_order_id, "B9", "ACME") and status["790"]
    mass = decode_fields(b"8=X\x01" + mapper.mass_status_request().encode())
    assert mass["585"] == "7" and mass["584"]


def test_accounts_are_translated_for_the_broker() -> None:
    translating = FixOrderMapper("BROKER", INSTRUMENTS, {"ACC": "BRK-7"})
    body = decode_fields(b"8=X\x01" + translating.new_order_single(make_order(account="ACC"), "T").encode())
    assert body["1"] == "BRK-7"


async def test_sends_while_not_logged_on_are_refused_on_a_later_turn(tmp_path: Path) -> None:
    clock = SimClock(1_795_000_000 * NS)
    timers = TimerQueue(clock)
    config = FixAdapterConfig("BROKER", "127.0.0.1", 1, "UNWIND", "BROKER", INSTRUMENTS, str(tmp_path))
    adapter = FixVenueAdapter(config, timers=timers)
    listener = RecordingListener()
    adapter.bind(listener)
    order = make_order()
    adapter.send_new(order)
    adapter.send_cancel(order, "X1")
    assert listener.reports == [], "never inside the engine's own call"
    timers.advance_by(0)
    rejected, cancel_rejected = listener.reports
    assert rejected.exec_type is ExecType.REJECTED and rejected.client_order_id == order.venue_client_order_id
    assert rejected.reject_reason is not None and rejected.reject_reason.startswith("VENUE_UNAVAILABLE: ")
    assert (cancel_rejected.exec_type, cancel_rejected.client_order_id) == (ExecType.CANCEL_REJECTED, "X1")
    assert not adapter.connected


def test_config_from_options_names_the_bad_key(tmp_path: Path) -> None:
    options = {"host": "127.0.0.1", "port": 9878, "sender_comp_id": "UNWIND", "target_comp_id": "BROKER",
               "store_dir": str(tmp_path), "heartbeat_interval_s": 10, "password": "pw",
               "schedule_start": "08:00", "schedule_end": "17:30", "schedule_days": ["mon", "fri"],
               "schedule_timezone": "Europe/London"}
    config = FixAdapterConfig.from_options("BROKER", options, INSTRUMENTS, "venues[1].")
    assert config.heartbeat_interval_s == 10 and config.schedule is not None
    assert config.schedule.days == frozenset({0, 4}) and "pw" not in repr(config)
    for change, key in (({"port": "x"}, "port"), ({"colour": 1}, "colour"), ({"host": None}, "host"),
                        ({"heartbeat_interval_s": 0}, "heartbeat_interval_s"), ({"schedule_days": ["funday"]},
                                                                                "schedule")):
        with pytest.raises(ValueError, match=rf"venues\[1\]\.{key}"):
            FixAdapterConfig.from_options("BROKER", {**options, **change}, INSTRUMENTS, "venues[1].")
    missing = dict(options)
    del missing["sender_comp_id"]
    with pytest.raises(ValueError, match="sender_comp_id"):
        FixAdapterConfig.from_options("BROKER", missing, INSTRUMENTS)


def _ns(text: str, zone: str = "UTC") -> int:
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC if zone == "UTC" else None)
    if zone != "UTC":
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return int(moment.timestamp()) * NS


def test_schedule_windows_days_overnight_and_time_zones() -> None:
    weekdays = SessionSchedule.parse("08:00", "17:00", ["mon", "tue", "wed", "thu", "fri"], "Europe/London")
    assert weekdays.is_open(_ns("2026-11-23T08:00:00", "Europe/London"))  # a Monday
    assert not weekdays.is_open(_ns("2026-11-23T17:00:00", "Europe/London"))
    assert not weekdays.is_open(_ns("2026-11-22T12:00:00", "Europe/London"))  # Sunday
    assert weekdays.next_open_ns(_ns("2026-11-21T12:00:00", "Europe/London")) == _ns("2026-11-23T08:00:00",
                                                                                     "Europe/London")
    overnight = SessionSchedule.parse("22:00", "06:00", ["sun"])
    assert overnight.window_at(_ns("2026-11-23T05:59:59")) == (_ns("2026-11-22T22:00:00"), _ns("2026-11-23T06:00:00"))
    assert not overnight.is_open(_ns("2026-11-23T22:30:00"))  # Monday night: no window starts on Mondays
    always = SessionSchedule.parse("00:00", "00:00")
    assert always.window_at(_ns("2026-11-23T13:00:00")) == (_ns("2026-11-23T00:00:00"), _ns("2026-11-24T00:00:00"))


def test_reconnect_backoff_doubles_up_to_the_cap() -> None:
    policy = ReconnectPolicy(initial_delay_s=0.5, max_delay_s=4.0)
    assert [policy.delay_s(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_initiator_waits_for_the_schedule_and_starts_a_new_session_at_sequence_one(tmp_path: Path) -> None:
    clock = SimClock(_ns("2026-11-22T12:00:00"))  # Sunday: closed
    timers = TimerQueue(clock)
    store = SessionStore(tmp_path, "UNWIND-BROKER", clock.now_ns() - 86_400 * NS)
    store.record_sent(1, None)
    store.set_next_target(9)
    session = FixSession(SessionSettings("UNWIND", "BROKER"), store, clock, timers, _NoApp())
    schedule = SessionSchedule.parse("08:00", "17:00", ["mon"])
    initiator = FixInitiator(session, "127.0.0.1", free_port(), ReconnectPolicy(0.5, 1.0), schedule)
    initiator.start()
    assert initiator.connect_attempts == 0 and store.next_sender_seq == 2
    timers.advance_to(_ns("2026-11-23T07:59:59"))
    assert initiator.connect_attempts == 0
    timers.advance_to(_ns("2026-11-23T08:00:00"))
    assert initiator.connect_attempts == 1
    assert (store.next_sender_seq, store.next_target_seq) == (1, 1), "a new window is a new session"
    await asyncio.wait_for(initiator._connecting, 5)  # type: ignore[arg-type]  # refused: nothing listens there
    timers.advance_by(NS // 2)
    assert initiator.connect_attempts == 2
    await initiator.stop()


class _NoApp:
    def on_logon(self) -> None: ...

    def on_logout(self, reason: str) -> None: ...

    def on_message(self, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None: ...

    def on_reject(self, fields: dict[str, str], referenced: bytes | None) -> None: ...

    def authorize_logon(self, fields: dict[str, str]) -> str | None:
        return None


def test_store_cuts_a_torn_tail_and_keeps_what_was_whole(tmp_path: Path) -> None:
    store = SessionStore(tmp_path, "S", 1)
    store.record_sent(1, None)
    store.record_sent(2, b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01")
    store.set_next_target(4)
    store.flush()
    store.close()
    log = tmp_path / "S.log"
    used = len(log.read_bytes().rstrip(b"\x00"))
    with open(log, "r+b") as handle:
        handle.seek(used)
        handle.write(b"S3 500\n8=FIX.4.4")  # the process died in the middle of this record
    reopened = SessionStore(tmp_path, "S", 2)
    assert (reopened.next_sender_seq, reopened.next_target_seq) == (3, 4)
    assert reopened.sent_message(2) == b"8=FIX.4.4\x019=5\x0135=D\x0110=000\x01"
    assert log.read_bytes().rstrip(b"\x00").endswith(b"10=000\x01T4\n"), "the torn record is gone"
    reopened.record_sent(3, b"X")
    reopened.close()
    again = SessionStore(tmp_path, "S", 3)
    assert again.sent_message(3) == b"X" and again.next_sender_seq == 4


def test_store_grows_past_its_first_chunk_and_resets(tmp_path: Path) -> None:
    store = SessionStore(tmp_path, "G", 1)
    message = b"8=FIX.4.4\x01" + b"x" * 5000 + b"\x01"
    for seq in range(1, 1201):  # about 6 MB: more than one chunk of the mapped file
        store.record_sent(seq, message)
        store.flush()
    store.close()
    reopened = SessionStore(tmp_path, "G", 2)
    assert reopened.next_sender_seq == 1201 and reopened.sent_message(1200) == message
    reopened.reset(3)
    assert (reopened.next_sender_seq, reopened.next_target_seq, reopened.sent_message(5)) == (1, 1, None)
    reopened.close()
    assert SessionStore(tmp_path, "G", 4).next_sender_seq == 1
