"""Running implementation shortfall of one parent order, updated per fill in constant time (pure Python, no numba).

Prices are integer price units (``10**-price_precision``) as everywhere in the gateway, so the currency figures are
exact integers of ``quantity * price units`` until ``snapshot`` formats them. Side s is +1 buy, -1 sell; positive
is a cost. For a liquidation the decision price is the mid when the risk engine's mandatory instruction arrived, so
the delay component measures the gateway's own reaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from gateway.model import ErrorCode, Side, refuse

_BPS = 10_000


@dataclass(slots=True)
class LiveShortfall:
    """Implementation shortfall of a working parent: delay, trading, opportunity at the current mid, fees."""

    side: Side
    quantity: int  # X, the parent's quantity when it was decided
    arrival_price: int  # price units: mid when the parent reached the gateway
    decision_price: int  # price units: the paper portfolio's price
    price_precision: int
    filled_quantity: int = 0
    filled_cost: int = 0  # sum of q * p, price units
    fees: int = 0  # price units of currency, positive is paid
    fills: int = 0
    mark_price: int = 0  # latest mid (or end price once finished); 0 until marked
    finished: bool = False

    @classmethod
    def start(
        cls,
        side: Side,
        quantity: int,
        arrival_price: int,
        price_precision: int,
        decision_price: int | None = None,
    ) -> LiveShortfall:
        """Start tracking a parent; without a decision price the arrival price stands in (delay is then zero)."""
        if quantity <= 0:
            raise refuse(ErrorCode.VALIDATION_QUANTITY, f"quantity must be positive, got {quantity}", "quantity")
        if arrival_price <= 0:
            raise refuse(
                ErrorCode.VALIDATION_PRICE, f"arrival_price must be positive, got {arrival_price}", "arrival_price"
            )
        decision = arrival_price if decision_price is None else decision_price
        if decision <= 0:
            raise refuse(
                ErrorCode.VALIDATION_PRICE, f"decision_price must be positive, got {decision}", "decision_price"
            )
        return cls(side, quantity, arrival_price, decision, price_precision, mark_price=arrival_price)

    # --- updates: each O(1) -------------------------------------------------------------------------------------

    def on_fill(self, quantity: int, price: int, fee: int = 0) -> None:
        """Add one fill of the parent (any child, any venue)."""
        if quantity <= 0:
            raise refuse(ErrorCode.VALIDATION_QUANTITY, f"fill quantity must be positive, got {quantity}", "quantity")
        if price <= 0:
            raise refuse(ErrorCode.VALIDATION_PRICE, f"fill price must be positive, got {price}", "price")
        self.filled_quantity += quantity
        self.filled_cost += quantity * price
        self.fees += fee
        self.fills += 1

    def on_fill_busted(self, quantity: int, price: int, fee: int = 0) -> None:
        """Take back a fill the venue busted."""
        if quantity <= 0 or quantity > self.filled_quantity:
            raise refuse(
                ErrorCode.VALIDATION_QUANTITY,
                f"busted quantity must be in 1..{self.filled_quantity}, got {quantity}",
                "quantity",
            )
        self.filled_quantity -= quantity
        self.filled_cost -= quantity * price
        self.fees -= fee
        self.fills -= 1

    def on_mid(self, mid_price: int) -> None:
        """Mark the unfilled rest at a new mid; ignored once finished."""
        if not self.finished and mid_price > 0:
            self.mark_price = mid_price

    def finish(self, end_price: int) -> None:
        """Freeze the opportunity cost at the end price (the parent is done, canceled or expired)."""
        if end_price > 0:
            self.mark_price = end_price
        self.finished = True

    # --- figures: integers of quantity * price units --------------------------------------------------------------

    @property
    def sign(self) -> int:
        return self.side.sign

    @property
    def remaining_quantity(self) -> int:
        return self.quantity - self.filled_quantity

    @property
    def paper_notional(self) -> int:
        return self.quantity * self.decision_price

    @property
    def delay_cost(self) -> int:
        return self.sign * self.quantity * (self.arrival_price - self.decision_price)

    @property
    def trading_cost(self) -> int:
        return self.sign * (self.filled_cost - self.filled_quantity * self.arrival_price)

    @property
    def opportunity_cost(self) -> int:
        return self.sign * self.remaining_quantity * (self.mark_price - self.arrival_price)

    @property
    def total_cost(self) -> int:
        return self.delay_cost + self.trading_cost + self.opportunity_cost + self.fees

    def bps(self, cost: int) -> float:
        """Return a cost in bps of the paper notional."""
        return cost * _BPS / self.paper_notional

    @property
    def slippage_vs_arrival_bps(self) -> float | None:
        if self.filled_quantity == 0:
            return None
        return self.trading_cost * _BPS / (self.filled_quantity * self.arrival_price)

    def average_price(self) -> Decimal | None:
        """Return the average fill price in currency, to four decimals beyond the instrument's precision."""
        if self.filled_quantity == 0:
            return None
        exact = Decimal(self.filled_cost) / Decimal(self.filled_quantity) / (Decimal(10) ** self.price_precision)
        return exact.quantize(Decimal(1).scaleb(-(self.price_precision + 4)), rounding=ROUND_HALF_EVEN)

    def _money(self, value: int) -> str:
        """Format an integer of quantity * price units as exact currency text."""
        scale = 10**self.price_precision
        if self.price_precision == 0:
            return str(value)
        sign = "-" if value < 0 else ""
        whole, frac = divmod(abs(value), scale)
        return f"{sign}{whole}.{frac:0{self.price_precision}d}"

    def snapshot(self) -> dict[str, object]:
        """Return the figures for a progress event: currency as exact decimal text, bps as floats to 0.01."""
        average = self.average_price()
        slippage = self.slippage_vs_arrival_bps
        parts = {
            "delay": self.delay_cost,
            "trading": self.trading_cost,
            "opportunity": self.opportunity_cost,
            "fees": self.fees,
            "total": self.total_cost,
        }
        out: dict[str, object] = {
            "filled_quantity": self.filled_quantity,
            "remaining_quantity": self.remaining_quantity,
            "fills": self.fills,
            "average_price": None if average is None else str(average),
            "mark_price": self._money(self.mark_price),
            "slippage_vs_arrival_bps": None if slippage is None else round(slippage, 2),
            "finished": self.finished,
        }
        for name, value in parts.items():
            out[f"{name}_cost"] = self._money(value)
            out[f"{name}_bps"] = round(self.bps(value), 2)
        return out
