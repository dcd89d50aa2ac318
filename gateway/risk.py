"""Pre-trade risk: order limits, price collar and limits, open orders, throttles, restricted symbols, kill switch.

Every check returns None or a Refusal with a stable code and a message naming the limit and the value. Checks run in
order of cost, cheapest first, and touch no I/O: they sit on the hot path.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import Principal, RiskConfig, RiskLimits
from gateway.model import ErrorCode, Instrument, KillScope, OrderType, Refusal, Side

NANOS_PER_SECOND = 1_000_000_000


class TokenBucket:
    """Messages per second with a burst of one second's worth, in integer nanosecond-tokens.

    ``reserved_share`` of the bucket is kept for priority traffic (liquidation): ordinary traffic stops short of it.
    """

    __slots__ = ("rate", "capacity", "tokens", "last_ns", "reserved")

    def __init__(self, rate_per_second: int, now_ns: int, reserved_share: float = 0.0) -> None:
        self.rate = rate_per_second
        self.capacity = rate_per_second * NANOS_PER_SECOND
        self.tokens = self.capacity
        self.last_ns = now_ns
        self.reserved = int(self.capacity * reserved_share)

    def try_take(self, now_ns: int, priority: bool = False) -> bool:
        elapsed = now_ns - self.last_ns
        if elapsed > 0:
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
            self.last_ns = now_ns
        floor = 0 if priority else self.reserved
        if self.tokens - NANOS_PER_SECOND < floor:
            return False
        self.tokens -= NANOS_PER_SECOND
        return True


@dataclass(slots=True)  # not frozen: a frozen init pays object.__setattr__ per field, and this is built per order
class OrderCheck:
    """The facts one order's checks need; built by the engine."""

    principal: Principal
    account: str
    instrument: Instrument
    side: Side
    order_type: OrderType
    quantity: int
    limit_price: int | None
    stop_price: int | None
    reference_price: int
    open_orders: int
    liquidation: bool = False


class KillSwitch:
    """Engaged scopes: global, by account, by trader. An engaged scope refuses new orders until released."""

    def __init__(self) -> None:
        self.global_engaged = False
        self.accounts: set[str] = set()
        self.traders: set[str] = set()

    def set(self, scope: KillScope, target: str, engaged: bool) -> None:
        if scope is KillScope.GLOBAL:
            self.global_engaged = engaged
            return
        targets = self.accounts if scope is KillScope.ACCOUNT else self.traders
        if engaged:
            targets.add(target)
        else:
            targets.discard(target)

    def blocks(self, account: str, trader: str) -> Refusal | None:
        if self.global_engaged:
            return Refusal(ErrorCode.RISK_KILL_SWITCH, "kill switch engaged at global scope")
        if account in self.accounts:
            return Refusal(ErrorCode.RISK_KILL_SWITCH, f"kill switch engaged for account {account}", "account")
        if trader in self.traders:
            return Refusal(ErrorCode.RISK_KILL_SWITCH, f"kill switch engaged for trader {trader}")
        return None

    def state(self) -> dict[str, object]:
        return {"global": self.global_engaged, "accounts": sorted(self.accounts), "traders": sorted(self.traders)}


class RiskGate:
    def __init__(self, config: RiskConfig) -> None:
        self.config = config
        self.kill_switch = KillSwitch()
        self.reduce_only_accounts: set[str] = set()  # accounts at the warning tier: no new exposure
        self.locked_accounts: set[str] = set()  # accounts under mandatory liquidation: only its own orders go
        self._principal_buckets: dict[str, TokenBucket] = {}
        self._venue_buckets: dict[str, TokenBucket] = {}

    def limits_for(self, account: str) -> RiskLimits:
        return self.config.account_limits.get(account, self.config.default_limits)

    def check_principal_rate(self, principal: str, now_ns: int, priority: bool = False) -> Refusal | None:
        rate = self.config.principal_messages_per_second
        if not rate:
            return None
        bucket = self._principal_buckets.get(principal)
        if bucket is None:
            bucket = self._principal_buckets[principal] = TokenBucket(rate, now_ns)
        if bucket.try_take(now_ns, priority):
            return None
        return Refusal(ErrorCode.RISK_THROTTLE_PRINCIPAL,
                       f"message rate for principal {principal} above the limit of {rate} per second")

    def check_venue_rate(self, venue: str, now_ns: int, liquidation: bool) -> Refusal | None:
        rate = self.config.venue_messages_per_second
        if not rate:
            return None
        bucket = self._venue_buckets.get(venue)
        if bucket is None:
            bucket = self._venue_buckets[venue] = TokenBucket(rate, now_ns, self.config.liquidation_reserved_share)
        if bucket.try_take(now_ns, liquidation):
            return None
        share = "" if liquidation else f" less the {self.config.liquidation_reserved_share:.0%} reserved for liquidation"
        return Refusal(ErrorCode.RISK_THROTTLE_VENUE,
                       f"message rate to venue {venue} above the limit of {rate} per second{share}")

    def check_order(self, check: OrderCheck) -> Refusal | None:
        instrument = check.instrument
        symbol = instrument.symbol
        if not check.liquidation:
            refusal = self.kill_switch.blocks(check.account, check.principal.name)
            if refusal is not None:
                return refusal
        if symbol in self.config.restricted_symbols:
            return Refusal(ErrorCode.RISK_RESTRICTED_SYMBOL, f"symbol {symbol} is restricted", "symbol")
        limits = self.limits_for(check.account)
        instrument_limits = self.config.instrument_limits.get(symbol)
        quantity = check.quantity
        for scoped in (limits, instrument_limits):  # the scope's name is spelled only when it refuses
            if scoped is not None and scoped.max_order_quantity and quantity > scoped.max_order_quantity:
                scope = f"account {check.account}" if scoped is limits else f"instrument {symbol}"
                return Refusal(ErrorCode.RISK_MAX_QUANTITY,
                               f"quantity {quantity} above the {scope} limit of {scoped.max_order_quantity}", "quantity")
        price = check.limit_price
        if price is None:
            price = check.stop_price if check.stop_price is not None else check.reference_price
        for field_name, value in (("price", check.limit_price), ("stop_price", check.stop_price)):
            if value is not None and not instrument.within_limits(value):
                return Refusal(
                    ErrorCode.RISK_PRICE_LIMIT,
                    f"{field_name} {instrument.format_price(value)} outside {symbol} daily limits "
                    f"[{instrument.format_price(instrument.limit_down)}, {instrument.format_price(instrument.limit_up)}]",
                    field_name,
                )
        collar_bps = self.config.price_collar_bps
        if collar_bps and check.limit_price is not None and check.reference_price:
            reference = check.reference_price
            # integer form of |price - reference| / reference > collar: no float on the money path
            if abs(check.limit_price - reference) * 10_000 > collar_bps * reference:
                return Refusal(
                    ErrorCode.RISK_PRICE_COLLAR,
                    f"price {instrument.format_price(check.limit_price)} more than {collar_bps} bps from the "
                    f"reference price {instrument.format_price(reference)}",
                    "price",
                )
        notional_units = quantity * price
        scale = instrument.price_scale
        for scoped in (limits, instrument_limits):
            if scoped is not None and scoped.max_order_notional and notional_units > scoped.max_order_notional * scale:
                scope = f"account {check.account}" if scoped is limits else f"instrument {symbol}"
                return Refusal(
                    ErrorCode.RISK_MAX_NOTIONAL,
                    f"notional {instrument.format_price(notional_units)} above the {scope} limit of "
                    f"{scoped.max_order_notional}",
                    "quantity",
                )
        if limits.max_open_orders and check.open_orders >= limits.max_open_orders and not check.liquidation:
            return Refusal(ErrorCode.RISK_MAX_OPEN_ORDERS,
                           f"account {check.account} has {check.open_orders} open orders, the limit is "
                           f"{limits.max_open_orders}", "account")
        return None

    @staticmethod
    def increases_exposure(side: Side, quantity: int, position: int, working_same_side: int) -> bool:
        """True when the order, with the account's working orders on its side, would grow or flip the position."""
        if side is Side.BUY:
            return position >= 0 or quantity + working_same_side > -position
        return position <= 0 or quantity + working_same_side > position
