"""The asyncio shell around a FixSession: TCP connect with backoff inside the session schedule, or accept connections.

Everything with timing (backoff, schedule edges) goes through the session's TimerQueue, so a LiveTimerDriver or a
SimClock drives it. Writes go straight to the asyncio transport (uvloop's or the standard one), never awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from adapters.fix.codec import PREFIX, FrameReader, decode_fields
from adapters.fix.schedule import SessionSchedule
from adapters.fix.session import FixSession, SessionState
from gateway.clock import TimerHandle

log = structlog.get_logger(__name__)

NANOS_PER_SECOND = 1_000_000_000


@dataclass(slots=True, frozen=True)
class ReconnectPolicy:
    """Exponential backoff between connection attempts, reset by a successful logon."""

    initial_delay_s: float = 0.5
    max_delay_s: float = 30.0
    multiplier: float = 2.0

    def delay_s(self, failures: int) -> float:
        return min(self.initial_delay_s * self.multiplier ** max(failures - 1, 0), self.max_delay_s)


class SessionProtocol(asyncio.Protocol):
    """Hand a connection's bytes to a session."""

    def __init__(self, session: FixSession, on_closed: Callable[[], None] | None = None) -> None:
        self.session = session
        self._on_closed = on_closed
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.session.connection_made(transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        self.session.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost(f"connection lost: {exc}" if exc else "connection closed by peer")
        if self._on_closed is not None:
            self._on_closed()


class FixInitiator:
    """Keep one initiator session connected while its schedule is open: connect, reconnect with backoff, log out."""

    def __init__(
        self,
        session: FixSession,
        host: str,
        port: int,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        schedule: SessionSchedule | None = None,
    ) -> None:
        self.session = session
        self.host = host
        self.port = port
        self.reconnect = reconnect
        self.schedule = schedule
        self.connect_attempts = 0
        self._failures = 0
        self._running = False
        self._timer: TimerHandle | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._protocol: SessionProtocol | None = None
        self._closed = asyncio.Event()
        self._closed.set()

    def start(self) -> None:
        """Begin connecting (on the running loop)."""
        self._running = True
        self._attempt()

    async def stop(self) -> None:
        """Log out (waiting for the peer's confirmation, bounded by the logout timeout) and stay disconnected."""
        self._running = False
        self._cancel_timer()
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        session = self.session
        if session.state is not SessionState.DISCONNECTED:
            session.logout("shutting down")
            try:
                await asyncio.wait_for(self._closed.wait(), session.settings.logout_timeout_s + 1.0)
            except TimeoutError:
                session.disconnect("logout not confirmed")
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    def abort(self) -> None:
        """Drop the connection without a Logout and stop reconnecting (what a crash looks like to the peer)."""
        self._running = False
        self._cancel_timer()
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _call_later_s(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._cancel_timer()
        self._timer = self.session.timers.call_later(int(delay_s * NANOS_PER_SECOND), callback)

    def _attempt(self) -> None:
        self._timer = None
        if not self._running:
            return
        now = self.session.clock.now_ns()
        if self.schedule is not None:
            window = self.schedule.window_at(now)
            if window is None:
                next_open = self.schedule.next_open_ns(now)
                log.info("fix_outside_schedule", session=self.session.settings.target_comp_id, opens_ns=next_open)
                self._timer = self.session.timers.call_at(next_open, self._attempt)
                return
            if self.session.store.creation_ns < window[0]:
                self.session.store.reset(now)  # a new scheduled session starts at sequence number 1
        self.connect_attempts += 1
        self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        protocol = SessionProtocol(self.session, self._on_closed)
        self._closed.clear()
        try:
            await loop.create_connection(lambda: protocol, self.host, self.port)
        except (TimeoutError, OSError) as error:
            self._closed.set()
            self._failures += 1
            delay = self.reconnect.delay_s(self._failures)
            log.warning("fix_connect_failed", session=self.session.settings.target_comp_id, host=self.host,
                        port=self.port, error=str(error), retry_in_s=delay)
            if self._running:
                self._call_later_s(delay, self._attempt)
            return
        self._protocol = protocol
        if self.schedule is not None:
            window = self.schedule.window_at(self.session.clock.now_ns())
            if window is not None:
                self._cancel_timer()
                self._timer = self.session.timers.call_at(window[1], self._on_schedule_end)

    def note_logged_on(self) -> None:
        """The session logged on: the next disconnect retries after the shortest delay."""
        self._failures = 0

    def _on_schedule_end(self) -> None:
        self._timer = None
        log.info("fix_schedule_end", session=self.session.settings.target_comp_id)
        self.session.logout("end of session schedule")

    def _on_closed(self) -> None:
        self._closed.set()
        self._protocol = None
        if not self._running:
            return
        self._failures += 1
        delay = self.reconnect.delay_s(self._failures)
        log.info("fix_reconnect_scheduled", session=self.session.settings.target_comp_id, delay_s=delay)
        self._call_later_s(delay, self._attempt)


class AcceptorProtocol(asyncio.Protocol):
    """Wait for the first message of a connection, pick the session its CompIDs name, then hand over."""

    def __init__(self, find_session: Callable[[str, str], FixSession | None]) -> None:
        self._find_session = find_session
        self._reader = FrameReader(self._on_garbled)
        self._pending = b""
        self.transport: asyncio.Transport | None = None
        self.session: FixSession | None = None

    def _on_garbled(self, reason: str, fragment: bytes) -> None:
        log.warning("fix_acceptor_garbled_before_logon", reason=reason)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.data_received(data)
            return
        self._pending += data
        if not self._pending.startswith(PREFIX[: len(self._pending)]):
            self.transport.close()  # type: ignore[union-attr]
            return
        messages = self._reader.feed(data)
        if not messages:
            return
        fields = decode_fields(messages[0])
        peer, us = fields.get("49", ""), fields.get("56", "")
        session = self._find_session(peer, us) if fields.get("35") == "A" else None
        if session is None or session.state is not SessionState.DISCONNECTED:
            log.warning("fix_acceptor_connection_refused", sender_comp_id=peer, target_comp_id=us,
                        reason="unknown session" if session is None else "session already connected")
            self.transport.close()  # type: ignore[union-attr]
            return
        self.session = session
        session.connection_made(self.transport)  # type: ignore[arg-type]
        session.data_received(self._pending)
        self._pending = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.connection_lost(f"connection lost: {exc}" if exc else "connection closed by peer")
