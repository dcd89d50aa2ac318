"""Columnar orders, fills and market prints for TCA, built from raw columns with explicit rules for missing values.

Prices arrive as decimal text (CSV, journal) or numbers (Parquet) and become float64; quantities are integers;
timestamps are integer nanoseconds since the epoch (ISO 8601 text in UTC is accepted too). Text fields used for
grouping become int32 category codes in one label space per key shared by orders and fills.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.model import ErrorCode, refuse

KEY_NAMES: tuple[str, ...] = ("client", "account", "strategy", "venue", "symbol")
MISSING_LABEL = "(none)"
MISSING_TS = np.iinfo(np.int64).min

ORDER_REQUIRED = ("order_id", "side", "quantity", "arrival_price")
ORDER_PRICES = (
    "decision_price",
    "arrival_price",
    "end_price",
    "interval_vwap",
    "day_vwap",
    "close_price",
    "prev_close_price",
)
ORDER_TIMES = ("decision_ts", "arrival_ts", "end_ts")
FILL_REQUIRED = ("order_id", "quantity", "price", "ts")
TAPE_REQUIRED = ("symbol", "ts", "price", "quantity")

# Why an order was left out of every figure.
EXCLUDE_QUANTITY = "ZERO_QUANTITY"
EXCLUDE_ARRIVAL = "NO_ARRIVAL_PRICE"
EXCLUDE_END = "NO_END_PRICE"


@dataclass(slots=True)
class Categories:
    """One label space per grouping key, shared by orders and fills so equal text means equal code."""

    labels: dict[str, list[str]] = field(default_factory=lambda: {key: [] for key in KEY_NAMES})
    _index: dict[str, dict[str, int]] = field(default_factory=lambda: {key: {} for key in KEY_NAMES})

    def encode(self, key: str, values: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Return int32 codes for the values, adding new labels; empty or missing text becomes MISSING_LABEL."""
        out = np.empty(len(values), dtype=np.int32)
        seen: dict[Any, int] = {}
        for row, value in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            code = seen.get(value)
            if code is None:
                code = seen[value] = self.code(key, _label(value))
            out[row] = code
        return out

    def code(self, key: str, label: str) -> int:
        index = self._index[key]
        found = index.get(label)
        if found is None:
            found = len(self.labels[key])
            index[label] = found
            self.labels[key].append(label)
        return found

    def size(self, key: str) -> int:
        return len(self.labels[key])


@dataclass(slots=True)
class OrderTable:
    order_id: np.ndarray  # str
    side: np.ndarray  # int8, +1 buy, -1 sell
    quantity: np.ndarray  # int64
    decision_price: np.ndarray  # float64
    arrival_price: np.ndarray
    end_price: np.ndarray
    interval_vwap: np.ndarray
    day_vwap: np.ndarray
    close_price: np.ndarray
    prev_close_price: np.ndarray
    decision_ts: np.ndarray  # int64 ns
    arrival_ts: np.ndarray
    end_ts: np.ndarray
    liquidation: np.ndarray  # bool
    keys: dict[str, np.ndarray]  # int32 codes per KEY_NAMES
    included: np.ndarray  # bool
    exclusion: np.ndarray  # str: "" or why the order was left out
    decision_from_arrival: np.ndarray  # bool: no decision price was given, so delay is zero by construction

    def __len__(self) -> int:
        return int(self.quantity.shape[0])


@dataclass(slots=True)
class FillTable:
    order_index: np.ndarray  # int32 row in OrderTable; -1 when the order is unknown or the side disagrees
    quantity: np.ndarray  # int64
    price: np.ndarray  # float64
    fee: np.ndarray  # float64
    ts: np.ndarray  # int64 ns
    keys: dict[str, np.ndarray]
    keys_vary: tuple[str, ...] = ()  # keys whose code differs between an order's fills or from the order's own

    def __len__(self) -> int:
        return int(self.quantity.shape[0])


@dataclass(slots=True)
class TapeTable:
    """Public trades of the market, ``own`` marking prints that were ours."""

    symbol: np.ndarray  # int32 codes in Categories "symbol"
    ts: np.ndarray
    price: np.ndarray
    quantity: np.ndarray  # float64
    own: np.ndarray  # bool

    def __len__(self) -> int:
        return int(self.ts.shape[0])


@dataclass(slots=True)
class TcaData:
    orders: OrderTable
    fills: FillTable
    categories: Categories
    tape: TapeTable | None = None
    unknown_order_fills: int = 0
    side_mismatch_fills: int = 0


def _label(value: Any) -> str:
    if value is None:
        return MISSING_LABEL
    if isinstance(value, float) and math.isnan(value):
        return MISSING_LABEL
    text = str(value).strip()
    return text if text else MISSING_LABEL


def _where(source: str, column: str, row: int) -> str:
    return f"{source} row {row + 1} column {column}"


def parse_prices(values: Sequence[Any] | np.ndarray, source: str, column: str) -> np.ndarray:
    """Return float64 prices; empty, None and 'nan' become NaN, anything else not a number is refused."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(np.float64)
    out = np.empty(len(values), dtype=np.float64)
    for row, value in enumerate(values):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            out[row] = np.nan
            continue
        try:
            out[row] = float(value)
        except (TypeError, ValueError):
            raise refuse(
                ErrorCode.VALIDATION_PRICE, f"{_where(source, column, row)}: {value!r} is not a decimal number", column
            ) from None
    return out


def parse_quantities(values: Sequence[Any] | np.ndarray, source: str, column: str) -> np.ndarray:
    """Return int64 quantities; empty means 0 (left out later), a fraction or text is refused."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype(np.int64)
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if value is None or (isinstance(value, str) and value.strip() == ""):
            out[row] = 0
            continue
        if isinstance(value, float) and math.isnan(value):
            out[row] = 0
            continue
        try:
            number = float(value) if not isinstance(value, int) else value
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(number, float) and not (math.isfinite(number) and number == int(number)):
            raise refuse(
                ErrorCode.VALIDATION_QUANTITY, f"{_where(source, column, row)}: {value!r} is not a whole number", column
            )
        out[row] = int(number)
    return out


def parse_times(values: Sequence[Any] | np.ndarray, source: str, column: str) -> np.ndarray:
    """Return int64 ns since the epoch from integers or ISO 8601 UTC text; empty becomes MISSING_TS."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return values.astype(np.int64)
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[ns]").astype(np.int64)
    out = np.empty(len(values), dtype=np.int64)
    for row, value in enumerate(values):
        if (
            value is None
            or (isinstance(value, str) and value.strip() == "")
            or (isinstance(value, float) and math.isnan(value))
        ):
            out[row] = MISSING_TS
            continue
        if isinstance(value, (int, np.integer)):
            out[row] = int(value)
            continue
        text = str(value).strip()
        if text.lstrip("-").isdigit():
            out[row] = int(text)
            continue
        if text.endswith(("Z", "z")):
            text = text[:-1]
        try:
            out[row] = np.datetime64(text, "ns").astype(np.int64)
        except ValueError:
            raise refuse(
                ErrorCode.VALIDATION_FIELD,
                f"{_where(source, column, row)}: {value!r} is neither integer ns nor ISO 8601 UTC time",
                column,
            ) from None
    return out


def parse_sides(values: Sequence[Any] | np.ndarray, source: str, column: str, allow_blank: bool = False) -> np.ndarray:
    """Return int8 signs: BUY/B/1/+1 is +1, SELL/S/2/-1 is -1 (FIX Side 1 and 2 included); blank is 0 if allowed."""
    out = np.empty(len(values), dtype=np.int8)
    for row, value in enumerate(values):
        text = "" if value is None else str(value).strip().upper()
        if allow_blank and text == "":
            out[row] = 0
        elif text in ("BUY", "B", "1", "+1"):
            out[row] = 1
        elif text in ("SELL", "S", "2", "-1", "SELL_SHORT", "SHORT"):
            out[row] = -1
        else:
            raise refuse(
                ErrorCode.VALIDATION_FIELD, f"{_where(source, column, row)}: {value!r} is not BUY or SELL", column
            )
    return out


def parse_flags(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "b":
        return values.astype(bool)
    return np.array([str(value).strip().lower() in ("1", "true", "t", "yes", "y") for value in values], dtype=bool)


def _require(columns: Mapping[str, Any], required: Sequence[str], source: str) -> int:
    for name in required:
        if name not in columns:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{source}: required column {name!r} is missing", name)
    lengths = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{source}: columns have different lengths {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _first_fill_rows(order_index: np.ndarray, keep: np.ndarray, n_orders: int) -> np.ndarray:
    """Return, per order, the row of its first kept fill, or -1."""
    first = np.full(n_orders, np.iinfo(np.int64).max, dtype=np.int64)
    rows = np.flatnonzero(keep)
    np.minimum.at(first, order_index[rows], rows)
    first[first == np.iinfo(np.int64).max] = -1
    return first


def build_data(
    order_columns: Mapping[str, Sequence[Any] | np.ndarray],
    fill_columns: Mapping[str, Sequence[Any] | np.ndarray],
    tape_columns: Mapping[str, Sequence[Any] | np.ndarray] | None = None,
    *,
    order_source: str = "orders",
    fill_source: str = "fills",
    tape_source: str = "tape",
    utc_offset_ns: int = 0,
) -> TcaData:
    """Build TcaData from raw columns, applying the documented rules for missing and inconsistent values."""
    n_orders = _require(order_columns, ORDER_REQUIRED, order_source)
    n_fills = _require(fill_columns, FILL_REQUIRED, fill_source)
    categories = Categories()

    def price(name: str) -> np.ndarray:
        if name in order_columns:
            return parse_prices(order_columns[name], order_source, name)
        return np.full(n_orders, np.nan)

    def time(name: str) -> np.ndarray:
        if name in order_columns:
            return parse_times(order_columns[name], order_source, name)
        return np.full(n_orders, MISSING_TS, dtype=np.int64)

    order_id = np.asarray([str(value).strip() for value in order_columns["order_id"]], dtype=object)
    index_of: dict[str, int] = {}
    for row, oid in enumerate(order_id):
        if oid in index_of:
            raise refuse(
                ErrorCode.VALIDATION_FIELD, f"{_where(order_source, 'order_id', row)}: duplicate {oid!r}", "order_id"
            )
        index_of[oid] = row
    side = parse_sides(order_columns["side"], order_source, "side")
    quantity = parse_quantities(order_columns["quantity"], order_source, "quantity")
    prices = {name: price(name) for name in ORDER_PRICES}
    times = {name: time(name) for name in ORDER_TIMES}

    fill_oid = fill_columns["order_id"]
    order_index = np.fromiter(
        (index_of.get(str(value).strip(), -1) for value in fill_oid), dtype=np.int32, count=n_fills
    )
    unknown = int(np.count_nonzero(order_index < 0))
    fill_qty = parse_quantities(fill_columns["quantity"], fill_source, "quantity")
    fill_price = parse_prices(fill_columns["price"], fill_source, "price")
    fill_fee = parse_prices(fill_columns["fee"], fill_source, "fee") if "fee" in fill_columns else np.zeros(n_fills)
    fill_ts = parse_times(fill_columns["ts"], fill_source, "ts")
    mismatched = 0
    if "side" in fill_columns and n_fills:
        fill_side = parse_sides(fill_columns["side"], fill_source, "side", allow_blank=True)
        known = (order_index >= 0) & (fill_side != 0)
        wrong = known & (fill_side != side[np.where(known, order_index, 0)])
        mismatched = int(np.count_nonzero(wrong))
        order_index[wrong] = -1
    kept = (order_index >= 0) & (fill_qty > 0) & (fill_price > 0) & np.isfinite(fill_price)
    first_fill = _first_fill_rows(order_index, kept, n_orders)

    order_keys: dict[str, np.ndarray] = {}
    fill_keys: dict[str, np.ndarray] = {}
    missing = categories.code  # bound method, for readability below
    for key in KEY_NAMES:
        in_orders, in_fills = key in order_columns, key in fill_columns
        if in_orders:
            order_keys[key] = categories.encode(key, order_columns[key])
        if in_fills:
            fill_keys[key] = categories.encode(key, fill_columns[key])
        none_code = missing(key, MISSING_LABEL) if not (in_orders and in_fills) else -1
        if not in_orders:
            from_fill = (
                fill_keys[key][np.maximum(first_fill, 0)] if in_fills and n_fills else np.zeros(n_orders, np.int32)
            )
            order_keys[key] = np.where(first_fill >= 0, from_fill, none_code).astype(np.int32)
        if not in_fills:
            from_order = order_keys[key][np.maximum(order_index, 0)] if n_orders else np.zeros(n_fills, np.int32)
            fill_keys[key] = np.where(order_index >= 0, from_order, none_code).astype(np.int32)

    # Missing times fall back along the order's life: decision -> arrival -> first fill; end -> last fill -> arrival.
    filled_qty = np.bincount(order_index[kept], weights=fill_qty[kept], minlength=n_orders)[:n_orders]
    first_ts = np.full(n_orders, np.iinfo(np.int64).max, dtype=np.int64)
    last_ts = np.full(n_orders, MISSING_TS, dtype=np.int64)
    if np.any(kept):
        np.minimum.at(first_ts, order_index[kept], fill_ts[kept])
        np.maximum.at(last_ts, order_index[kept], fill_ts[kept])
    first_ts[first_ts == np.iinfo(np.int64).max] = MISSING_TS
    arrival_ts = times["arrival_ts"]
    arrival_ts = np.where(arrival_ts == MISSING_TS, times["decision_ts"], arrival_ts)
    arrival_ts = np.where(arrival_ts == MISSING_TS, first_ts, arrival_ts)
    decision_ts = np.where(times["decision_ts"] == MISSING_TS, arrival_ts, times["decision_ts"])
    end_ts = np.where(times["end_ts"] == MISSING_TS, last_ts, times["end_ts"])
    end_ts = np.where(end_ts == MISSING_TS, arrival_ts, end_ts)

    tape = None
    if tape_columns is not None:
        n_tape = _require(tape_columns, TAPE_REQUIRED, tape_source)
        tape = TapeTable(
            symbol=categories.encode("symbol", tape_columns["symbol"]),
            ts=parse_times(tape_columns["ts"], tape_source, "ts"),
            price=parse_prices(tape_columns["price"], tape_source, "price"),
            quantity=parse_quantities(tape_columns["quantity"], tape_source, "quantity").astype(np.float64),
            own=parse_flags(tape_columns["own"]) if "own" in tape_columns else np.zeros(n_tape, bool),
        )
        from gateway.tca.market import market_benchmarks

        market = market_benchmarks(
            tape.symbol,
            tape.ts,
            tape.price,
            tape.quantity,
            tape.own,
            order_keys["symbol"],
            arrival_ts,
            end_ts,
            utc_offset_ns,
        )
        # A figure given in the orders file wins over one computed from the tape.
        for name in ("interval_vwap", "day_vwap", "close_price", "prev_close_price"):
            given = prices[name]
            prices[name] = np.where(np.isnan(given), getattr(market, name), given)

    arrival = prices["arrival_price"]
    decision_from_arrival = ~(prices["decision_price"] > 0)
    decision = np.where(decision_from_arrival, arrival, prices["decision_price"])
    end = np.where(prices["end_price"] > 0, prices["end_price"], prices["close_price"])

    exclusion = np.full(n_orders, "", dtype=object)
    exclusion[~((end > 0) & np.isfinite(end)) & (filled_qty != quantity)] = EXCLUDE_END
    exclusion[~((arrival > 0) & np.isfinite(arrival))] = EXCLUDE_ARRIVAL
    exclusion[quantity <= 0] = EXCLUDE_QUANTITY
    liquidation = (
        parse_flags(order_columns["liquidation"]) if "liquidation" in order_columns else np.zeros(n_orders, bool)
    )

    orders = OrderTable(
        order_id=order_id,
        side=side,
        quantity=quantity,
        decision_price=decision,
        arrival_price=arrival,
        end_price=end,
        interval_vwap=prices["interval_vwap"],
        day_vwap=prices["day_vwap"],
        close_price=prices["close_price"],
        prev_close_price=prices["prev_close_price"],
        decision_ts=decision_ts,
        arrival_ts=arrival_ts,
        end_ts=end_ts,
        liquidation=liquidation,
        keys=order_keys,
        included=exclusion == "",
        exclusion=exclusion,
        decision_from_arrival=decision_from_arrival,
    )
    known = order_index >= 0
    keys_vary = tuple(
        key
        for key in KEY_NAMES
        if key in fill_columns and np.any(fill_keys[key][known] != order_keys[key][order_index[known]])
    )
    fills = FillTable(order_index, fill_qty, fill_price, fill_fee, fill_ts, fill_keys, keys_vary)
    return TcaData(orders, fills, categories, tape, unknown, mismatched)
