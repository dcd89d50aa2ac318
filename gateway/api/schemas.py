"""Wire messages -> commands. Each decoder checks presence and type of every field and names the field it refuses.

The wire is JSON objects. Prices are decimal strings (numbers are accepted) at the instrument's precision; quantities
are integers; times are integer nanoseconds since the epoch.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from gateway.model import (
    AmendOrder,
    CancelOrder,
    ErrorCode,
    Instrument,
    KillScope,
    OrderType,
    SetKillSwitch,
    Side,
    SubmitOrder,
    TimeInForce,
    refuse,
)

E = TypeVar("E", bound=Enum)

MAX_ID_LENGTH = 64
_MEMBERS_BY_VALUE: dict[type[Enum], dict[Any, Any]] = {}  # enum class -> value -> member


def require(payload: dict[str, Any], name: str) -> Any:
    try:
        return payload[name]
    except KeyError:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} is required", name) from None


def text_field(payload: dict[str, Any], name: str, required: bool = True, max_length: int = MAX_ID_LENGTH) -> Any:
    value = payload.get(name)
    if type(value) is str and 0 < len(value) <= max_length:  # the common case, decided in one test (hot path)
        return value
    value = require(payload, name) if required else value
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be a non-empty string", name)
    if len(value) > max_length:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} is longer than {max_length} characters", name)
    return value


def int_field(payload: dict[str, Any], name: str, required: bool = True) -> Any:
    value = payload.get(name)
    if type(value) is int:  # the common case (a bool is not of type int): one test on the hot path
        return value
    value = require(payload, name) if required else value
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be an integer, got {type(value).__name__}", name)
    return value


def quantity_field(payload: dict[str, Any], name: str = "quantity", required: bool = True) -> Any:
    value = int_field(payload, name, required)
    if value is not None and value <= 0:
        raise refuse(ErrorCode.VALIDATION_QUANTITY, f"{name} must be positive, got {value}", name)
    return value


def enum_field(payload: dict[str, Any], name: str, kind: type[E], default: E | None = None) -> E:
    value = payload.get(name)
    if value is None:
        if default is None:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} is required", name)
        return default
    if isinstance(value, str):
        members = _MEMBERS_BY_VALUE.get(kind)
        if members is None:
            members = _MEMBERS_BY_VALUE[kind] = {member.value: member for member in kind}
        member = members.get(value)  # spelled exactly: a dict lookup, not Enum.__call__ (hot path)
        if member is not None:
            return member
        for spelling in (value, value.upper(), value.lower()):  # enum values are all upper or all lower case
            try:
                return kind(spelling)
            except ValueError:
                continue
    allowed = ", ".join(member.value for member in kind)
    raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be one of {allowed}, got {value!r}", name)


def instrument_of(payload: dict[str, Any], instruments: dict[str, Instrument]) -> Instrument:
    symbol = text_field(payload, "symbol")
    instrument = instruments.get(symbol)
    if instrument is None:
        raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"symbol {symbol!r} is not known", "symbol")
    return instrument


def decode_submit(payload: dict[str, Any], instruments: dict[str, Instrument]) -> SubmitOrder:
    instrument = instrument_of(payload, instruments)
    order_type = enum_field(payload, "order_type", OrderType, OrderType.LIMIT)
    price = payload.get("price")
    stop_price = payload.get("stop_price")
    return SubmitOrder(
        account=text_field(payload, "account"),
        symbol=instrument.symbol,
        side=enum_field(payload, "side", Side),
        order_type=order_type,
        quantity=quantity_field(payload),
        client_order_id=text_field(payload, "client_order_id"),
        time_in_force=enum_field(payload, "time_in_force", TimeInForce, TimeInForce.DAY),
        limit_price=None if price is None else instrument.parse_price(price, "price"),
        stop_price=None if stop_price is None else instrument.parse_price(stop_price, "stop_price"),
        expire_ns=int_field(payload, "expire_time", required=False),
    )


def decode_cancel(payload: dict[str, Any]) -> CancelOrder:
    return CancelOrder(text_field(payload, "order_id"))


def decode_amend(payload: dict[str, Any], order_symbol: str, instruments: dict[str, Instrument]) -> AmendOrder:
    price = payload.get("price")
    amend = AmendOrder(
        order_id=text_field(payload, "order_id"),
        quantity=quantity_field(payload, required=False),
        limit_price=None if price is None else instruments[order_symbol].parse_price(price, "price"),
    )
    if amend.quantity is None and amend.limit_price is None:
        raise refuse(ErrorCode.VALIDATION_FIELD, "amend needs quantity or price", "quantity")
    return amend


def decode_kill_switch(payload: dict[str, Any]) -> SetKillSwitch:
    scope = enum_field(payload, "scope", KillScope)
    engaged = require(payload, "engaged")
    if not isinstance(engaged, bool):
        raise refuse(ErrorCode.VALIDATION_FIELD, "engaged must be true or false", "engaged")
    target = "*" if scope is KillScope.GLOBAL else text_field(payload, "target")
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 256:
        raise refuse(ErrorCode.VALIDATION_FIELD, "reason must be a string of at most 256 characters", "reason")
    return SetKillSwitch(scope, target, engaged, reason)
