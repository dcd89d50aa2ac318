"""FixVenueAdapter: one FIX 4.4 broker session behind the VenueAdapter contract.

Each broker is its own adapter instance with its own session, store file and connection; the router picks among them.
Sends never await: the order is encoded, recorded in the store and handed to the transport in the same call (the
write itself happens at the end of the loop turn, together with any other orders of that turn).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from adapters.base import VenueListener
from adapters.fix.codec import InvalidMessage
from adapters.fix.mapping import FixOrderMapper
from adapters.fix.schedule import SessionSchedule
from adapters.fix.session import BusinessReject, FixSession, SessionRole, SessionSettings, SessionState
from adapters.fix.store import SessionStore
from adapters.fix.transport import FixInitiator, ReconnectPolicy
from gateway.clock import Clock, LiveClock, LiveTimerDriver, TimerQueue
from gateway.model import ErrorCode, ExecType, ExecutionReport, Instrument, Order

log = structlog.get_logger(__name__)

UNSUPPORTED_MESSAGE_TYPE = 3  # BusinessRejectReason
_ACTIVE = SessionState.ACTIVE  # a module name: an Enum member read through its class is slow on Python 3.11


@dataclass(slots=True, frozen=True)
class FixAdapterConfig:
    """One broker: where to connect, who we are, and how the session behaves."""

    name: str  # the venue name the router and the engine use
    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    instruments: dict[str, Instrument]
    store_dir: str | Path  # sequence numbers and sent messages live here, one file pair per session
    heartbeat_interval_s: int = 30
    reset_seq_num_on_logon: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    schedule: SessionSchedule | None = None  # None: always on, and the sequence never resets by itself
    accounts: dict[str, str] = field(default_factory=dict)  # our account -> the broker's Account (1); else as is
    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 30.0
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    max_latency_s: float = 120.0  # SendingTime tolerance
    cork_writes: bool = True  # write once per loop turn rather than once per message

    @classmethod
    def from_options(
        cls, name: str, options: dict[str, Any], instruments: dict[str, Instrument], where: str = ""
    ) -> FixAdapterConfig:
        """Build from a ``[[venues]]`` TOML table; a ValueError names the key (prefixed by ``where``)."""
        known = {f for f in cls.__dataclass_fields__ if f not in ("name", "instruments", "schedule")}
        known |= {"schedule_start", "schedule_end", "schedule_days", "schedule_timezone", "password_env"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"{where}{unknown[0]}: unknown FIX venue option; known are {sorted(known)}")
        values: dict[str, Any] = {}
        for key, kind in (("host", str), ("port", int), ("sender_comp_id", str), ("target_comp_id", str),
                          ("store_dir", str)):
            if key not in options:
                raise ValueError(f"{where}{key}: required for a FIX venue")
            if not isinstance(options[key], kind) or isinstance(options[key], bool):
                raise ValueError(f"{where}{key}: must be {kind.__name__}, got {options[key]!r}")  # noqa: TRY004
            values[key] = options[key]
        for key, kinds in (("heartbeat_interval_s", (int,)), ("reset_seq_num_on_logon", (bool,)),
                           ("username", (str,)), ("password", (str,)), ("accounts", (dict,)),
                           ("reconnect_initial_s", (int, float)), ("reconnect_max_s", (int, float)),
                           ("logon_timeout_s", (int, float)), ("logout_timeout_s", (int, float)),
                           ("max_latency_s", (int, float)), ("cork_writes", (bool,))):
            if key in options:
                value = options[key]
                if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                    raise ValueError(f"{where}{key}: wrong type {type(value).__name__}, got {value!r}")
                values[key] = value
        if "password_env" in options:  # keep the broker's password out of the configuration file
            if "password" in options:
                raise ValueError(f"{where}password_env: give password or password_env, not both")
            variable = options["password_env"]
            if not isinstance(variable, str) or not os.environ.get(variable):
                raise ValueError(f"{where}password_env: environment variable {variable!r} is not set")
            values["password"] = os.environ[variable]
        if values.get("heartbeat_interval_s", 30) <= 0:
            raise ValueError(f"{where}heartbeat_interval_s: must be positive, got {values['heartbeat_interval_s']}")
        schedule = None
        if "schedule_start" in options or "schedule_end" in options:
            if "schedule_start" not in options or "schedule_end" not in options:
                raise ValueError(f"{where}schedule_start/schedule_end: give both or neither")
            try:
                schedule = SessionSchedule.parse(options["schedule_start"], options["schedule_end"],
                                                 options.get("schedule_days"), options.get("schedule_timezone", "UTC"))
            except Exception as error:  # noqa: BLE001 - ZoneInfo raises several kinds
                raise ValueError(f"{where}schedule: {error}") from None
        return cls(name=name, instruments=instruments, schedule=schedule, **values)

    def session_settings(self) -> SessionSettings:
        return SessionSettings(
            sender_comp_id=self.sender_comp_id,
            target_comp_id=self.target_comp_id,
            heartbeat_interval_s=self.heartbeat_interval_s,
            reset_seq_num_on_logon=self.reset_seq_num_on_logon,
            username=self.username,
            password=self.password,
            max_latency_s=self.max_latency_s,
            logon_timeout_s=self.logon_timeout_s,
            logout_timeout_s=self.logout_timeout_s,
        )


class FixVenueAdapter:
    """A FIX 4.4 initiator to one broker, implementing ``adapters.base.VenueAdapter``."""

    def __init__(self, config: FixAdapterConfig, clock: Clock | None = None, timers: TimerQueue | None = None) -> None:
        self.config = config
        self.name = config.name
        self._clock: Clock = timers.clock if timers is not None else (clock or LiveClock())
        self._timers = timers
        self._own_driver: LiveTimerDriver | None = None
        self._listener: VenueListener | None = None
        self.mapper = FixOrderMapper(config.name, config.instruments, config.accounts)
        self.session: FixSession | None = None
        self.initiator: FixInitiator | None = None
        self.store: SessionStore | None = None

    # --- VenueAdapter ---------------------------------------------------------------------------------------------

    def bind(self, listener: VenueListener) -> None:
        self._listener = listener

    async def start(self) -> None:
        """Open the store and begin connecting; returns at once (``on_venue_connected`` says when logged on)."""
        loop = asyncio.get_running_loop()
        if self._timers is None:
            self._timers = TimerQueue(self._clock)
            self._own_driver = LiveTimerDriver(self._timers, loop)
        config = self.config
        self.store = SessionStore(config.store_dir, f"{config.sender_comp_id}-{config.target_comp_id}",
                                  self._clock.now_ns())
        self.session = FixSession(
            config.session_settings(),
            self.store,
            self._clock,
            self._timers,
            self,
            SessionRole.INITIATOR,
            schedule_flush=loop.call_soon if config.cork_writes else None,
        )
        reconnect = ReconnectPolicy(config.reconnect_initial_s, config.reconnect_max_s)
        self.initiator = FixInitiator(self.session, config.host, config.port, reconnect, config.schedule)
        self.initiator.start()
        log.info("fix_adapter_started", venue=self.name, host=config.host, port=config.port,
                 sender_comp_id=config.sender_comp_id, target_comp_id=config.target_comp_id)

    async def stop(self) -> None:
        """Log out, close the connection and the store."""
        if self.initiator is not None:
            await self.initiator.stop()
        if self.store is not None:
            self.store.close()
        if self._own_driver is not None:
            self._own_driver.close()
            self._own_driver = None
        log.info("fix_adapter_stopped", venue=self.name)

    @property
    def connected(self) -> bool:
        session = self.session
        return session is not None and session.state is _ACTIVE

    def send_new(self, order: Order) -> None:
        session = self.session
        if session is None or session.state is not _ACTIVE:
            self._refuse(ExecType.REJECTED, order.venue_client_order_id, None, self._unavailable())
            return
        now = self._clock.now_ns()
        sending_time = session.format_time(now)
        try:
            body = self.mapper.new_order_single(order, sending_time)
        except (KeyError, TypeError) as error:
            self._refuse(ExecType.REJECTED, order.venue_client_order_id, None, _unmappable(order, error))
            return
        session.send_app("D", body, now, sending_time)

    def send_cancel(self, order: Order, cancel_client_order_id: str) -> None:
        session = self.session
        if session is None or session.state is not _ACTIVE:
            self._refuse(ExecType.CANCEL_REJECTED, cancel_client_order_id, order.venue_client_order_id,
                         self._unavailable())
            return
        now = self._clock.now_ns()
        sending_time = session.format_time(now)
        session.send_app("F", self.mapper.cancel_request(order, cancel_client_order_id, sending_time), now,
                         sending_time)

    def send_replace(self, order: Order, replace_client_order_id: str, quantity: int, limit_price: int | None) -> None:
        session = self.session
        if session is None or session.state is not _ACTIVE:
            self._refuse(ExecType.CANCEL_REJECTED, replace_client_order_id, order.venue_client_order_id,
                         self._unavailable())
            return
        now = self._clock.now_ns()
        sending_time = session.format_time(now)
        try:
            body = self.mapper.replace_request(order, replace_client_order_id, quantity, limit_price, sending_time)
        except (KeyError, TypeError) as error:
            self._refuse(ExecType.CANCEL_REJECTED, replace_client_order_id, order.venue_client_order_id,
                         _unmappable(order, error))
            return
        session.send_app("G", body, now, sending_time)

    def request_status(self, orders: list[Order]) -> None:
        """OrderStatusRequest for each order; with no orders, one OrderMassStatusRequest for all of them."""
        session = self.session
        if session is None or session.state is not _ACTIVE:
            log.warning("fix_status_request_while_disconnected", venue=self.name, orders=len(orders))
            return
        now = self._clock.now_ns()
        sending_time = session.format_time(now)
        if not orders:
            session.send_app("AF", self.mapper.mass_status_request(), now, sending_time)
        for order in orders:
            session.send_app("H", self.mapper.status_request(order), now, sending_time)

    # --- SessionApplication ---------------------------------------------------------------------------------------

    def on_logon(self) -> None:
        if self.initiator is not None:
            self.initiator.note_logged_on()
        if self._listener is not None:
            self._listener.on_venue_connected(self.name, True)

    def on_logout(self, reason: str) -> None:
        if self._listener is not None:
            self._listener.on_venue_connected(self.name, False)

    def on_message(self, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        if msg_type == "8":
            report = self.mapper.execution_report(fields, possible_duplicate)
        elif msg_type == "9":
            report = self.mapper.cancel_reject(fields, possible_duplicate)
        else:
            raise BusinessReject(UNSUPPORTED_MESSAGE_TYPE, f"MsgType {msg_type} is not supported by this gateway")
        if report is not None and self._listener is not None:
            self._listener.on_execution(report)

    def on_reject(self, fields: dict[str, str], referenced: bytes | None) -> None:
        log.warning("fix_message_refused_by_venue", venue=self.name, msg_type=fields.get("35"),
                    ref_seq=fields.get("45"), ref_msg_type=fields.get("372"), text=fields.get("58"),
                    reason=fields.get("373") or fields.get("380"))
        if referenced is None:
            return
        try:
            report = self.mapper.refused_request(referenced, fields, self._clock.now_ns())
        except InvalidMessage:
            return
        if report is not None and self._listener is not None:
            self._listener.on_execution(report)

    def authorize_logon(self, fields: dict[str, str]) -> str | None:
        return None  # an initiator is never asked

    # --- helpers --------------------------------------------------------------------------------------------------

    def _unavailable(self) -> str:
        state = self.session.state.value if self.session is not None else "NOT_STARTED"
        return f"{ErrorCode.VENUE_UNAVAILABLE.value}: FIX session {self.name} is {state}, not logged on"

    def _refuse(self, exec_type: ExecType, client_order_id: str, orig_client_order_id: str | None, reason: str) -> None:
        """Tell the engine, on a later turn (never inside its own call), that a request did not leave."""
        report = ExecutionReport(venue=self.name, exec_type=exec_type, client_order_id=client_order_id,
                                 orig_client_order_id=orig_client_order_id, reject_reason=reason,
                                 ts_event=self._clock.now_ns())
        log.warning("fix_request_not_sent", venue=self.name, client_order_id=client_order_id, reason=reason)
        listener = self._listener
        if listener is None:
            return
        timers = self._timers
        if timers is None:
            asyncio.get_running_loop().call_soon(listener.on_execution, report)
        else:
            timers.call_at(self._clock.now_ns(), lambda: listener.on_execution(report))


def _unmappable(order: Order, error: Exception) -> str:
    return f"{ErrorCode.VALIDATION_FIELD.value}: order {order.order_id} cannot be sent over FIX: {error!r}"



def fix_adapter_from_options(
    name: str, options: dict[str, Any], instruments: dict[str, Instrument], timers: TimerQueue | None = None
) -> FixVenueAdapter:
    """Build a FIX venue from a ``[[venues]]`` table of the gateway configuration; errors name the key."""
    from gateway.config import ConfigError  # the configuration layer's error, raised for it

    try:
        config = FixAdapterConfig.from_options(name, options, instruments, where=f"venues.{name}.")
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return FixVenueAdapter(config, timers=timers)
