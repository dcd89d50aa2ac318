"""Our orders to FIX 4.4 application messages and FIX execution reports back to ``gateway.model.ExecutionReport``.

Bodies are built from precomputed fragments (one per side / order type / time in force) with prices written at the
instrument's precision from integer price units; reports are read from the split-decoded ``{tag: value}`` dict with
exact integer parsing of prices and quantities.
"""

from __future__ import annotations

import itertools

import structlog

from adapters.fix.codec import (
    SOH,
    InvalidMessage,
    SessionRejectReason,
    TimestampFormatter,
    check_required,
    decode_fields,
    parse_price_units,
    parse_quantity,
    parse_utc_timestamp,
)
from gateway.model import ExecType, ExecutionReport, Instrument, Order, OrderStatus, OrderType, Side, TimeInForce

log = structlog.get_logger(__name__)

SIDE_CODES = {Side.BUY: "1", Side.SELL: "2"}
ORDER_TYPE_CODES = {OrderType.MARKET: "1", OrderType.LIMIT: "2", OrderType.STOP: "3", OrderType.STOP_LIMIT: "4"}
TIME_IN_FORCE_CODES = {TimeInForce.DAY: "0", TimeInForce.IOC: "3", TimeInForce.FOK: "4", TimeInForce.GTD: "6"}
SIDES = {code: side for side, code in SIDE_CODES.items()}
ORDER_TYPES = {code: kind for kind, code in ORDER_TYPE_CODES.items()}
TIMES_IN_FORCE = {code: tif for tif, code in TIME_IN_FORCE_CODES.items()}

# ExecType (150) -> ours. FIX 4.2's partial fill / fill (1, 2) still arrive from some brokers; done-for-day,
# stopped, suspended and calculated carry no change of their own here: the OrdStatus they bring is what counts.
EXEC_TYPES = {
    "0": ExecType.NEW,
    "1": ExecType.TRADE,
    "2": ExecType.TRADE,
    "3": ExecType.ORDER_STATUS,
    "4": ExecType.CANCELED,
    "5": ExecType.REPLACED,
    "6": ExecType.PENDING_CANCEL,
    "7": ExecType.ORDER_STATUS,
    "8": ExecType.REJECTED,
    "9": ExecType.ORDER_STATUS,
    "A": ExecType.PENDING_NEW,
    "B": ExecType.ORDER_STATUS,
    "C": ExecType.EXPIRED,
    "D": ExecType.RESTATED,
    "E": ExecType.PENDING_REPLACE,
    "F": ExecType.TRADE,
    "G": ExecType.TRADE_CORRECT,
    "H": ExecType.TRADE_CANCEL,
    "I": ExecType.ORDER_STATUS,
    "L": ExecType.TRIGGERED,
}
EXEC_TYPE_CODES = {
    ExecType.NEW: "0",
    ExecType.TRADE: "F",
    ExecType.CANCELED: "4",
    ExecType.REPLACED: "5",
    ExecType.PENDING_CANCEL: "6",
    ExecType.REJECTED: "8",
    ExecType.PENDING_NEW: "A",
    ExecType.EXPIRED: "C",
    ExecType.RESTATED: "D",
    ExecType.PENDING_REPLACE: "E",
    ExecType.TRADE_CORRECT: "G",
    ExecType.TRADE_CANCEL: "H",
    ExecType.ORDER_STATUS: "I",
    ExecType.TRIGGERED: "L",
}
ORDER_STATUSES = {
    "0": OrderStatus.NEW,
    "1": OrderStatus.PARTIALLY_FILLED,
    "2": OrderStatus.FILLED,
    "4": OrderStatus.CANCELED,
    "5": OrderStatus.REPLACED,
    "6": OrderStatus.PENDING_CANCEL,
    "8": OrderStatus.REJECTED,
    "A": OrderStatus.PENDING_NEW,
    "C": OrderStatus.EXPIRED,
    "E": OrderStatus.PENDING_REPLACE,
}
ORDER_STATUS_CODES = {status: code for code, status in ORDER_STATUSES.items()}

# Enum members read through their class cost a descriptor call each on Python 3.11: the hot path uses these names.
_TRADE, _TRADE_CORRECT, _REJECTED = ExecType.TRADE, ExecType.TRADE_CORRECT, ExecType.REJECTED
_MARKET, _LIMIT, _STOP = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP
_GTD = TimeInForce.GTD

# "54=1|40=2|59=0|" for every side, order type and time in force, so a body is one f-string.
_ORDER_FLAGS = {
    (side, kind, tif): f"54={SIDE_CODES[side]}{SOH}40={ORDER_TYPE_CODES[kind]}{SOH}59={TIME_IN_FORCE_CODES[tif]}{SOH}"
    for side, kind, tif in itertools.product(Side, OrderType, TimeInForce)
}


class UnknownInstrument(KeyError):
    """The order's symbol has no instrument in this adapter's configuration."""


class FixOrderMapper:
    """Translate for one FIX session: orders out as message bodies, reports in as ExecutionReports."""

    def __init__(self, venue: str, instruments: dict[str, Instrument], accounts: dict[str, str] | None = None) -> None:
        self.venue = venue
        self.instruments = instruments
        self.accounts = accounts or {}
        self._expire_times = TimestampFormatter()
        self._request_ids = itertools.count(1)

    # --- outbound -------------------------------------------------------------------------------------------------

    def _instrument(self, symbol: str) -> Instrument:
        try:
            return self.instruments[symbol]
        except KeyError:
            raise UnknownInstrument(symbol) from None

    def _prices(self, order: Order, instrument: Instrument, limit_price: int | None) -> str:
        kind = order.order_type
        if kind is _LIMIT:
            text = f"44={instrument.format_price(limit_price)}{SOH}"  # type: ignore[arg-type]
        elif kind is _MARKET:
            text = ""
        elif kind is _STOP:
            text = f"99={instrument.format_price(order.stop_price)}{SOH}"  # type: ignore[arg-type]
        else:
            text = (f"44={instrument.format_price(limit_price)}{SOH}"  # type: ignore[arg-type]
                    f"99={instrument.format_price(order.stop_price)}{SOH}")  # type: ignore[arg-type]
        if order.time_in_force is _GTD and order.expire_ns is not None:
            text += f"126={self._expire_times.format(order.expire_ns)}{SOH}"
        return text

    def new_order_single(self, order: Order, transact_time: str) -> str:
        """NewOrderSingle (35=D) body with ClOrdID ``order.venue_client_order_id``."""
        symbol = order.symbol
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise UnknownInstrument(symbol)
        account = self.accounts.get(order.account, order.account) if self.accounts else order.account
        return (f"11={order.venue_client_order_id}{SOH}1={account}{SOH}21=1{SOH}55={symbol}{SOH}"
                f"{_ORDER_FLAGS[order.side, order.order_type, order.time_in_force]}38={order.quantity}{SOH}"
                f"{self._prices(order, instrument, order.limit_price)}60={transact_time}{SOH}")

    def cancel_request(self, order: Order, cancel_client_order_id: str, transact_time: str) -> str:
        """OrderCancelRequest (35=F) body for the live version ``order.venue_client_order_id``."""
        venue_order_id = f"37={order.venue_order_id}{SOH}" if order.venue_order_id else ""
        account = self.accounts.get(order.account, order.account)
        return (f"41={order.venue_client_order_id}{SOH}11={cancel_client_order_id}{SOH}{venue_order_id}"
                f"1={account}{SOH}55={order.symbol}{SOH}54={SIDE_CODES[order.side]}{SOH}"
                f"38={order.quantity}{SOH}60={transact_time}{SOH}")

    def replace_request(
        self, order: Order, replace_client_order_id: str, quantity: int, limit_price: int | None, transact_time: str
    ) -> str:
        """OrderCancelReplaceRequest (35=G) body: new total quantity and/or limit price; the rest as the order."""
        instrument = self._instrument(order.symbol)
        venue_order_id = f"37={order.venue_order_id}{SOH}" if order.venue_order_id else ""
        account = self.accounts.get(order.account, order.account)
        flags = _ORDER_FLAGS[(order.side, order.order_type, order.time_in_force)]
        price = limit_price if limit_price is not None else order.limit_price
        return (f"41={order.venue_client_order_id}{SOH}11={replace_client_order_id}{SOH}{venue_order_id}"
                f"1={account}{SOH}21=1{SOH}55={order.symbol}{SOH}{flags}38={quantity}{SOH}"
                f"{self._prices(order, instrument, price)}60={transact_time}{SOH}")

    def status_request(self, order: Order) -> str:
        """OrderStatusRequest (35=H) body for the live version of ``order``."""
        venue_order_id = f"37={order.venue_order_id}{SOH}" if order.venue_order_id else ""
        return (f"11={order.venue_client_order_id}{SOH}{venue_order_id}55={order.symbol}{SOH}"
                f"54={SIDE_CODES[order.side]}{SOH}790=S{next(self._request_ids)}{SOH}")

    def mass_status_request(self) -> str:
        """OrderMassStatusRequest (35=AF) body asking for every order (MassStatusReqType 7)."""
        return f"584=M{next(self._request_ids)}{SOH}585=7{SOH}"

    # --- inbound --------------------------------------------------------------------------------------------------

    def execution_report(self, fields: dict[str, str], possible_duplicate: bool) -> ExecutionReport | None:
        """ExecutionReport (35=8) -> ours; None for a report about an order that carries no ClOrdID of ours."""
        try:  # the tags FIX 4.4 requires of an ExecutionReport, read once
            venue_order_id, exec_id, code, status_code = fields["37"], fields["17"], fields["150"], fields["39"]
            symbol, cumulative_text, leaves_text = fields["55"], fields["14"], fields["151"]
            fields["54"], fields["6"]
        except KeyError as missing:
            tag = missing.args[0]
            raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING, f"required tag {tag} missing",
                                 int(tag)) from None
        exec_type = EXEC_TYPES.get(code)
        if exec_type is None:
            raise InvalidMessage(SessionRejectReason.VALUE_IS_INCORRECT, f"ExecType {code!r} unknown", 150)
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise InvalidMessage(SessionRejectReason.VALUE_IS_INCORRECT,
                                 f"Symbol {symbol!r} is not configured for venue {self.venue}", 55)
        client_order_id = fields.get("11")
        if not client_order_id:
            log.warning("fix_report_without_clordid_ignored", venue=self.venue, exec_id=exec_id)
            return None
        tag = "14"
        try:
            cumulative = int(cumulative_text) if cumulative_text.isdecimal() else parse_quantity(cumulative_text)
            tag = "151"
            leaves = int(leaves_text) if leaves_text.isdecimal() else parse_quantity(leaves_text)
            if exec_type is _TRADE or exec_type is _TRADE_CORRECT:
                tag = "32"
                last_text = fields["32"]
                last_quantity = int(last_text) if last_text.isdecimal() else parse_quantity(last_text)
                tag = "31"
                last_price = parse_price_units(fields["31"], instrument.price_precision)
            else:
                last_quantity = last_price = 0
            tag = "60"
            ts_event = parse_utc_timestamp(fields.get("60") or fields["52"])
        except KeyError:
            raise InvalidMessage(SessionRejectReason.REQUIRED_TAG_MISSING, f"required tag {tag} missing",
                                 int(tag)) from None
        except ValueError as error:
            raise InvalidMessage(SessionRejectReason.INCORRECT_DATA_FORMAT, f"tag {tag}: {error}", int(tag)) from None
        # Positional, in ExecutionReport's field order (keywords cost a microsecond here; the tests check each field).
        return ExecutionReport(
            self.venue,
            exec_type,
            client_order_id,
            fields.get("41"),  # orig_client_order_id
            venue_order_id if venue_order_id != "NONE" else None,
            exec_id,
            last_quantity,
            last_price,
            cumulative,
            leaves,
            _reason(fields.get("58"), "OrdRejReason", fields.get("103")) if exec_type is _REJECTED else None,
            fields.get("19"),  # ref_exec_id
            ts_event,
            possible_duplicate,
            ORDER_STATUSES.get(status_code),
        )

    def cancel_reject(self, fields: dict[str, str], possible_duplicate: bool) -> ExecutionReport:
        """OrderCancelReject (35=9) -> an ExecutionReport with exec type CANCEL_REJECTED."""
        check_required(fields, "9")
        try:
            ts_event = parse_utc_timestamp(fields.get("60") or fields["52"])
        except ValueError as error:
            raise InvalidMessage(SessionRejectReason.INCORRECT_DATA_FORMAT, f"tag 60: {error}", 60) from None
        venue_order_id = fields.get("37")
        response_to = "cancel" if fields.get("434") == "1" else "replace"
        return ExecutionReport(
            venue=self.venue,
            exec_type=ExecType.CANCEL_REJECTED,
            client_order_id=fields["11"],
            orig_client_order_id=fields.get("41"),
            venue_order_id=venue_order_id if venue_order_id and venue_order_id != "NONE" else None,
            reject_reason=_reason(fields.get("58") or f"{response_to} rejected", "CxlRejReason", fields.get("102")),
            ts_event=ts_event,
            possible_duplicate=possible_duplicate,
            order_status=ORDER_STATUSES.get(fields["39"]),
        )

    def refused_request(self, referenced: bytes, fields: dict[str, str], now_ns: int) -> ExecutionReport | None:
        """A Reject (35=3) or BusinessMessageReject (35=j) of one of our order messages, as a rejection report."""
        request = decode_fields(referenced)
        msg_type = request.get("35")
        if fields.get("35") == "j":
            why = _reason(fields.get("58"), "BusinessRejectReason", fields.get("380"))
        else:
            why = _reason(fields.get("58"), "SessionRejectReason", fields.get("373"))
        if msg_type == "D":
            exec_type = ExecType.REJECTED
        elif msg_type in ("F", "G"):
            exec_type = ExecType.CANCEL_REJECTED
        else:
            return None
        return ExecutionReport(
            venue=self.venue,
            exec_type=exec_type,
            client_order_id=request.get("11", ""),
            orig_client_order_id=request.get("41"),
            reject_reason=f"refused by the venue's FIX engine: {why}",
            ts_event=now_ns,
        )


def _reason(text: str | None, code_name: str, code: str | None) -> str:
    if code is None:
        return text or "no reason given"
    return f"{text} ({code_name}={code})" if text else f"{code_name}={code}"
