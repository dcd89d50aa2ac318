"""A straightforward exact reference for TCA in Python fractions: per order, then slice by slice into groups.

It reads the same raw columns as ``gateway.tca.tables.build_data`` (decimal text prices) and applies the rules of
docs/tca.md one row at a time, with no numpy and no numba, so the kernels can be checked against it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction

DAY_NS = 86_400 * 1_000_000_000
KEYS = ("client", "account", "strategy", "venue", "symbol")


def price(text: object) -> Fraction | None:
    if text is None:
        return None
    value = str(text).strip()
    if value == "" or value.lower() == "nan":
        return None
    return Fraction(value)


@dataclass
class RefOrder:
    order_id: str
    sign: int
    quantity: int
    decision: Fraction | None
    arrival: Fraction | None
    end: Fraction | None
    arrival_ts: int
    end_ts: int
    keys: dict[str, str]
    fills: list[tuple[int, Fraction, Fraction, int, dict[str, str]]] = field(default_factory=list)
    included: bool = True
    exclusion: str = ""

    @property
    def filled(self) -> int:
        return sum(q for q, _, _, _, _ in self.fills)

    def components(self) -> dict[str, Fraction]:
        assert self.arrival is not None and self.decision is not None
        s, x, q = self.sign, self.quantity, self.filled
        delay = s * x * (self.arrival - self.decision)
        trading = s * sum((fq * (fp - self.arrival) for fq, fp, _, _, _ in self.fills), Fraction(0))
        opportunity = s * (x - q) * (self.end - self.arrival) if x != q else Fraction(0)
        fees = sum((fee for _, _, fee, _, _ in self.fills), Fraction(0))
        return {
            "delay": delay,
            "trading": trading,
            "opportunity": opportunity,
            "fees": fees,
            "total": delay + trading + opportunity + fees,
            "paper_notional": x * self.decision,
        }


def build(order_rows: list[dict[str, object]], fill_rows: list[dict[str, object]]) -> list[RefOrder]:
    """Apply the documented rules: decision defaults to arrival, end to close, bad fills are left out."""
    orders: dict[str, RefOrder] = {}
    for row in order_rows:
        sign = 1 if str(row["side"]).upper() in ("BUY", "B", "1") else -1
        arrival = price(row.get("arrival_price"))
        decision = price(row.get("decision_price")) or arrival
        end = price(row.get("end_price")) or price(row.get("close_price"))
        keys = {k: str(row[k]) for k in KEYS if k in row}
        orders[str(row["order_id"])] = RefOrder(
            str(row["order_id"]),
            sign,
            int(row["quantity"] or 0),
            decision,
            arrival,
            end,
            int(row["arrival_ts"]),
            int(row["end_ts"]),
            keys,
        )
    for row in fill_rows:
        order = orders.get(str(row["order_id"]))
        if order is None:
            continue
        if "side" in row and (1 if str(row["side"]).upper() in ("BUY", "B", "1") else -1) != order.sign:
            continue
        qty = int(row["quantity"] or 0)
        fill_price = price(row["price"])
        if qty <= 0 or fill_price is None or fill_price <= 0:
            continue
        fee = price(row.get("fee")) or Fraction(0)
        keys = {k: str(row[k]) for k in KEYS if k in row}
        order.fills.append((qty, fill_price, fee, int(row["ts"]), keys))
    for order in orders.values():
        for name in KEYS:  # a field the orders lack comes from the order's first kept fill
            if name not in order.keys:
                order.keys[name] = order.fills[0][4].get(name, "(none)") if order.fills else "(none)"
        if order.quantity <= 0:
            order.included, order.exclusion = False, "ZERO_QUANTITY"
        elif order.arrival is None or order.arrival <= 0:
            order.included, order.exclusion = False, "NO_ARRIVAL_PRICE"
        elif order.end is None and order.filled != order.quantity:
            order.included, order.exclusion = False, "NO_END_PRICE"
    return list(orders.values())


def bucket(ts: int, width_ns: int, offset_ns: int) -> int:
    return ((ts + offset_ns) % DAY_NS) // width_ns


def attribute(
    orders: list[RefOrder],
    group_by: tuple[str, ...],
    width_ns: int,
    offset_ns: int = 0,
    outliers: set[str] | None = None,
) -> dict[tuple[object, ...], dict[str, Fraction]]:
    """Return per group: delay, trading, opportunity, fees, notionals, filled, slice_qty, fills, orders, outliers."""
    groups: dict[tuple[object, ...], dict[str, Fraction]] = defaultdict(lambda: defaultdict(Fraction))

    def key(keys: dict[str, str], ts: int) -> tuple[object, ...]:
        return tuple(bucket(ts, width_ns, offset_ns) if name == "bucket" else keys[name] for name in group_by)

    for order in orders:
        if not order.included:
            continue
        s = order.sign
        home = groups[key(order.keys, order.arrival_ts)]
        home["orders"] += 1
        if outliers is not None and order.order_id in outliers:
            home["outliers"] += 1
        for qty, fill_price, fee, ts, fill_keys in order.fills:
            merged = {**order.keys, **fill_keys}
            g = groups[key(merged, ts)]
            g["delay"] += s * qty * (order.arrival - order.decision)
            g["trading"] += s * qty * (fill_price - order.arrival)
            g["fees"] += fee
            g["paper_notional"] += qty * order.decision
            g["executed_notional"] += qty * fill_price
            g["filled"] += qty
            g["slice_qty"] += qty
            g["fills"] += 1
        rest = order.quantity - order.filled
        if rest:
            g = groups[key(order.keys, order.end_ts)]
            g["delay"] += s * rest * (order.arrival - order.decision)
            g["opportunity"] += s * rest * (order.end - order.arrival)
            g["paper_notional"] += rest * order.decision
            g["slice_qty"] += rest
    return {k: dict(v) for k, v in groups.items()}
