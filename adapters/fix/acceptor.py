"""``unwind sim-venue --fix-port N``: the simulated venue behind a FIX 4.4 acceptor, so clients trade over a socket.

Any client CompID may log on (one session per client CompID, its sequence numbers kept in ``--store-dir``). Orders go
into one shared ``SimVenue`` (its matching engine and background market, driven by a LiveClock and a TimerQueue), and
its execution reports come back as ExecutionReport (35=8) or OrderCancelReject (35=9). ClOrdIDs are kept apart per
client inside the venue, so two clients may use the same ids. Reports made while a client is away are stored and
reach it by the usual resend after it logs on again.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog

from adapters.base import IgnoringListener
from adapters.fix.codec import (
    SOH,
    InvalidMessage,
    SessionRejectReason,
    TimestampFormatter,
    parse_price_units,
    parse_utc_timestamp,
)
from adapters.fix.mapping import (
    EXEC_TYPE_CODES,
    ORDER_TYPES,
    SIDE_CODES,
    SIDES,
    TIMES_IN_FORCE,
)
from adapters.fix.session import BusinessReject, FixSession, SessionRole, SessionSettings
from adapters.fix.store import SessionStore
from adapters.fix.transport import AcceptorProtocol
from gateway.clock import Clock, LiveClock, LiveTimerDriver, TimerQueue
from gateway.model import ExecType, ExecutionReport, Instrument, Order, OrderType, Side, TimeInForce

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

UNSUPPORTED_MESSAGE_TYPE = 3  # BusinessRejectReason
ORDER_REJECT_CODES = {"UNKNOWN_SYMBOL": "1", "CLOSED": "2", "HALTED": "2", "DUPLICATE_ORDER_ID": "6",
                      "QUANTITY": "13", "LOT_SIZE": "13", "UNKNOWN_ORDER": "5", "TOO_LATE": "4"}
CANCEL_REJECT_CODES = {"UNKNOWN_ORDER": "1", "TOO_LATE": "0"}  # CxlRejReason; anything else is 99 (other)


@dataclass(slots=True)
class TrackedOrder:
    """What the acceptor must remember of one client order to write FIX reports about it."""

    session_key: str
    client_order_id: str  # the client's ClOrdID of the live version
    account: str
    symbol: str
    side: Side
    quantity: int
    limit_price: int | None
    instrument: Instrument
    status: str = "A"  # FIX OrdStatus
    cumulative: int = 0
    cost: int = 0  # sum of quantity * price units, for AvgPx
    venue_order_id: str | None = None
    pending_limit_price: dict[str, int | None] = field(default_factory=dict)  # by replace request id


class SimVenueFixAcceptor(IgnoringListener):
    """Serve FIX sessions and route their orders into a SimVenue; report back over each client's session."""

    def __init__(
        self,
        venue: object,
        instruments: dict[str, Instrument],
        clock: Clock,
        timers: TimerQueue,
        comp_id: str = "SIM",
        store_dir: str | Path = "sim-venue-fix",
        max_latency_s: float = 120.0,
    ) -> None:
        self.venue = venue
        self.instruments = instruments
        self.clock = clock
        self.timers = timers
        self.comp_id = comp_id
        self.store_dir = Path(store_dir)
        self.max_latency_s = max_latency_s
        self.sessions: dict[str, FixSession] = {}
        self._orders: dict[str, TrackedOrder] = {}  # by every venue-side ClOrdID (client key + "|" + ClOrdID)
        self._requests: dict[str, tuple[str, str]] = {}  # venue-side request id -> (MsgType F or G, target id)
        self._server: asyncio.Server | None = None
        self._timestamps = TimestampFormatter()
        venue.bind(self)  # type: ignore[attr-defined]

    # --- sockets --------------------------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0 picks a free port); return the port."""
        loop = asyncio.get_running_loop()
        self._schedule_flush = loop.call_soon
        self._server = await loop.create_server(lambda: AcceptorProtocol(self.find_session), host, port)
        bound = self._server.sockets[0].getsockname()[1]
        log.info("fix_acceptor_listening", host=host, port=bound, comp_id=self.comp_id)
        return bound

    async def stop(self) -> None:
        """Log every client out, stop listening and close the stores."""
        for session in self.sessions.values():
            session.logout("venue shutting down")
        if self._server is not None:
            self._server.close()
        for session in self.sessions.values():
            session.disconnect("venue shut down")
            session.store.close()

    def find_session(self, peer_comp_id: str, our_comp_id: str) -> FixSession | None:
        """The session for a client's Logon, made on first contact; None if it is not addressed to us."""
        if our_comp_id != self.comp_id or not peer_comp_id:
            return None
        session = self.sessions.get(peer_comp_id)
        if session is None:
            store = SessionStore(self.store_dir, f"{self.comp_id}-{peer_comp_id}", self.clock.now_ns())
            settings = SessionSettings(self.comp_id, peer_comp_id, max_latency_s=self.max_latency_s)
            session = FixSession(settings, store, self.clock, self.timers, _ClientApplication(self, peer_comp_id),
                                 SessionRole.ACCEPTOR, schedule_flush=getattr(self, "_schedule_flush", None))
            self.sessions[peer_comp_id] = session
        return session

    # --- client -> venue ------------------------------------------------------------------------------------------

    def on_new_order(self, key: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        client_id = _required(fields, "11")
        venue_id = f"{key}|{client_id}"
        if venue_id in self._orders:
            if possible_duplicate:
                return  # a resent copy of an order we have
            self._reject_new(key, fields, f"DUPLICATE_ORDER_ID: ClOrdID {client_id} was used before")
            return
        symbol = _required(fields, "55")
        instrument = self.instruments.get(symbol)
        if instrument is None:
            self._reject_new(key, fields, f"UNKNOWN_SYMBOL: no instrument {symbol} on this venue")
            return
        try:
            side = _decode(SIDES, fields, "54")
            order_type = _decode(ORDER_TYPES, fields, "40")
            time_in_force = TIMES_IN_FORCE.get(fields.get("59", "0"))
            if time_in_force is None:
                raise ValueError(f"TimeInForce (59) {fields['59']!r} is not supported")
            quantity = _quantity(fields, "38")
            limit_price = _price(fields, "44", instrument) if order_type in (OrderType.LIMIT,
                                                                             OrderType.STOP_LIMIT) else None
            stop_price = _price(fields, "99", instrument) if order_type in (OrderType.STOP,
                                                                            OrderType.STOP_LIMIT) else None
            expire_ns = parse_utc_timestamp(fields["126"]) if time_in_force is TimeInForce.GTD else None
        except (ValueError, KeyError) as error:
            self._reject_new(key, fields, f"VALUE: {error}")
            return
        now = self.clock.now_ns()
        account = fields.get("1", "")
        self._orders[venue_id] = TrackedOrder(key, client_id, account, symbol, side, quantity, limit_price, instrument)
        order = Order(order_id=venue_id, client_order_id=client_id, account=account, principal=key, symbol=symbol,
                      side=side, order_type=order_type, time_in_force=time_in_force, quantity=quantity,
                      limit_price=limit_price, stop_price=stop_price, expire_ns=expire_ns,
                      venue=getattr(self.venue, "name", "SIM"), ts_created=now, venue_client_order_id=venue_id)
        self.venue.send_new(order)  # type: ignore[attr-defined]

    def on_cancel_or_replace(self, key: str, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        request_id = f"{key}|{_required(fields, '11')}"
        target_id = f"{key}|{_required(fields, '41')}"
        if request_id in self._requests or request_id in self._orders:
            if not possible_duplicate:  # a PossDup copy of a request we have is dropped silently
                reason = f"DUPLICATE_ORDER_ID: ClOrdID {fields['11']} was used before"
                self._cancel_reject(key, msg_type, fields, reason)
            return
        tracked = self._orders.get(target_id)
        if tracked is None:
            self._cancel_reject(key, msg_type, fields, f"UNKNOWN_ORDER: no order {fields['41']}")
            return
        self._requests[request_id] = (msg_type, target_id)
        self._orders[request_id] = tracked
        stub = self._stub(tracked, target_id)
        if msg_type == "F":
            self.venue.send_cancel(stub, request_id)  # type: ignore[attr-defined]
            return
        try:
            quantity = _quantity(fields, "38")
            limit_price = _price(fields, "44", tracked.instrument) if "44" in fields else None
        except (ValueError, KeyError) as error:
            self._cancel_reject(key, msg_type, fields, f"VALUE: {error}")
            return
        tracked.pending_limit_price[request_id] = limit_price
        self.venue.send_replace(stub, request_id, quantity, limit_price)  # type: ignore[attr-defined]

    def on_status_request(self, key: str, fields: dict[str, str]) -> None:
        venue_id = f"{key}|{_required(fields, '11')}"
        tracked = self._orders.get(venue_id)
        if tracked is None:
            self._send_unknown_status(key, fields)
            return
        self.venue.request_status([self._stub(tracked, venue_id)])  # type: ignore[attr-defined]

    def on_mass_status_request(self, key: str, fields: dict[str, str]) -> None:
        live: dict[int, tuple[TrackedOrder, str]] = {}
        for venue_id, tracked in self._orders.items():
            if tracked.session_key == key and venue_id == f"{key}|{tracked.client_order_id}":
                live[id(tracked)] = (tracked, venue_id)
        self.venue.request_status([self._stub(t, venue_id) for t, venue_id in live.values()])  # type: ignore

    def _stub(self, tracked: TrackedOrder, venue_id: str) -> Order:
        return Order(order_id=venue_id, client_order_id=tracked.client_order_id, account=tracked.account,
                     principal=tracked.session_key, symbol=tracked.symbol, side=tracked.side,
                     order_type=OrderType.LIMIT, time_in_force=TimeInForce.DAY, quantity=tracked.quantity,
                     limit_price=tracked.limit_price, stop_price=None, expire_ns=None,
                     venue=getattr(self.venue, "name", "SIM"), ts_created=0, venue_order_id=tracked.venue_order_id,
                     venue_client_order_id=venue_id)

    # --- venue -> client (VenueListener) --------------------------------------------------------------------------

    def on_execution(self, report: ExecutionReport) -> None:
        tracked = self._orders.get(report.client_order_id)
        if tracked is None and report.orig_client_order_id:
            tracked = self._orders.get(report.orig_client_order_id)
        if tracked is None:
            log.warning("fix_acceptor_report_for_unknown_order", client_order_id=report.client_order_id)
            return
        key = tracked.session_key
        prefix = len(key) + 1
        exec_type = report.exec_type
        if exec_type is ExecType.CANCEL_REJECTED:
            msg_type, _ = self._requests.get(report.client_order_id, ("F", ""))
            self._send(key, "9", self._cancel_reject_body(
                tracked, report.client_order_id[prefix:], (report.orig_client_order_id or "")[prefix:], msg_type,
                report.reject_reason or "refused"))
            return
        self._apply(tracked, report)
        orig = report.orig_client_order_id[prefix:] if report.orig_client_order_id else None
        self._send(key, "8", self._report_body(tracked, report, report.client_order_id[prefix:], orig))

    def _apply(self, tracked: TrackedOrder, report: ExecutionReport) -> None:
        exec_type = report.exec_type
        if report.venue_order_id:
            tracked.venue_order_id = report.venue_order_id
        if exec_type is ExecType.TRADE:
            tracked.cumulative += report.last_quantity
            tracked.cost += report.last_quantity * report.last_price
            tracked.status = "2" if report.leaves_quantity == 0 else "1"
        elif exec_type is ExecType.NEW or exec_type is ExecType.TRIGGERED:
            tracked.status = "1" if tracked.cumulative else "0"
        elif exec_type is ExecType.REPLACED:
            tracked.client_order_id = report.client_order_id[len(tracked.session_key) + 1:]
            tracked.quantity = (report.cumulative_quantity or 0) + (report.leaves_quantity or 0)
            new_price = tracked.pending_limit_price.pop(report.client_order_id, None)
            if new_price is not None:
                tracked.limit_price = new_price
            tracked.status = "1" if tracked.cumulative else "0"
        elif exec_type is ExecType.CANCELED:
            tracked.status = "4"
            tracked.client_order_id = report.client_order_id[len(tracked.session_key) + 1:]
        elif exec_type is ExecType.EXPIRED:
            tracked.status = "C"
        elif exec_type is ExecType.REJECTED:
            tracked.status = "8"

    def _report_body(self, tracked: TrackedOrder, report: ExecutionReport, client_id: str, orig: str | None) -> str:
        instrument = tracked.instrument
        exec_type = report.exec_type
        price = f"44={instrument.format_price(tracked.limit_price)}{SOH}" if tracked.limit_price is not None else ""
        last = ""
        if exec_type is ExecType.TRADE:
            last = f"32={report.last_quantity}{SOH}31={instrument.format_price(report.last_price)}{SOH}"
        leaves = report.leaves_quantity if report.leaves_quantity is not None else 0
        cumulative = report.cumulative_quantity if report.cumulative_quantity is not None else tracked.cumulative
        text = ""
        if report.reject_reason:
            text = f"58={report.reject_reason}{SOH}"
            if exec_type is ExecType.REJECTED:
                text += f"103={ORDER_REJECT_CODES.get(report.reject_reason.split(':', 1)[0], '99')}{SOH}"
        return (f"37={tracked.venue_order_id or 'NONE'}{SOH}11={client_id}{SOH}"
                f"{f'41={orig}{SOH}' if orig else ''}17={report.exec_id or 'NONE'}{SOH}"
                f"150={EXEC_TYPE_CODES[exec_type]}{SOH}39={tracked.status}{SOH}"
                f"{f'1={tracked.account}{SOH}' if tracked.account else ''}55={tracked.symbol}{SOH}"
                f"54={SIDE_CODES[tracked.side]}{SOH}38={tracked.quantity}{SOH}{price}{last}151={leaves}{SOH}"
                f"14={cumulative}{SOH}6={_average_price(tracked)}{SOH}"
                f"60={self._format_time(report.ts_event or self.clock.now_ns())}{SOH}{text}")

    def _cancel_reject_body(self, tracked: TrackedOrder | None, client_id: str, orig: str, msg_type: str,
                            reason: str) -> str:
        reject_code = CANCEL_REJECT_CODES.get(reason.split(":", 1)[0], "99")
        venue_order_id = tracked.venue_order_id if tracked is not None and tracked.venue_order_id else "NONE"
        status = tracked.status if tracked is not None else "8"
        response_to = "1" if msg_type == "F" else "2"
        return (f"37={venue_order_id}{SOH}11={client_id}{SOH}41={orig}{SOH}39={status}{SOH}434={response_to}{SOH}"
                f"102={reject_code}{SOH}58={reason}{SOH}60={self._format_time(self.clock.now_ns())}{SOH}")

    def _reject_new(self, key: str, fields: dict[str, str], reason: str) -> None:
        body = (f"37=NONE{SOH}11={fields.get('11', '')}{SOH}17={key}-R{self.clock.now_ns()}{SOH}150=8{SOH}39=8{SOH}"
                f"{_echo(fields, '1')}55={fields.get('55', '?')}{SOH}54={fields.get('54', '1')}{SOH}"
                f"{_echo(fields, '38')}151=0{SOH}14=0{SOH}6=0{SOH}60={self._format_time(self.clock.now_ns())}{SOH}"
                f"58={reason}{SOH}103={ORDER_REJECT_CODES.get(reason.split(':', 1)[0], '99')}{SOH}")
        self._send(key, "8", body)

    def _cancel_reject(self, key: str, msg_type: str, fields: dict[str, str], reason: str) -> None:
        self._send(key, "9", self._cancel_reject_body(None, fields.get("11", ""), fields.get("41", ""), msg_type,
                                                      reason))

    def _send_unknown_status(self, key: str, fields: dict[str, str]) -> None:
        body = (f"37={fields.get('37', 'NONE')}{SOH}11={fields['11']}{SOH}17={key}-S{self.clock.now_ns()}{SOH}"
                f"150=I{SOH}39=8{SOH}55={fields.get('55', '?')}{SOH}54={fields.get('54', '1')}{SOH}151=0{SOH}"
                f"14=0{SOH}6=0{SOH}60={self._format_time(self.clock.now_ns())}{SOH}58=UNKNOWN_ORDER: no order "
                f"{fields['11']}{SOH}")
        self._send(key, "8", body)

    def _send(self, key: str, msg_type: str, body: str) -> None:
        session = self.sessions.get(key)
        if session is None:
            return
        now = self.clock.now_ns()
        session.send_app(msg_type, body, now, session.format_time(now), persist_when_down=True)

    def _format_time(self, ns: int) -> str:
        return self._timestamps.format(ns)


class _ClientApplication:
    """One client's session talking to the acceptor."""

    def __init__(self, acceptor: SimVenueFixAcceptor, key: str) -> None:
        self._acceptor = acceptor
        self._key = key

    def on_logon(self) -> None:
        log.info("fix_acceptor_client_logged_on", client=self._key)

    def on_logout(self, reason: str) -> None:
        log.info("fix_acceptor_client_logged_out", client=self._key, reason=reason)

    def on_message(self, msg_type: str, fields: dict[str, str], possible_duplicate: bool) -> None:
        acceptor = self._acceptor
        if msg_type == "D":
            acceptor.on_new_order(self._key, fields, possible_duplicate)
        elif msg_type in ("F", "G"):
            acceptor.on_cancel_or_replace(self._key, msg_type, fields, possible_duplicate)
        elif msg_type == "H":
            acceptor.on_status_request(self._key, fields)
        elif msg_type == "AF":
            acceptor.on_mass_status_request(self._key, fields)
        else:
            raise BusinessReject(UNSUPPORTED_MESSAGE_TYPE, f"MsgType {msg_type} is not supported by the sim venue")

    def on_reject(self, fields: dict[str, str], referenced: bytes | None) -> None:
        log.warning("fix_acceptor_client_rejected", client=self._key, ref_seq=fields.get("45"), text=fields.get("58"))

    def authorize_logon(self, fields: dict[str, str]) -> str | None:
        return None


def _required(fields: dict[str, str], tag: str) -> str:
    value = fields.get(tag)
    if not value:
        raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING, f"required tag {tag} missing", int(tag))
    return value


def _decode(table: dict[str, _T], fields: dict[str, str], tag: str) -> _T:
    value = table.get(fields.get(tag, ""))
    if value is None:
        raise ValueError(f"tag {tag} value {fields.get(tag)!r} is not supported")
    return value


def _quantity(fields: dict[str, str], tag: str) -> int:
    text = fields[tag]
    if not text.isdecimal() or int(text) <= 0:
        raise ValueError(f"tag {tag} quantity {text!r} must be a positive whole number")
    return int(text)


def _price(fields: dict[str, str], tag: str, instrument: Instrument) -> int:
    try:
        return parse_price_units(fields[tag], instrument.price_precision)
    except ValueError as error:
        raise ValueError(f"tag {tag}: {error}") from None


def _echo(fields: dict[str, str], tag: str) -> str:
    return f"{tag}={fields[tag]}{SOH}" if fields.get(tag) else ""


def _average_price(tracked: TrackedOrder) -> str:
    """AvgPx exactly, four decimals finer than the instrument (an average can fall between ticks)."""
    if not tracked.cumulative:
        return "0"
    precision = tracked.instrument.price_precision + 4
    scaled = tracked.cost * 10**4 // tracked.cumulative
    whole, fraction = divmod(scaled, 10**precision)
    return f"{whole}.{fraction:0{precision}d}"


# --- the command ------------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fix-port", type=int, required=True, help="TCP port to accept FIX 4.4 sessions on")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--comp-id", default="SIM", help="our SenderCompID (clients use it as TargetCompID)")
    parser.add_argument("--config", help="gateway TOML file for the instruments (default: the demo's instruments)")
    parser.add_argument("--store-dir", default="sim-venue-fix", help="where each client's sequence numbers are kept")
    parser.add_argument("--latency-us", type=int, default=0, help="venue latency one way, microseconds")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated market")
    parser.add_argument("--no-market", action="store_true", help="no background market: books hold only orders sent")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--log-file", help="JSON log lines go here (default: stderr; stdout carries the banner)")


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted (SIGINT/SIGTERM); clients are logged out on the way down."""
    import sys

    from gateway.logging import configure_logging

    configure_logging(args.log_level, args.log_file, stream=sys.stderr)
    try:
        import uvloop

        return uvloop.run(_serve(args))
    except ImportError:  # pragma: no cover - uvloop is a dependency; the standard loop works too
        return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    from adapters.sim.config import SimVenueConfig
    from adapters.sim.venue import SimVenue
    from gateway.config import ConfigError, load_config
    from gateway.demo_config import demo_config

    try:
        instruments = load_config(args.config).instruments if args.config else demo_config().instruments
    except ConfigError as error:
        print(f"configuration error: {error}")
        return 2
    loop = asyncio.get_running_loop()
    clock = LiveClock()
    timers = TimerQueue(clock)
    driver = LiveTimerDriver(timers, loop)
    venue = SimVenue(timers, instruments, SimVenueConfig(name=args.comp_id, seed=args.seed,
                                                         latency_ns=args.latency_us * 1000))
    acceptor = SimVenueFixAcceptor(venue, instruments, clock, timers, args.comp_id, args.store_dir)
    await venue.start()
    if not args.no_market:
        venue.open_market()
    port = await acceptor.start(args.host, args.fix_port)
    print(f"sim venue {args.comp_id} accepting FIX 4.4 on {args.host}:{port} "
          f"(instruments: {', '.join(sorted(instruments))})", flush=True)
    stopped = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await acceptor.stop()
    await venue.stop()
    driver.close()
    return 0
