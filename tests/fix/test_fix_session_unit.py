"""The session state machine on simulated time: a peer built with simplefix, a fake transport, SimClock timers."""

from __future__ import annotations

from pathlib import Path

import pytest
import simplefix

from adapters.fix.codec import InvalidMessage, TimestampFormatter
from adapters.fix.session import (
    BusinessReject,
    FixSession,
    SessionRole,
    SessionSettings,
    SessionState,
)
from adapters.fix.store import SessionStore
from gateway.clock import SimClock, TimerQueue

START_NS = 1_795_000_000_000_000_000
SECOND = 1_000_000_000


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.written += data

    def close(self) -> None:
        self.closed = True


class RecordingApp:
    def __init__(self) -> None:
        self.logons = 0
        self.logouts: list[str] = []
        self.messages: list[tuple[str, dict[str, str], bool]] = []
        self.rejects: list[tuple[dict[str, str], bytes | None]] = []
        self.raise_on_message: Exception | None = None
        self.refuse_logon: str | None = None

    def on_logon(self) -> None:
        self.logons += 1

    def on_logout(self, reason: str) -> None:
        self.logouts.append(reason)

    def on_message(self, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        if self.raise_on_message is not None:
            raise self.raise_on_message
        self.messages.append((msg_type, fields, possible_duplicate))

    def on_reject(self, fields: dict[str, str], referenced: bytes | None) -> None:
        self.rejects.append((fields, referenced))

    def authorize_logon(self, fields: dict[str, str]) -> str | None:
        return self.refuse_logon


class Peer:
    """The counterparty: builds its messages with simplefix and reads ours with simplefix's parser."""

    def __init__(self, clock: SimClock, sender: str = "BROKER", target: str = "UNWIND") -> None:
        self.clock = clock
        self.sender = sender
        self.target = target
        self.next_seq = 1
        self.read_offset = 0
        self.times = TimestampFormatter()

    def message(self, msg_type: str, *pairs: tuple[int, object], seq: int | None = None, poss_dup: bool = False,
                orig_sending_ns: int | None = None, sending_ns: int | None = None) -> bytes:
        if seq is None:
            seq = self.next_seq
            self.next_seq += 1
        message = simplefix.FixMessage()
        message.append_pair(8, "FIX.4.4", header=True)
        message.append_pair(35, msg_type, header=True)
        message.append_pair(49, self.sender, header=True)
        message.append_pair(56, self.target, header=True)
        message.append_pair(34, seq, header=True)
        message.append_pair(52, self.times.format(self.clock.now_ns() if sending_ns is None else sending_ns),
                            header=True)
        if poss_dup:
            message.append_pair(43, "Y", header=True)
        if orig_sending_ns is not None:
            message.append_pair(122, self.times.format(orig_sending_ns), header=True)
        for tag, value in pairs:
            message.append_pair(tag, value)
        return message.encode()

    def read(self, transport: FakeTransport) -> list[dict[int, str]]:
        """Messages we wrote since the last read, as {tag: value}, checked by simplefix."""
        parser = simplefix.FixParser()
        parser.append_buffer(transport.written[self.read_offset:])
        self.read_offset = len(transport.written)
        out = []
        while (message := parser.get_message()) is not None:
            fields = {int(tag): value.decode() for tag, value in message.pairs}
            raw = message.encode(raw=True)
            assert int(fields[10]) == sum(raw[:raw.rfind(b"10=")]) % 256
            out.append(fields)
        return out


def execution_report(peer: Peer, cl_ord_id: str = "C1", exec_id: str = "E1", **kwargs: object) -> bytes:
    return peer.message("8", (37, "B1"), (11, cl_ord_id), (17, exec_id), (150, "0"), (39, "0"), (55, "ACME"),
                        (54, "1"), (151, "100"), (14, "0"), (6, "0"), **kwargs)  # type: ignore[arg-type]


class Harness:
    def __init__(self, tmp_path: Path, role: SessionRole = SessionRole.INITIATOR, **settings: object) -> None:
        self.tmp_path = tmp_path
        self.clock = SimClock(START_NS)
        self.timers = TimerQueue(self.clock)
        self.app = RecordingApp()
        values: dict[str, object] = {"sender_comp_id": "UNWIND", "target_comp_id": "BROKER", "heartbeat_interval_s": 30}
        values.update(settings)
        self.settings = SessionSettings(**values)  # type: ignore[arg-type]
        self.store = SessionStore(tmp_path / "store", "UNWIND-BROKER", self.clock.now_ns())
        self.session = FixSession(self.settings, self.store, self.clock, self.timers, self.app, role)
        self.transport = FakeTransport()
        self.peer = Peer(self.clock)

    def connect(self) -> None:
        self.transport = FakeTransport()
        self.session.connection_made(self.transport)

    def logon(self) -> list[dict[int, str]]:
        """Connect and complete the logon; return what we sent."""
        self.connect()
        sent = self.peer.read(self.transport)
        self.session.data_received(self.peer.message("A", (98, 0), (108, self.settings.heartbeat_interval_s)))
        assert self.session.state is SessionState.ACTIVE
        return sent + self.peer.read(self.transport)

    def feed(self, *messages: bytes) -> list[dict[int, str]]:
        for message in messages:
            self.session.data_received(message)
        return self.peer.read(self.transport)

    def send_order(self, cl_ord_id: str) -> int:
        now = self.clock.now_ns()
        body = f"11={cl_ord_id}\x0155=ACME\x0154=1\x0160={self.session.format_time(now)}\x0138=10\x0140=1\x01"
        return self.session.send_app("D", body, now, self.session.format_time(now))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_logon_carries_heartbeat_reset_and_credentials(tmp_path: Path) -> None:
    harness = Harness(tmp_path, reset_seq_num_on_logon=True, username="trader", password="secret")
    harness.store.record_sent(1, None)
    harness.store.record_sent(2, None)  # a reset logon starts again at 1 whatever was sent before
    harness.connect()
    (logon,) = harness.peer.read(harness.transport)
    assert (logon[35], logon[34], logon[98], logon[108], logon[141], logon[553], logon[554]) == (
        "A", "1", "0", "30", "Y", "trader", "secret")
    assert harness.session.state is SessionState.LOGON_SENT
    harness.session.data_received(harness.peer.message("A", (98, 0), (108, 30), (141, "Y")))
    assert harness.session.state is SessionState.ACTIVE and harness.app.logons == 1
    assert (harness.store.next_sender_seq, harness.store.next_target_seq) == (2, 2)


def test_logon_not_answered_in_time_disconnects(harness: Harness) -> None:
    harness.connect()
    harness.timers.advance_by(9 * SECOND)
    assert not harness.transport.closed
    harness.timers.advance_by(2 * SECOND)
    assert harness.transport.closed and harness.session.disconnect_reason == "logon timed out"


def test_heartbeat_when_quiet_and_test_request_when_the_peer_is_silent(harness: Harness) -> None:
    harness.logon()
    harness.timers.advance_to(START_NS + 30 * SECOND)
    assert [m[35] for m in harness.peer.read(harness.transport)] == ["0"]
    harness.timers.advance_to(START_NS + 36 * SECOND)  # 1.2 intervals without a word from the peer
    (test_request,) = harness.peer.read(harness.transport)
    assert test_request[35] == "1"
    harness.feed(harness.peer.message("0", (112, test_request[112])))
    harness.timers.advance_to(START_NS + 70 * SECOND)
    assert not harness.transport.closed and harness.session.is_active


def test_unanswered_test_request_drops_the_connection(harness: Harness) -> None:
    harness.logon()
    harness.timers.advance_to(START_NS + 36 * SECOND)
    assert any(m[35] == "1" for m in harness.peer.read(harness.transport))
    harness.timers.advance_to(START_NS + 65 * SECOND)
    assert not harness.transport.closed
    harness.timers.advance_to(START_NS + 66 * SECOND)
    assert harness.transport.closed and harness.session.state is SessionState.DISCONNECTED
    assert harness.app.logouts == ["TestRequest unanswered"]


def test_test_request_is_answered_with_its_id(harness: Harness) -> None:
    harness.logon()
    (heartbeat,) = harness.feed(harness.peer.message("1", (112, "PING")))
    assert (heartbeat[35], heartbeat[112]) == ("0", "PING")


def test_gap_from_the_peer_is_requested_queued_and_processed_once_in_order(harness: Harness) -> None:
    harness.logon()
    peer = harness.peer
    missing = execution_report(peer, exec_id="E1")  # seq 2, lost
    sent = harness.feed(execution_report(peer, exec_id="E2"), execution_report(peer, exec_id="E3"))
    assert [(m[35], m[7], m[16]) for m in sent] == [("2", "2", "0")], "one ResendRequest for the gap"
    assert harness.app.messages == []
    resent_missing = execution_report(peer, exec_id="E1", seq=2, poss_dup=True, orig_sending_ns=START_NS)
    resent_next = execution_report(peer, exec_id="E2", seq=3, poss_dup=True, orig_sending_ns=START_NS)
    harness.feed(resent_missing, resent_next)
    assert [m[1]["17"] for m in harness.app.messages] == ["E1", "E2", "E3"]
    assert [m[2] for m in harness.app.messages] == [True, False, False]
    assert harness.store.next_target_seq == 5
    assert missing  # kept for clarity: the original of seq 2 was never delivered


def test_gap_filled_by_sequence_reset_gap_fill_then_queued_messages_run(harness: Harness) -> None:
    harness.logon()
    peer = harness.peer
    peer.next_seq = 5  # 2..4 were session messages the peer will gap-fill
    harness.feed(execution_report(peer, exec_id="E5"))
    gap_fill = peer.message("4", (123, "Y"), (36, 5), seq=2, poss_dup=True, orig_sending_ns=START_NS)
    harness.feed(gap_fill)
    assert [m[1]["17"] for m in harness.app.messages] == ["E5"]
    assert harness.store.next_target_seq == 6


def test_sequence_reset_moves_forward_and_refuses_to_move_back(harness: Harness) -> None:
    harness.logon()
    harness.feed(harness.peer.message("4", (36, 10)))
    assert harness.store.next_target_seq == 10
    (reject,) = harness.feed(harness.peer.message("4", (36, 3)))
    assert (reject[35], reject[373], reject[371]) == ("3", "5", "36")
    assert harness.store.next_target_seq == 10 and harness.session.is_active


def test_duplicate_with_poss_dup_is_ignored_and_too_low_without_it_ends_the_session(harness: Harness) -> None:
    harness.logon()
    first = execution_report(harness.peer, exec_id="E1")
    harness.feed(first)
    harness.feed(execution_report(harness.peer, exec_id="E1", seq=2, poss_dup=True, orig_sending_ns=START_NS))
    assert len(harness.app.messages) == 1
    (logout,) = harness.feed(execution_report(harness.peer, exec_id="E9", seq=2))
    assert logout[35] == "5" and "MsgSeqNum too low" in logout[58]
    assert harness.transport.closed and len(harness.app.messages) == 1


def test_resend_request_resends_orders_as_poss_dup_and_gap_fills_session_messages(harness: Harness) -> None:
    harness.logon()  # our Logon is seq 1
    harness.send_order("C1")  # 2
    harness.timers.advance_to(START_NS + 30 * SECOND)  # heartbeat: 3
    harness.send_order("C2")  # 4
    originals = harness.peer.read(harness.transport)
    harness.clock.set_ns(START_NS + 31 * SECOND)
    resent = harness.feed(harness.peer.message("2", (7, 1), (16, 0)))
    assert [(m[35], m[34]) for m in resent] == [("4", "1"), ("D", "2"), ("4", "3"), ("D", "4")]
    assert (resent[0][123], resent[0][36], resent[2][36]) == ("Y", "2", "4")
    for copy, original in ((resent[1], originals[0]), (resent[3], originals[2])):
        assert copy[43] == "Y" and copy[122] == original[52] and copy[52] != original[52]
        assert {t: v for t, v in copy.items() if t not in (9, 10, 43, 52, 122)} == {
            t: v for t, v in original.items() if t not in (9, 10, 52)}
    assert harness.store.next_sender_seq == 5, "resending uses the old numbers"


def test_required_tag_missing_is_rejected_and_the_sequence_moves_on(harness: Harness) -> None:
    harness.logon()
    (reject,) = harness.feed(harness.peer.message("1"))  # a TestRequest without its TestReqID (112)
    assert (reject[35], reject[45], reject[371], reject[373], reject[372]) == ("3", "2", "112", "1", "1")
    assert harness.store.next_target_seq == 3 and harness.session.is_active
    harness.app.raise_on_message = InvalidMessage(1, "required tag 17 missing", 17)  # the application's own check
    (reject,) = harness.feed(execution_report(harness.peer))
    assert (reject[45], reject[371], reject[373], reject[372]) == ("3", "17", "1", "8")
    assert harness.app.messages == [] and harness.store.next_target_seq == 4 and harness.session.is_active


def test_sending_time_far_off_is_rejected_and_ends_the_session(harness: Harness) -> None:
    harness.logon()
    late = execution_report(harness.peer, sending_ns=START_NS - 200 * SECOND)
    reject, logout = harness.feed(late)
    assert (reject[35], reject[373], reject[371]) == ("3", "10", "52")
    assert logout[35] == "5" and harness.transport.closed


def test_poss_dup_without_orig_sending_time_is_rejected(harness: Harness) -> None:
    harness.logon()
    (reject,) = harness.feed(execution_report(harness.peer, poss_dup=True))
    assert (reject[373], reject[371]) == ("1", "122")
    assert harness.app.messages == []


def test_wrong_comp_id_is_rejected_and_ends_the_session(harness: Harness) -> None:
    harness.logon()
    stranger = Peer(harness.clock, sender="SOMEONE")
    stranger.next_seq = 2
    reject, logout = harness.feed(execution_report(stranger))
    assert (reject[373], reject[371]) == ("9", "49") and logout[35] == "5" and harness.transport.closed


def test_garbled_bytes_are_dropped_and_the_next_message_reveals_the_gap(harness: Harness) -> None:
    harness.logon()
    good = execution_report(harness.peer, exec_id="E1")
    garbled = good[:-4] + b"000\x01" if not good.endswith(b"000\x01") else good[:-4] + b"001\x01"
    assert harness.feed(garbled) == []
    assert harness.session.garbled_received == 1 and harness.session.is_active
    sent = harness.feed(execution_report(harness.peer, exec_id="E2"))
    assert [(m[35], m[7]) for m in sent] == [("2", "2")]


def test_unsupported_message_is_answered_with_business_message_reject(harness: Harness) -> None:
    harness.logon()
    harness.app.raise_on_message = BusinessReject(3, "MsgType X is not supported", "REF-1")
    (reject,) = harness.feed(harness.peer.message("X", (58, "hello")))
    assert (reject[35], reject[45], reject[372], reject[380], reject[379]) == ("j", "2", "X", "3", "REF-1")
    assert harness.store.next_target_seq == 3


def test_peer_reject_names_our_stored_message(harness: Harness) -> None:
    harness.logon()
    seq = harness.send_order("C1")
    harness.feed(harness.peer.message("3", (45, seq), (373, 5), (58, "bad")))
    ((fields, referenced),) = harness.app.rejects
    assert fields["45"] == str(seq) and referenced is not None and b"\x0111=C1\x01" in referenced


def test_logout_from_the_peer_is_confirmed_and_ours_waits_for_confirmation(harness: Harness) -> None:
    harness.logon()
    (confirmation,) = harness.feed(harness.peer.message("5", (58, "bye")))
    assert confirmation[35] == "5" and harness.transport.closed and harness.app.logouts == ["peer logged out: bye"]

    harness.logon()
    harness.session.logout("done for today")
    (logout,) = harness.peer.read(harness.transport)
    assert (logout[35], logout[58]) == ("5", "done for today")
    assert harness.session.state is SessionState.LOGOUT_SENT and not harness.transport.closed
    harness.feed(harness.peer.message("5"))
    assert harness.transport.closed and harness.session.state is SessionState.DISCONNECTED


def test_our_logout_times_out_without_confirmation(harness: Harness) -> None:
    harness.logon()
    harness.session.logout()
    harness.timers.advance_by(3 * SECOND)
    assert harness.transport.closed and harness.session.disconnect_reason == "logout timed out"


def test_peer_logon_with_higher_sequence_is_accepted_then_the_gap_requested(harness: Harness) -> None:
    harness.connect()
    harness.peer.read(harness.transport)
    harness.peer.next_seq = 7
    sent = harness.feed(harness.peer.message("A", (98, 0), (108, 30)))
    assert harness.session.is_active and [(m[35], m[7]) for m in sent] == [("2", "1")]
    gap_fill = harness.peer.message("4", (123, "Y"), (36, 8), seq=1, poss_dup=True, orig_sending_ns=START_NS)
    harness.feed(gap_fill)
    assert harness.store.next_target_seq == 8


def test_peer_logon_with_lower_sequence_is_refused(harness: Harness) -> None:
    harness.store.set_next_target(5)
    harness.connect()
    harness.peer.read(harness.transport)
    (logout,) = harness.feed(harness.peer.message("A", (98, 0), (108, 30)))
    assert logout[35] == "5" and "too low" in logout[58] and harness.transport.closed


def test_sequence_numbers_survive_a_restart(tmp_path: Path) -> None:
    first = Harness(tmp_path)
    first.logon()
    first.send_order("C1")
    first.send_order("C2")
    first.feed(execution_report(first.peer), execution_report(first.peer, exec_id="E2"))
    # no close: the process dies here. Sent orders were written before they left; the expected MsgSeqNum waits up to
    # 100 ms for a write to ride with, so the two reports would come again (PossDup) rather than be lost.
    early = SessionStore(tmp_path / "store", "UNWIND-BROKER", 0)
    assert (early.next_sender_seq, early.next_target_seq) == (4, 2)
    first.timers.advance_by(SECOND // 10)
    second = Harness(tmp_path)
    assert (second.store.next_sender_seq, second.store.next_target_seq) == (4, 4)
    assert [seq for seq, _ in second.store.sent_between(1, 10)] == [2, 3]
    assert b"\x0111=C2\x01" in second.store.sent_message(3)  # type: ignore[operator]


def test_acceptor_answers_logon_checks_credentials_and_resets_on_request(tmp_path: Path) -> None:
    harness = Harness(tmp_path, role=SessionRole.ACCEPTOR, sender_comp_id="UNWIND", target_comp_id="BROKER")
    harness.store.record_sent(1, None)
    harness.connect()
    assert harness.peer.read(harness.transport) == [] and harness.session.state is SessionState.AWAITING_LOGON
    (logon,) = harness.feed(harness.peer.message("A", (98, 0), (108, 7), (141, "Y")))
    assert (logon[35], logon[34], logon[108], logon[141]) == ("A", "1", "7", "Y")
    assert harness.session.heartbeat_interval_s == 7 and harness.session.is_active

    refused = Harness(tmp_path / "other", role=SessionRole.ACCEPTOR)
    refused.app.refuse_logon = "bad password"
    refused.connect()
    (logout,) = refused.feed(refused.peer.message("A", (98, 0), (108, 30)))
    assert (logout[35], logout[58]) == ("5", "bad password") and refused.transport.closed
