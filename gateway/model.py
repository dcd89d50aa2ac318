"""Domain types shared by every layer: instruments, accounts, orders, fills, reports, refusals.

Prices are integers in *price units* of ``10**-price_precision`` of the instrument (``1700.10`` with precision 2 is
``170010``). Quantities are integer shares. Timestamps are integer nanoseconds since the epoch. Nothing here imports
any other module of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, Enum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(str, Enum):
    DAY = "DAY"
    IOC = "IOC"
    FOK = "FOK"
    GTD = "GTD"


class OrderStatus(str, Enum):
    """FIX OrdStatus semantics."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REPLACED, OrderStatus.REJECTED, OrderStatus.EXPIRED}
)


class ExecType(str, Enum):
    """What a venue's execution report says happened (FIX ExecType, plus CANCEL_REJECTED for 35=9)."""

    PENDING_NEW = "PENDING_NEW"
    NEW = "NEW"
    TRADE = "TRADE"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    PENDING_REPLACE = "PENDING_REPLACE"
    REPLACED = "REPLACED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    TRIGGERED = "TRIGGERED"
    TRADE_CORRECT = "TRADE_CORRECT"
    TRADE_CANCEL = "TRADE_CANCEL"
    RESTATED = "RESTATED"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    ORDER_STATUS = "ORDER_STATUS"


class Role(str, Enum):
    TRADER = "trader"
    RISK = "risk"
    ADMIN = "admin"


class ErrorCode(str, Enum):
    """Stable machine codes carried by every refusal. Never rename one: clients match on them."""

    VALIDATION_JSON = "VALIDATION_JSON"
    VALIDATION_FIELD = "VALIDATION_FIELD"
    VALIDATION_UNKNOWN_SYMBOL = "VALIDATION_UNKNOWN_SYMBOL"
    VALIDATION_UNKNOWN_ACCOUNT = "VALIDATION_UNKNOWN_ACCOUNT"
    VALIDATION_QUANTITY = "VALIDATION_QUANTITY"
    VALIDATION_LOT_SIZE = "VALIDATION_LOT_SIZE"
    VALIDATION_PRICE = "VALIDATION_PRICE"
    VALIDATION_PRICE_TICK = "VALIDATION_PRICE_TICK"
    VALIDATION_PARAMETER = "VALIDATION_PARAMETER"
    AUTH_UNAUTHENTICATED = "AUTH_UNAUTHENTICATED"
    AUTH_FORBIDDEN = "AUTH_FORBIDDEN"
    RISK_MAX_QUANTITY = "RISK_MAX_QUANTITY"
    RISK_MAX_NOTIONAL = "RISK_MAX_NOTIONAL"
    RISK_PRICE_COLLAR = "RISK_PRICE_COLLAR"
    RISK_PRICE_LIMIT = "RISK_PRICE_LIMIT"
    RISK_MAX_OPEN_ORDERS = "RISK_MAX_OPEN_ORDERS"
    RISK_THROTTLE_PRINCIPAL = "RISK_THROTTLE_PRINCIPAL"
    RISK_THROTTLE_VENUE = "RISK_THROTTLE_VENUE"
    RISK_DUPLICATE_CLIENT_ORDER_ID = "RISK_DUPLICATE_CLIENT_ORDER_ID"
    RISK_RESTRICTED_SYMBOL = "RISK_RESTRICTED_SYMBOL"
    RISK_KILL_SWITCH = "RISK_KILL_SWITCH"
    RISK_INCREASES_EXPOSURE = "RISK_INCREASES_EXPOSURE"
    RISK_ACCOUNT_LIQUIDATING = "RISK_ACCOUNT_LIQUIDATING"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    ORDER_NOT_AMENDABLE = "ORDER_NOT_AMENDABLE"
    ORDER_NOT_CANCELABLE = "ORDER_NOT_CANCELABLE"
    VENUE_REJECTED = "VENUE_REJECTED"
    VENUE_UNAVAILABLE = "VENUE_UNAVAILABLE"
    JOURNAL_UNAVAILABLE = "JOURNAL_UNAVAILABLE"
    INTERNAL = "INTERNAL"


MAX_PRICE_TEXT = 40  # characters of a wire price
MIN_PRICE_EXPONENT = -12  # a wire price's decimal exponent stays in this range: no million-digit arithmetic
MAX_PRICE_EXPONENT = 15


@dataclass(slots=True, frozen=True)
class Refusal:
    """Why a command was not carried out: a stable code and a message naming the field or limit and the value."""

    code: ErrorCode
    message: str
    field: str | None = None


class RefusalError(Exception):
    """Raised by validation helpers; carries a Refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def refuse(code: ErrorCode, message: str, field: str | None = None) -> RefusalError:
    return RefusalError(Refusal(code, message, field))


@dataclass(slots=True)
class Instrument:
    symbol: str
    tick_size: int  # price units
    lot_size: int
    price_precision: int
    reference_price: int  # price units: previous close, the day's base for limits and collars
    limit_down: int  # price units; 0 means none
    limit_up: int  # price units; 0 means none
    average_daily_volume: int
    price_scale: int = 0

    def __post_init__(self) -> None:
        self.price_scale = 10**self.price_precision

    def parse_price(self, value: object, field_name: str = "price") -> int:
        """Turn a wire price (string or number) into exact price units, refusing anything finer than the precision."""
        # Fast path for the common shapes ("1700.10", 1700): exact integer arithmetic, well inside Decimal's 28 digits,
        # so the result is the same as below. Anything else, and every refusal, takes the Decimal path.
        if type(value) is str:
            whole, dot, fraction = value.partition(".")
            if (0 < len(whole) <= 15 and whole.isdigit() and whole.isascii() and len(fraction) <= self.price_precision
                    and (not dot or (fraction.isdigit() and fraction.isascii()))):
                price = int(whole) * self.price_scale
                if fraction:
                    price += int(fraction) * 10 ** (self.price_precision - len(fraction))
                if price > 0 and not price % self.tick_size:
                    return price
        elif type(value) is int and 0 < value < 10**15:
            price = value * self.price_scale
            if not price % self.tick_size:
                return price
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{field_name} must be a decimal string or number", field_name)
        if isinstance(value, str) and len(value) > MAX_PRICE_TEXT:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{field_name} is longer than {MAX_PRICE_TEXT} characters",
                         field_name)
        try:
            decimal = Decimal(value) if isinstance(value, (str, int)) else Decimal(repr(value))
        except InvalidOperation:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{field_name} {value!r} is not a decimal number", field_name)
        if not decimal.is_finite() or decimal <= 0:
            raise refuse(ErrorCode.VALIDATION_PRICE, f"{field_name} must be positive, got {value}", field_name)
        # an exponent like 1e999990 would make int() build a million-digit number and stall the loop
        if not MIN_PRICE_EXPONENT <= decimal.adjusted() <= MAX_PRICE_EXPONENT:
            raise refuse(ErrorCode.VALIDATION_PRICE, f"{field_name} {value} is outside 1e{MIN_PRICE_EXPONENT} to "
                         f"1e{MAX_PRICE_EXPONENT}", field_name)
        units = decimal * self.price_scale
        if units != units.to_integral_value():
            raise refuse(
                ErrorCode.VALIDATION_PRICE_TICK,
                f"{field_name} {value} has more than {self.price_precision} decimals for {self.symbol}",
                field_name,
            )
        price = int(units)
        if price % self.tick_size:
            raise refuse(
                ErrorCode.VALIDATION_PRICE_TICK,
                f"{field_name} {value} is off the tick {self.format_price(self.tick_size)} of {self.symbol}",
                field_name,
            )
        return price

    def format_price(self, price: int) -> str:
        """Exact decimal text at the instrument's precision, e.g. 170010 -> '1700.10'."""
        if self.price_precision == 0:
            return str(price)
        sign = "-" if price < 0 else ""
        whole, frac = divmod(abs(price), self.price_scale)
        return f"{sign}{whole}.{frac:0{self.price_precision}d}"

    def format_average(self, cost: int, quantity: int) -> str:
        """An average price (sum of qty * price units over qty) with four more decimals than the tick, exactly rounded."""
        digits = self.price_precision + 4
        average = (Decimal(cost) / (Decimal(quantity) * self.price_scale)).quantize(Decimal(1).scaleb(-digits))
        return f"{average:f}"

    def to_float(self, price: int) -> float:
        return price / self.price_scale

    def round_to_tick(self, price: int, side: Side, aggressive: bool = False) -> int:
        """Round to the tick: a passive price moves away from the market, an aggressive one towards it."""
        tick = self.tick_size
        down = price - price % tick
        if down == price:
            return price
        towards_buy_side = (side is Side.BUY) != aggressive
        return down if towards_buy_side else down + tick

    def within_limits(self, price: int) -> bool:
        return (not self.limit_down or price >= self.limit_down) and (not self.limit_up or price <= self.limit_up)


@dataclass(slots=True)
class Position:
    account: str
    symbol: str
    quantity: int = 0  # signed: long > 0
    cost: int = 0  # signed sum of qty * price units for the open quantity, for average cost
    realized_pnl: int = 0  # qty * price units
    tags: frozenset[str] = frozenset()

    def apply_fill(self, side: Side, quantity: int, price: int) -> None:
        signed = quantity * side.sign
        if self.quantity == 0 or (self.quantity > 0) == (signed > 0):
            self.quantity += signed
            self.cost += signed * price
            return
        closing = min(abs(signed), abs(self.quantity))
        average = self.cost // self.quantity if self.quantity else 0
        direction = 1 if self.quantity > 0 else -1
        self.realized_pnl += closing * (price - average) * direction
        self.cost -= direction * closing * average
        self.quantity += signed
        remainder = abs(signed) - closing
        if self.quantity == 0:
            self.cost = 0
        elif remainder:
            self.cost = signed // abs(signed) * remainder * price


@dataclass(slots=True)
class Account:
    account_id: str
    trader: str | None = None  # the principal who owns it, if a trader does
    cash: int = 0  # currency minor units are not modelled; whole currency
    start_positions: dict[str, int] = field(default_factory=dict)
    liquidate_last: frozenset[str] = frozenset()


@dataclass(slots=True)
class Order:
    """One order as the gateway sees it: a trader's order, or a child of a parent or of a liquidation."""

    order_id: str
    client_order_id: str
    account: str
    principal: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    quantity: int
    limit_price: int | None
    stop_price: int | None
    expire_ns: int | None
    venue: str
    ts_created: int
    parent_id: str | None = None
    liquidation: bool = False
    status: OrderStatus = OrderStatus.PENDING_NEW
    filled_quantity: int = 0
    filled_cost: int = 0  # sum of qty * price units, for the average price
    venue_order_id: str | None = None
    venue_client_order_id: str = ""  # ClOrdID of the live version at the venue
    pending_client_order_id: str | None = None  # ClOrdID of a cancel or replace in flight
    pending_quantity: int | None = None
    pending_limit_price: int | None = None
    status_before_pending: OrderStatus | None = None
    replace_count: int = 0
    cancel_count: int = 0
    reject_reason: str | None = None
    ts_updated: int = 0
    arrival_price: int = 0  # price units: engine.reference_price(symbol) when the gateway accepted it (TCA's arrival)

    @property
    def leaves_quantity(self) -> int:
        return 0 if self.status.is_terminal else self.quantity - self.filled_quantity

    @property
    def is_working(self) -> bool:
        return not self.status.is_terminal


@dataclass(slots=True)
class ExecutionReport:
    """A venue's word on one of our orders, already out of the venue's format."""

    venue: str
    exec_type: ExecType
    client_order_id: str  # the ClOrdID the report is about (for cancel/replace: the request's new id)
    orig_client_order_id: str | None = None
    venue_order_id: str | None = None
    exec_id: str | None = None
    last_quantity: int = 0
    last_price: int = 0
    cumulative_quantity: int | None = None
    leaves_quantity: int | None = None
    reject_reason: str | None = None
    ref_exec_id: str | None = None  # for TRADE_CORRECT / TRADE_CANCEL
    ts_event: int = 0
    possible_duplicate: bool = False
    order_status: OrderStatus | None = None  # the venue's OrdStatus (FIX 39) when it sent one: reconciliation needs it


@dataclass(slots=True)
class Quote:
    venue: str
    symbol: str
    bid_price: int
    bid_size: int
    ask_price: int
    ask_size: int
    ts_event: int

    @property
    def mid_price(self) -> int:
        return (self.bid_price + self.ask_price) // 2


@dataclass(slots=True)
class TradePrint:
    """A trade on the venue's public tape; ``own`` when one side was ours, so participation can leave it out."""

    venue: str
    symbol: str
    price: int
    quantity: int
    ts_event: int
    own: bool = False


class VenueStatus(str, Enum):
    OPEN = "OPEN"
    HALTED = "HALTED"
    CLOSED = "CLOSED"


@dataclass(slots=True)
class SymbolStatus:
    venue: str
    symbol: str
    status: VenueStatus
    ts_event: int


# --- commands: imperative, what a principal asks for -------------------------------------------------------------


@dataclass(slots=True)
class SubmitOrder:
    account: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    client_order_id: str
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: int | None = None
    stop_price: int | None = None
    expire_ns: int | None = None


@dataclass(slots=True)
class CancelOrder:
    order_id: str


@dataclass(slots=True)
class AmendOrder:
    order_id: str
    quantity: int | None = None
    limit_price: int | None = None


class KillScope(str, Enum):
    GLOBAL = "global"
    ACCOUNT = "account"
    TRADER = "trader"


@dataclass(slots=True)
class SetKillSwitch:
    scope: KillScope
    target: str  # account id or trader name; "*" for global
    engaged: bool
    reason: str = ""


# --- events: past tense, what happened ---------------------------------------------------------------------------


@dataclass(slots=True)
class OrderEvent:
    """Every change to an order. ``event`` is its name: OrderSubmitted, OrderAccepted, OrderRejected, OrderFilled,
    OrderPendingCancel, OrderCanceled, OrderPendingReplace, OrderReplaced, OrderCancelRejected, OrderExpired,
    OrderTriggered, OrderFillCorrected, OrderFillBusted. Prices are decimal strings at the instrument's precision."""

    event: str
    ts_event: int
    account: str
    order_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    status: OrderStatus
    quantity: int
    filled_quantity: int
    leaves_quantity: int
    limit_price: str | None
    average_price: str | None
    parent_id: str | None = None
    last_quantity: int = 0
    last_price: str | None = None
    exec_id: str | None = None
    code: ErrorCode | None = None
    reason: str | None = None


@dataclass(slots=True)
class KillSwitchChanged:
    ts_event: int
    scope: KillScope
    target: str
    engaged: bool
    reason: str
    principal: str
    canceled_orders: int
    event: str = "KillSwitchChanged"
    account: str | None = None  # set for account scope, so the account's owner sees it


@dataclass(slots=True)
class PositionChanged:
    ts_event: int
    account: str
    symbol: str
    quantity: int
    average_price: str | None
    realized_pnl: str
    event: str = "PositionChanged"


# --- parent orders (algorithms) ----------------------------------------------------------------------------------


@dataclass(slots=True)
class SubmitParent:
    """Work ``quantity`` shares (or ``cash_amount`` of currency) with an execution algorithm (TWAP, VWAP, POV).

    Exactly one of ``quantity`` and ``cash_amount`` is given; cash (whole currency) becomes shares at the arrival
    price, rounded down to the lot. ``params`` are the algorithm's, validated by ``algos.create_algorithm``.
    """

    account: str
    symbol: str
    side: Side
    quantity: int | None
    algo: str
    params: dict[str, object]
    client_order_id: str
    cash_amount: int | None = None
