"""The FIX 4.4 session layer as a deterministic state machine: bytes in, bytes out, time from a Clock and a TimerQueue.

It owns logon and logout, heartbeats and test requests, sequence numbers (kept in a SessionStore), gap detection
and ResendRequest in both directions, SequenceReset (gap fill and reset), PossDup handling so nothing is processed
twice, and session-level Reject. It never touches a socket: a transport shell (``transport.py``) feeds it bytes and
gives it a ``Transport`` to write to, and tests drive it with a SimClock.

Outbound bytes are collected and written once per receive batch (or per loop turn when the shell passes
``schedule_flush``), after the store has recorded them: one write syscall for a burst of orders, never an await.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

import structlog

from adapters.fix.codec import (
    FrameReader,
    InvalidMessage,
    MessageEncoder,
    SessionRejectReason,
    check_required,
    decode_fields,
    parse_utc_timestamp,
)
from adapters.fix.store import TARGET_FLUSH_NS, SessionStore
from gateway.clock import Clock, TimerHandle, TimerQueue

log = structlog.get_logger(__name__)

NANOS_PER_SECOND = 1_000_000_000
ADMIN_TYPES = frozenset({"0", "1", "2", "3", "4", "5", "A"})


class SessionRole(str, Enum):
    INITIATOR = "initiator"
    ACCEPTOR = "acceptor"


class SessionState(str, Enum):
    DISCONNECTED = "DISCONNECTED"
    AWAITING_LOGON = "AWAITING_LOGON"  # acceptor: connected, waiting for the peer's Logon
    LOGON_SENT = "LOGON_SENT"  # initiator: our Logon is out, waiting for the answer
    ACTIVE = "ACTIVE"
    LOGOUT_SENT = "LOGOUT_SENT"


@dataclass(slots=True, frozen=True)
class SessionSettings:
    sender_comp_id: str
    target_comp_id: str
    heartbeat_interval_s: int = 30
    reset_seq_num_on_logon: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_latency_s: float = 120.0  # how far SendingTime may be from our clock
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    test_request_delay: float = 1.2  # heartbeat intervals of silence before we send a TestRequest


class BusinessReject(Exception):
    """Raised by an application handler to answer a message with BusinessMessageReject (35=j)."""

    def __init__(self, reason: int, text: str, ref_id: str | None = None) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text
        self.ref_id = ref_id


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SessionApplication(Protocol):
    """What the session reports to the layer above (the venue adapter, or the simulated venue's acceptor)."""

    def on_logon(self) -> None: ...

    def on_logout(self, reason: str) -> None: ...

    def on_message(self, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        """Handle one application message, in sequence and exactly once; may raise InvalidMessage or BusinessReject."""

    def on_reject(self, fields: dict[str, str], referenced: bytes | None) -> None:
        """A Reject (35=3) or BusinessMessageReject (35=j) arrived; ``referenced`` is our message it names, if kept."""

    def authorize_logon(self, fields: dict[str, str]) -> str | None:
        """Acceptor only: return why a Logon is refused (bad credentials), or None to accept it."""


# Enum members read through their class cost a descriptor call each on Python 3.11: the hot path uses these names.
_DISCONNECTED, _AWAITING_LOGON = SessionState.DISCONNECTED, SessionState.AWAITING_LOGON
_LOGON_SENT, _ACTIVE, _LOGOUT_SENT = SessionState.LOGON_SENT, SessionState.ACTIVE, SessionState.LOGOUT_SENT

_QUEUED_ADMIN = b""  # a queued Logon or ResendRequest was acted on already: its turn only advances the sequence


class FixSession:
    """One FIX 4.4 session with one counterparty, as initiator or acceptor."""

    def __init__(
        self,
        settings: SessionSettings,
        store: SessionStore,
        clock: Clock,
        timers: TimerQueue,
        application: SessionApplication,
        role: SessionRole = SessionRole.INITIATOR,
        schedule_flush: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.timers = timers
        self.application = application
        self.role = role
        self.state = _DISCONNECTED
        self.encoder = MessageEncoder(settings.sender_comp_id, settings.target_comp_id)
        self.heartbeat_interval_s = settings.heartbeat_interval_s
        self._max_latency_ns = int(settings.max_latency_s * NANOS_PER_SECOND)
        self._peer_comp_id = settings.target_comp_id
        self._our_comp_id = settings.sender_comp_id
        self._schedule_flush = schedule_flush
        self._reader = FrameReader(self._on_garbled)
        self._transport: Transport | None = None
        self._outbox: list[bytes] = []
        self._flush_scheduled = False
        self._receiving = False
        self._queue: dict[int, bytes] = {}  # messages ahead of a gap, by MsgSeqNum
        self._resend_through = 0  # the highest MsgSeqNum our outstanding ResendRequest must bring
        self._resend_progress_ns = 0
        self._resend_progress_seq = 0
        self._test_request_id: str | None = None
        self._test_request_sent_ns = 0
        self._test_request_count = 0
        self._deadline_ns = 0  # logon or logout deadline
        self._last_sent_ns = 0
        self._last_received_ns = 0
        self._timer: TimerHandle | None = None
        self._store_timer: TimerHandle | None = None
        self._sent_reset = False
        self.disconnect_reason = ""
        # Counters for tests and metrics.
        self.messages_received = 0
        self.reads = 0
        self.garbled_received = 0
        self.rejects_sent = 0
        self.resend_requests_sent = 0
        self.messages_resent = 0

    # --- the transport shell's side -------------------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        return self.state is _ACTIVE

    def connection_made(self, transport: Transport) -> None:
        """A TCP connection is up: an initiator sends its Logon, an acceptor waits for one."""
        self._transport = transport
        self._reader.clear()
        now = self.clock.now_ns()
        self._last_received_ns = now
        self._deadline_ns = now + int(self.settings.logon_timeout_s * NANOS_PER_SECOND)
        if self.role is SessionRole.ACCEPTOR:
            self.state = _AWAITING_LOGON
        else:
            self._send_logon(reset=self.settings.reset_seq_num_on_logon)
            self.state = _LOGON_SENT
            self.flush()
        self._arm(self._deadline_ns)

    def data_received(self, data: bytes) -> None:
        """Feed bytes from the socket; every complete message is handled before the batch's replies are written."""
        if self._transport is None:
            return
        self._receiving = True
        self.reads += 1
        try:
            messages = self._reader.feed(data)
            if messages:
                self._last_received_ns = self.clock.now_ns()
                for raw in messages:
                    self._on_message(raw)
                    if self._transport is None:
                        break
        finally:
            self._receiving = False
        self.flush()

    def connection_lost(self, reason: str = "connection lost") -> None:
        """The socket closed (by the peer, the network or us)."""
        if self._transport is None and self.state is _DISCONNECTED:
            return
        self._transport = None
        self._on_disconnected(reason)

    def flush(self) -> None:
        """Record what is about to go out, then write it in one call; a moved expected MsgSeqNum may wait a little."""
        self._flush_scheduled = False
        store = self.store
        outbox = self._outbox
        if outbox or store.has_pending_sends:
            store.flush()
            if outbox:
                if self._transport is not None:
                    self._transport.write(outbox[0] if len(outbox) == 1 else b"".join(outbox))
                outbox.clear()
        elif store.target_dirty and self._store_timer is None:
            self._store_timer = self.timers.call_at(self._last_received_ns + TARGET_FLUSH_NS, self._flush_store)

    def _flush_store(self) -> None:
        self._store_timer = None
        self.store.flush()

    # --- the application's side -----------------------------------------------------------------------------------

    def format_time(self, now_ns: int) -> str:
        return self.encoder.timestamps.format(now_ns)

    def send_app(
        self, msg_type: str, body: str, now_ns: int, sending_time: str, persist_when_down: bool = False
    ) -> int:
        """Send an application message (``body`` fields end with SOH); return its MsgSeqNum.

        Only while ACTIVE, unless ``persist_when_down``: then a message made while the peer is away is numbered and
        stored, and reaches the peer through the resend it asks for after its next Logon (an acceptor's reports).
        """
        active = self.state is _ACTIVE
        if not active and not persist_when_down:
            raise RuntimeError(f"FIX session {self.settings.target_comp_id} is {self.state.value}, not ACTIVE")
        store = self.store
        seq = store.next_sender_seq
        raw = self.encoder.encode(msg_type, seq, sending_time, body)
        store.record_sent(seq, raw)
        if active:
            self._last_sent_ns = now_ns
            self._emit(raw)
        else:
            store.flush()
        return seq

    def logout(self, text: str = "") -> None:
        """Start an orderly logout; the connection closes when the peer confirms or the logout timeout passes."""
        if self.state is _ACTIVE:
            self._send_admin("5", [(58, text)] if text else [])
            self.state = _LOGOUT_SENT
            self._deadline_ns = self.clock.now_ns() + int(self.settings.logout_timeout_s * NANOS_PER_SECOND)
            self._arm(self._deadline_ns)
            self.flush()
        elif self.state is _LOGON_SENT or self.state is _AWAITING_LOGON:
            self.disconnect("logout before logon completed")

    def disconnect(self, reason: str) -> None:
        """Drop the connection now (after writing what is queued)."""
        transport = self._transport
        if transport is None:
            return
        self.flush()
        self._transport = None
        transport.close()
        self._on_disconnected(reason)

    def send_test_request(self) -> str:
        """Ask the peer for a Heartbeat now; return the TestReqID it must echo."""
        self._test_request_count += 1
        test_id = f"TEST-{self.clock.now_ns()}-{self._test_request_count}"
        self._test_request_id = test_id
        self._test_request_sent_ns = self.clock.now_ns()
        self._send_admin("1", [(112, test_id)])
        self._arm(self._test_request_sent_ns + self.heartbeat_interval_s * NANOS_PER_SECOND)
        return test_id

    # --- inbound --------------------------------------------------------------------------------------------------

    def _on_garbled(self, reason: str, fragment: bytes) -> None:
        self.garbled_received += 1
        log.warning("fix_garbled_message_ignored", session=self.settings.target_comp_id, reason=reason,
                    fragment=fragment[:120].decode("latin-1").replace("\x01", "|"))

    def _on_message(self, raw: bytes) -> None:
        self.messages_received += 1
        try:
            fields = decode_fields(raw)
        except InvalidMessage as refusal:
            self._on_garbled(refusal.text, raw)
            return
        msg_type = fields.get("35")
        seq_text = fields.get("34", "")
        if not msg_type:
            self._on_garbled("MsgType (35) missing", raw)
            return
        if not seq_text.isdecimal():
            self._fatal(f"MsgSeqNum (34) missing or not a number: {seq_text!r}")
            return
        seq = int(seq_text)
        if fields.get("49") != self._peer_comp_id or fields.get("56") != self._our_comp_id:
            tag = 49 if fields.get("49") != self._peer_comp_id else 56
            self._send_reject(seq, msg_type, SessionRejectReason.COMPID_PROBLEM,
                              f"CompID problem: 49={fields.get('49')} 56={fields.get('56')}", tag)
            self._fatal("CompID problem")
            return
        state = self.state
        if state is _LOGON_SENT or state is _AWAITING_LOGON:
            if msg_type != "A":
                self._fatal(f"first message must be Logon, got MsgType {msg_type}")
                return
            self._on_logon(fields, seq, raw)
            return
        if msg_type == "4" and fields.get("123") != "Y":
            self._on_sequence_reset(fields, seq, gap_fill=False)
            return
        store = self.store
        expected = store.next_target_seq
        if seq == expected:
            if msg_type not in ADMIN_TYPES and "43" not in fields and msg_type != "j":
                # The common case, an application message in its turn: the checks of _verify, inline.
                try:
                    sending_ns = parse_utc_timestamp(fields["52"])
                except (KeyError, ValueError):
                    sending_ns = -1
                if abs(sending_ns - self._last_received_ns) <= self._max_latency_ns:
                    try:
                        self.application.on_message(msg_type, fields, fields.get("97") == "Y")
                    except InvalidMessage as refusal:
                        self._send_reject(seq, msg_type, refusal.reason, refusal.text, refusal.ref_tag)
                    except BusinessReject as refusal:
                        self._send_business_reject(seq, msg_type, refusal)
                    store.next_target_seq = seq + 1
                    store.target_dirty = True
                    if self._queue:
                        self._drain_queue()
                    return
            self._handle_in_sequence(msg_type, fields, seq, raw)
            if self._queue:
                self._drain_queue()
        elif seq > expected:
            self._on_sequence_gap(msg_type, fields, seq, raw)
        elif fields.get("43") == "Y":
            pass  # a resent copy of a message we already processed
        elif msg_type == "5":
            self._on_logout(fields)
        else:
            self._fatal(f"MsgSeqNum too low, expecting {expected} but received {seq}")

    def _handle_in_sequence(self, msg_type: str, fields: dict[str, str], seq: int, raw: bytes) -> None:
        """Act on the message whose turn it is, then advance the expected MsgSeqNum."""
        store = self.store
        if raw is _QUEUED_ADMIN:
            store.set_next_target(seq + 1)
            return
        try:
            self._verify(msg_type, fields)
            if msg_type in ADMIN_TYPES:
                if msg_type == "4":  # gap fill; a reset never reaches here
                    self._on_sequence_reset(fields, seq, gap_fill=True)
                    return
                self._handle_admin(msg_type, fields)
            elif msg_type == "j":
                self.application.on_reject(fields, self._referenced(fields))
            else:
                possible_duplicate = fields.get("43") == "Y" or fields.get("97") == "Y"
                self.application.on_message(msg_type, fields, possible_duplicate)
        except InvalidMessage as refusal:
            self._send_reject(seq, msg_type, refusal.reason, refusal.text, refusal.ref_tag)
            if refusal.reason == SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM:
                store.set_next_target(seq + 1)
                self._fatal(refusal.text)
                return
        except BusinessReject as refusal:
            self._send_business_reject(seq, msg_type, refusal)
        store.set_next_target(seq + 1)

    def _verify(self, msg_type: str, fields: dict[str, str]) -> None:
        """Check SendingTime (and OrigSendingTime on a PossDup) and the tags the message type requires."""
        try:
            sending_ns = parse_utc_timestamp(fields.get("52", ""))
        except ValueError:
            raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING if "52" not in fields
                                 else SessionRejectReason.INCORRECT_DATA_FORMAT,
                                 f"SendingTime (52) missing or malformed: {fields.get('52')!r}", 52) from None
        if abs(sending_ns - self._last_received_ns) > self._max_latency_ns:  # the batch's arrival time
            raise InvalidMessage(SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM,
                                 f"SendingTime {fields['52']} is more than {self.settings.max_latency_s}s off", 52)
        if fields.get("43") == "Y" and msg_type != "4":
            original = fields.get("122")
            if original is None:
                raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING,
                                     "OrigSendingTime (122) is required with PossDupFlag=Y", 122)
            try:
                original_ns = parse_utc_timestamp(original)
            except ValueError:
                raise InvalidMessage(SessionRejectReason.INCORRECT_DATA_FORMAT,
                                     f"OrigSendingTime (122) malformed: {original!r}", 122) from None
            if original_ns > sending_ns:
                raise InvalidMessage(SessionRejectReason.SENDING_TIME_ACCURACY_PROBLEM,
                                     f"OrigSendingTime {original} is after SendingTime {fields['52']}", 122)
        if msg_type in ADMIN_TYPES or msg_type == "j":
            check_required(fields, msg_type)  # the application checks its own messages as it reads them

    def _handle_admin(self, msg_type: str, fields: dict[str, str]) -> None:
        if msg_type == "0":
            if self._test_request_id is not None and fields.get("112") == self._test_request_id:
                self._test_request_id = None
                self._arm_active()
        elif msg_type == "1":
            self._send_admin("0", [(112, fields["112"])])
        elif msg_type == "2":
            self._on_resend_request(fields)
        elif msg_type == "3":
            self.application.on_reject(fields, self._referenced(fields))
        elif msg_type == "5":
            self._on_logout(fields)
        elif msg_type == "A":
            log.warning("fix_logon_while_active_ignored", session=self.settings.target_comp_id)
        else:  # pragma: no cover - ADMIN_TYPES is closed
            raise InvalidMessage(SessionRejectReason.INVALID_MSG_TYPE, f"unexpected MsgType {msg_type}", 35)

    def _referenced(self, fields: dict[str, str]) -> bytes | None:
        ref = fields.get("45", "")
        return self.store.sent_message(int(ref)) if ref.isdecimal() else None

    def _on_sequence_gap(self, msg_type: str, fields: dict[str, str], seq: int, raw: bytes) -> None:
        """Keep a message that arrived ahead of its turn and ask for what is missing."""
        if msg_type == "5":
            self._on_logout(fields)
            return
        if msg_type == "2":
            self._on_resend_request(fields)  # serve the peer at once, or two gapped sides would wait on each other
            raw = _QUEUED_ADMIN
        self._queue[seq] = raw
        expected = self.store.next_target_seq
        if self._resend_through < expected:
            self._request_resend(expected, seq - 1)
        log.info("fix_sequence_gap", session=self.settings.target_comp_id, expected=expected, received=seq)

    def _request_resend(self, begin: int, through: int) -> None:
        self._resend_through = max(through, begin)
        self._resend_progress_seq = begin
        self._resend_progress_ns = self.clock.now_ns()
        self.resend_requests_sent += 1
        self._send_admin("2", [(7, str(begin)), (16, "0")])

    def _drain_queue(self) -> None:
        """Handle queued messages whose turn has come; drop those a gap fill or reset made obsolete."""
        queue = self._queue
        store = self.store
        while queue and self.state is not _DISCONNECTED:
            expected = store.next_target_seq
            for stale in [seq for seq in queue if seq < expected]:
                del queue[stale]
            raw = queue.pop(expected, None)
            if raw is None:
                break
            if raw is _QUEUED_ADMIN:
                store.set_next_target(expected + 1)
                continue
            fields = decode_fields(raw)
            self._handle_in_sequence(fields["35"], fields, expected, raw)
        if not queue and self._resend_through < store.next_target_seq:
            self._resend_through = 0

    def _on_sequence_reset(self, fields: dict[str, str], seq: int, gap_fill: bool) -> None:
        new_text = fields.get("36", "")
        expected = self.store.next_target_seq
        if not new_text.isdecimal():
            self._send_reject(seq, "4", SessionRejectReason.INCORRECT_DATA_FORMAT,
                              f"NewSeqNo (36) missing or malformed: {new_text!r}", 36)
            if gap_fill:
                self.store.set_next_target(seq + 1)
            return
        new_seq = int(new_text)
        if new_seq < expected or (gap_fill and new_seq <= seq):
            self._send_reject(seq, "4", SessionRejectReason.VALUE_IS_INCORRECT,
                              f"NewSeqNo {new_seq} would move the sequence back from {expected}", 36)
            if gap_fill:
                self.store.set_next_target(seq + 1)
            return
        log.info("fix_sequence_reset", session=self.settings.target_comp_id, gap_fill=gap_fill,
                 expected=expected, new_seq=new_seq)
        self.store.set_next_target(new_seq)
        if not gap_fill and self._queue:
            self._drain_queue()

    def _on_resend_request(self, fields: dict[str, str]) -> None:
        """Resend what the peer asks for: application messages as PossDup, session messages as one gap fill."""
        begin_text, end_text = fields.get("7", ""), fields.get("16", "")
        if not (begin_text.isdecimal() and end_text.isdecimal()):
            raise InvalidMessage(SessionRejectReason.INCORRECT_DATA_FORMAT, "BeginSeqNo/EndSeqNo malformed", 7)
        begin, end = int(begin_text), int(end_text)
        last_sent = self.store.next_sender_seq - 1
        if end == 0 or end > last_sent:
            end = last_sent
        log.info("fix_resend_requested", session=self.settings.target_comp_id, begin=begin, end=end)
        if begin > end:
            return
        now_text = self.format_time(self.clock.now_ns())
        gap_start = begin
        for seq, raw in self.store.sent_between(begin, end):
            if seq > gap_start:
                self._send_gap_fill(gap_start, seq, now_text)
            self._emit(self.encoder.encode_resend(raw, now_text))
            self.messages_resent += 1
            gap_start = seq + 1
        if gap_start <= end:
            self._send_gap_fill(gap_start, end + 1, now_text)

    def _send_gap_fill(self, seq: int, new_seq: int, now_text: str) -> None:
        self._emit(self.encoder.encode_admin("4", seq, now_text, [(123, "Y"), (36, str(new_seq))],
                                             orig_sending_time=now_text))

    def _on_logon(self, fields: dict[str, str], seq: int, raw: bytes) -> None:
        store = self.store
        try:
            self._verify("A", fields)
        except InvalidMessage as refusal:
            self._fatal(f"Logon refused: {refusal.text}")
            return
        heartbeat_text = fields["108"]
        if not heartbeat_text.isdecimal() or int(heartbeat_text) <= 0:
            self._fatal(f"Logon refused: HeartBtInt (108) must be a positive integer, got {heartbeat_text!r}")
            return
        peer_reset = fields.get("141") == "Y"
        if self.role is SessionRole.ACCEPTOR:
            refusal_text = self.application.authorize_logon(fields)
            if refusal_text is not None:
                self._send_admin("5", [(58, refusal_text)])
                self.disconnect(f"Logon refused: {refusal_text}")
                return
            self.heartbeat_interval_s = int(heartbeat_text)
            if peer_reset:
                store.reset(self.clock.now_ns())
        elif peer_reset and not self._sent_reset:
            store.set_next_target(1)
        if peer_reset and seq != 1:
            self._fatal(f"Logon with ResetSeqNumFlag must have MsgSeqNum 1, got {seq}")
            return
        expected = store.next_target_seq
        if seq < expected:
            self._fatal(f"MsgSeqNum too low, expecting {expected} but received {seq}")
            return
        if self.role is SessionRole.ACCEPTOR:
            self._send_logon(reset=peer_reset)
        self.state = _ACTIVE
        self._sent_reset = False
        self._test_request_id = None
        log.info("fix_logged_on", session=self.settings.target_comp_id, role=self.role.value,
                 next_sender_seq=store.next_sender_seq, next_target_seq=expected, peer_seq=seq)
        if seq > expected:
            self._queue[seq] = _QUEUED_ADMIN
            self._request_resend(expected, seq - 1)
        else:
            store.set_next_target(seq + 1)
        self._arm_active()
        self.application.on_logon()

    def _on_logout(self, fields: dict[str, str]) -> None:
        text = fields.get("58", "")
        if self.state is _LOGOUT_SENT:
            self.disconnect(f"logout confirmed {text}".strip())
            return
        log.info("fix_logout_received", session=self.settings.target_comp_id, text=text)
        self._send_admin("5", [])
        self.disconnect(f"peer logged out: {text}" if text else "peer logged out")

    # --- outbound -------------------------------------------------------------------------------------------------

    def _emit(self, raw: bytes) -> None:
        self._outbox.append(raw)
        if not self._flush_scheduled and not self._receiving:
            if self._schedule_flush is None:
                self.flush()
            else:
                self._flush_scheduled = True
                self._schedule_flush(self.flush)

    def _send_admin(self, msg_type: str, fields: list[tuple[int, str]]) -> None:
        store = self.store
        seq = store.next_sender_seq
        now = self.clock.now_ns()
        store.record_sent(seq, None)
        self._last_sent_ns = now
        self._emit(self.encoder.encode_admin(msg_type, seq, self.format_time(now), fields))

    def _send_logon(self, reset: bool) -> None:
        if reset:
            if self.role is SessionRole.INITIATOR:
                self.store.reset(self.clock.now_ns())
            self._sent_reset = True
        fields: list[tuple[int, str]] = [(98, "0"), (108, str(self.heartbeat_interval_s))]
        if reset:
            fields.append((141, "Y"))
        if self.role is SessionRole.INITIATOR:
            if self.settings.username:
                fields.append((553, self.settings.username))
            if self.settings.password:
                fields.append((554, self.settings.password))
        self._send_admin("A", fields)

    def _send_reject(self, ref_seq: int, ref_msg_type: str, reason: int, text: str, ref_tag: int | None) -> None:
        self.rejects_sent += 1
        log.warning("fix_message_rejected", session=self.settings.target_comp_id, ref_seq=ref_seq,
                    ref_msg_type=ref_msg_type, reason=reason, ref_tag=ref_tag, text=text)
        fields: list[tuple[int, str]] = [(45, str(ref_seq))]
        if ref_tag is not None:
            fields.append((371, str(ref_tag)))
        fields += [(372, ref_msg_type), (373, str(reason)), (58, text)]
        self._send_admin("3", fields)

    def _send_business_reject(self, ref_seq: int, ref_msg_type: str, refusal: BusinessReject) -> None:
        self.rejects_sent += 1
        log.warning("fix_business_message_rejected", session=self.settings.target_comp_id, ref_seq=ref_seq,
                    ref_msg_type=ref_msg_type, reason=refusal.reason, text=refusal.text)
        fields: list[tuple[int, str]] = [(45, str(ref_seq)), (372, ref_msg_type)]
        if refusal.ref_id:
            fields.append((379, refusal.ref_id))
        fields += [(380, str(refusal.reason)), (58, refusal.text)]
        body = "".join(f"{tag}={value}\x01" for tag, value in fields)
        now = self.clock.now_ns()
        self.send_app("j", body, now, self.format_time(now))

    def _fatal(self, reason: str) -> None:
        """Say why in a Logout and drop the connection (FIX's answer to errors the session cannot recover from)."""
        log.error("fix_session_error", session=self.settings.target_comp_id, reason=reason)
        if self._transport is not None:
            self._send_admin("5", [(58, reason)])
        self.disconnect(reason)

    # --- timers ---------------------------------------------------------------------------------------------------

    def _arm(self, due_ns: int) -> None:
        timer = self._timer
        if timer is not None and not timer.canceled:
            if timer.due_ns <= due_ns:
                return
            timer.cancel()
        self._timer = self.timers.call_at(due_ns, self._on_timer)

    def _arm_active(self) -> None:
        interval_ns = self.heartbeat_interval_s * NANOS_PER_SECOND
        due = self._last_sent_ns + interval_ns
        if self._test_request_id is not None:
            due = min(due, self._test_request_sent_ns + interval_ns)
        else:
            due = min(due, self._last_received_ns + int(interval_ns * self.settings.test_request_delay))
        if self._queue:
            due = min(due, self._resend_progress_ns + interval_ns)
        self._arm(due)

    def _on_timer(self) -> None:
        self._timer = None
        now = self.clock.now_ns()
        state = self.state
        if state is _DISCONNECTED:
            return
        if state is not _ACTIVE:
            if now >= self._deadline_ns:
                timeout = "logout" if state is _LOGOUT_SENT else "logon"
                self.disconnect(f"{timeout} timed out")
            else:
                self._arm(self._deadline_ns)
            return
        interval_ns = self.heartbeat_interval_s * NANOS_PER_SECOND
        if self._test_request_id is not None and self._last_received_ns > self._test_request_sent_ns:
            self._test_request_id = None  # the peer spoke: it is alive, whatever it answered
        if self._test_request_id is not None:
            if now - self._test_request_sent_ns >= interval_ns:
                self.disconnect("TestRequest unanswered")
                return
        elif now - self._last_received_ns >= int(interval_ns * self.settings.test_request_delay):
            self.send_test_request()
        if now - self._last_sent_ns >= interval_ns:
            self._send_admin("0", [])
        if self._queue and now - self._resend_progress_ns >= interval_ns:
            self._retry_stalled_resend(now)
        self.flush()
        self._arm_active()

    def _retry_stalled_resend(self, now: int) -> None:
        expected = self.store.next_target_seq
        if expected == self._resend_progress_seq:
            log.warning("fix_resend_stalled", session=self.settings.target_comp_id, expected=expected)
            self._request_resend(expected, max(self._queue))
        else:
            self._resend_progress_seq = expected
            self._resend_progress_ns = now

    # --- teardown -------------------------------------------------------------------------------------------------

    def _on_disconnected(self, reason: str) -> None:
        was_active = self.state in (_ACTIVE, _LOGOUT_SENT)
        self.state = _DISCONNECTED
        self.disconnect_reason = reason
        self.store.flush()
        self._outbox.clear()
        self._queue.clear()
        self._resend_through = 0
        self._test_request_id = None
        self._reader.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        log.info("fix_disconnected", session=self.settings.target_comp_id, reason=reason)
        if was_active:
            self.application.on_logout(reason)


__all__ = [
    "BusinessReject",
    "FixSession",
    "SessionApplication",
    "SessionRole",
    "SessionSettings",
    "SessionState",
    "Transport",
]
