"""Implementation shortfall per parent order and its attribution to groups, on the numba kernels.

Each parent order is cut into slices: one per fill, and one for the unfilled rest. A fill slice carries its share of
the delay ``s*q*(P_arrival - P_decision)``, its trading cost ``s*q*(p - P_arrival)``, its fee and the paper notional
``q*P_decision``, and goes to the group of the fill (its own fields, the bucket of its time). The rest carries
``s*(X-Q)*(P_arrival - P_decision)``, the opportunity cost ``s*(X-Q)*(P_end - P_arrival)`` and the paper notional
``(X-Q)*P_decision``, and goes to the group of the order (its own fields, the bucket of its end). The slices of an
order add up to exactly its shortfall, so every group's components add up to its total and a group's bps is a ratio
of sums: sum of cost / sum of paper notional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gateway.model import ErrorCode, refuse
from gateway.tca.tables import KEY_NAMES, TcaData

DAY_NS = 86_400 * 1_000_000_000
BUCKET = "bucket"
GROUP_KEYS: tuple[str, ...] = (*KEY_NAMES, BUCKET)
COMPONENTS: tuple[str, ...] = ("delay", "trading", "opportunity", "fees", "total")
BENCHMARKS: tuple[str, ...] = ("arrival", "interval_vwap", "day_vwap", "close", "prev_close")
PARALLEL_MIN_FILLS = 200_000  # below this, starting the thread pool costs more than it saves
DENSE_GROUP_LIMIT = 500_000  # beyond this many key combinations, groups are numbered by sorting instead


@dataclass(slots=True)
class OrderCosts:
    """Per parent order, in currency (price x quantity) and bps of the paper notional X*P_decision."""

    order_id: np.ndarray
    included: np.ndarray
    exclusion: np.ndarray
    side: np.ndarray
    quantity: np.ndarray
    filled_quantity: np.ndarray
    average_price: np.ndarray
    paper_notional: np.ndarray
    currency: dict[str, np.ndarray]  # COMPONENTS
    bps: dict[str, np.ndarray]
    slippage_bps: dict[str, np.ndarray]  # BENCHMARKS: s*(average - benchmark)/benchmark
    outlier: np.ndarray


@dataclass(slots=True)
class GroupTable:
    """Attribution to the groups of one grouping; rows with nothing in them are dropped."""

    group_by: tuple[str, ...]
    labels: list[tuple[str, ...]]
    values: np.ndarray  # float64[rows, kernels.G_FIELDS]

    def column(self, index: int) -> np.ndarray:
        return self.values[:, index]

    def currency(self, component: str) -> np.ndarray:
        from gateway.tca import kernels as k

        parts = {"delay": k.G_DELAY, "trading": k.G_TRADING, "opportunity": k.G_OPPORTUNITY, "fees": k.G_FEES}
        if component == "total":
            return sum(self.values[:, index] for index in parts.values())  # type: ignore[return-value]
        return self.values[:, parts[component]]

    def bps(self, component: str) -> np.ndarray:
        from gateway.tca import kernels as k

        return _ratio_bps(self.currency(component), self.values[:, k.G_PAPER_NOTIONAL])

    def rows(self) -> list[dict[str, object]]:
        """Return one plain dict per group: keys, counts, notional, fill rate, components in currency and bps."""
        from gateway.tca import kernels as k

        v = self.values
        fill_rate = _ratio(v[:, k.G_FILLED_QTY], v[:, k.G_SLICE_QTY])
        slippage = _ratio_bps(v[:, k.G_TRADING], v[:, k.G_ARRIVAL_NOTIONAL])
        currency = {name: self.currency(name) for name in COMPONENTS}
        bps = {name: self.bps(name) for name in COMPONENTS}
        out: list[dict[str, object]] = []
        for row, label in enumerate(self.labels):
            record: dict[str, object] = dict(zip(self.group_by, label))
            record.update(
                orders=int(v[row, k.G_ORDERS]),
                fills=int(v[row, k.G_FILLS]),
                outliers=int(v[row, k.G_OUTLIERS]),
                paper_notional=float(v[row, k.G_PAPER_NOTIONAL]),
                executed_notional=float(v[row, k.G_EXECUTED_NOTIONAL]),
                filled_quantity=int(v[row, k.G_FILLED_QTY]),
                fill_rate=_plain(fill_rate[row]),
                slippage_vs_arrival_bps=_plain(slippage[row]),
            )
            for name in COMPONENTS:
                record[f"{name}_cost"] = float(currency[name][row])
                record[f"{name}_bps"] = _plain(bps[name][row])
            out.append(record)
        return out


@dataclass(slots=True)
class TcaResult:
    orders: OrderCosts
    groupings: list[GroupTable]
    diagnostics: dict[str, int]
    bucket_width_ns: int
    utc_offset_ns: int
    outlier_z: float
    notes: list[str] = field(default_factory=list)


def _plain(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator != 0, numerator / np.where(denominator != 0, denominator, 1.0), np.nan)


def _ratio_bps(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return _ratio(numerator, denominator) * 10_000.0


def bucket_count(width_ns: int) -> int:
    """Return the number of time-of-day buckets, refusing a width that does not divide the day."""
    if width_ns <= 0 or DAY_NS % width_ns:
        raise refuse(
            ErrorCode.VALIDATION_PARAMETER,
            f"bucket width {width_ns} ns must be positive and divide 24 hours evenly",
            "bucket_width",
        )
    return DAY_NS // width_ns


def bucket_label(bucket: int, width_ns: int) -> str:
    """Return the local start time 'HH:MM' of a time-of-day bucket."""
    minutes = bucket * width_ns // 60_000_000_000
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def group_ids(keys: np.ndarray, radix: np.ndarray, ts: np.ndarray, origin_ns: int, width_ns: int) -> np.ndarray:
    """Return the dense group number of each row, as the kernels compute it."""
    n_buckets = int(radix[-1])
    group = np.zeros(ts.shape[0], dtype=np.int64)
    for k in range(keys.shape[0]):
        group *= int(radix[k])
        group += keys[k]
    group *= n_buckets
    if n_buckets > 1:
        period = ts + origin_ns
        period //= width_ns
        group += period
        period //= n_buckets  # period % n_buckets, as period - period // n * n: numpy's int64 % is 4x slower
        period *= n_buckets
        group -= period
    return group


@dataclass(slots=True)
class KernelOutput:
    group_acc: np.ndarray
    order_acc: np.ndarray
    order_results: np.ndarray
    drops: np.ndarray
    outlier: np.ndarray
    total_bps: np.ndarray


def attribute_arrays(
    fill_order: np.ndarray,
    fill_qty: np.ndarray,
    fill_price: np.ndarray,
    fill_fee: np.ndarray,
    fill_ts: np.ndarray,
    fill_keys: np.ndarray,
    order_keys: np.ndarray,
    radix: np.ndarray,
    order_side: np.ndarray,
    order_qty: np.ndarray,
    order_decision: np.ndarray,
    order_arrival: np.ndarray,
    order_end: np.ndarray,
    order_included: np.ndarray,
    home_group: np.ndarray,
    rest_group: np.ndarray,
    *,
    origin_ns: int = 0,
    width_ns: int = DAY_NS,
    outlier_z: float = 4.0,
    n_chunks: int | None = None,
) -> KernelOutput:
    """Run the kernels on canonical arrays: per-group accumulators and per-order shortfall.

    Groups are numbered in mixed radix ``radix``: the category counts of the keys fixed per order (``order_keys``,
    int32[ko, m]), then of the keys that vary between an order's fills (``fill_keys``, int32[kf, n]), then the
    number of time-of-day buckets. ``home_group`` and ``rest_group`` number each order's own groups the same way.
    """
    from gateway.tca import kernels as k

    n_order_keys, n_fill_keys = order_keys.shape[0], fill_keys.shape[0]
    order_code = np.zeros(order_side.shape[0], dtype=np.int64)
    for index in range(n_order_keys):
        order_code *= int(radix[index])
        order_code += order_keys[index]
    n_groups = int(np.prod(radix.astype(np.float64)))
    chunks = n_chunks or k.default_chunks()
    parallel = chunks > 1 and fill_qty.shape[0] >= PARALLEL_MIN_FILLS
    buffers = k.fill_buffers(
        chunks if parallel else 1, n_groups, order_side.shape[0], fill_qty.shape[0], n_fill_keys > 0
    )
    arguments = (
        (fill_order, fill_qty, fill_price, fill_fee, fill_ts),
        fill_keys if n_fill_keys else None,
        (
            np.ascontiguousarray(radix[n_order_keys : n_order_keys + n_fill_keys], dtype=np.int64),
            np.int64(radix[-1]),
            np.int64(origin_ns),
            np.int64(width_ns),
        ),
        (order_code, order_side, order_decision, order_arrival, order_included),
        order_qty,
        order_end,
        home_group.astype(np.int64, copy=False),
        rest_group.astype(np.int64, copy=False),
        buffers,
        np.float64(outlier_z),
        k.order_buffers(order_side.shape[0]),
    )
    found = k.attribute_all(*arguments) if parallel else k.attribute_all_serial(*arguments)
    k.keep_scratch(buffers)  # for the next call of this shape: fresh memory costs page faults and zeroing
    group_acc, order_acc, results, drops, outlier, total_bps = found
    return KernelOutput(group_acc, order_acc, results, drops, outlier, total_bps)


def _compact_keys(
    fill_keys: np.ndarray,
    order_keys: np.ndarray,
    radix: np.ndarray,
    fill_bucket: np.ndarray,
    home_bucket: np.ndarray,
    rest_bucket: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Number the key combinations that occur, by sorting; return (codes, home codes, rest codes, decoded keys)."""
    n_fills, n_orders = fill_keys.shape[1], order_keys.shape[1]
    rows = np.concatenate(
        [
            np.vstack([fill_keys.astype(np.int64), fill_bucket[None, :]]),
            np.vstack([order_keys.astype(np.int64), home_bucket[None, :]]),
            np.vstack([order_keys.astype(np.int64), rest_bucket[None, :]]),
        ],
        axis=1,
    )
    code = np.zeros(rows.shape[1], dtype=np.int64)
    for k in range(rows.shape[0]):
        combined = code * int(radix[k]) + rows[k]
        _, code = np.unique(combined, return_inverse=True)
        code = code.reshape(-1).astype(np.int64)
    n_codes = int(code.max(initial=-1)) + 1
    first_row = np.full(n_codes, rows.shape[1], dtype=np.int64)
    np.minimum.at(first_row, code, np.arange(rows.shape[1]))
    decoded = rows[:, first_row]
    return code[:n_fills], code[n_fills : n_fills + n_orders], code[n_fills + n_orders :], decoded


def attribute(
    data: TcaData,
    group_by: Sequence[str],
    *,
    bucket_width_ns: int = 30 * 60 * 1_000_000_000,
    utc_offset_ns: int = 0,
    outlier_z: float = 4.0,
) -> tuple[GroupTable, KernelOutput]:
    """Attribute shortfall to the groups of ``group_by`` (names from GROUP_KEYS); bucket is the local time of day."""
    unknown = [name for name in group_by if name not in GROUP_KEYS]
    if unknown or len(set(group_by)) != len(group_by):
        raise refuse(
            ErrorCode.VALIDATION_PARAMETER,
            f"group_by {list(group_by)} must name distinct keys among {list(GROUP_KEYS)}",
            "group_by",
        )
    orders, fills = data.orders, data.fills
    asked = [name for name in group_by if name != BUCKET]
    # Keys fixed per order first: the fill loop reads only the keys that vary between an order's fills.
    keys = [name for name in asked if name not in fills.keys_vary] + [name for name in asked if name in fills.keys_vary]
    n_order_keys = len(keys) - sum(name in fills.keys_vary for name in keys)
    by_bucket = BUCKET in group_by
    width = bucket_width_ns if by_bucket else DAY_NS
    n_buckets = bucket_count(width) if by_bucket else 1
    radix = np.array([max(data.categories.size(name), 1) for name in keys] + [n_buckets], dtype=np.int64)

    def stacked(columns: dict[str, np.ndarray], names: list[str], n: int) -> np.ndarray:
        return np.ascontiguousarray(
            np.vstack([columns[name] for name in names]) if names else np.zeros((0, n)), dtype=np.int32
        )

    fill_keys = stacked(fills.keys, keys[n_order_keys:], len(fills))
    order_keys = stacked(orders.keys, keys, len(orders))  # every key, as the order has it: its home and rest groups
    # The kernels' dtypes, which the tables have already: nothing is copied.
    fill_args = (
        fills.order_index.astype(np.int32, copy=False),
        fills.quantity.astype(np.int64, copy=False),
        fills.price.astype(np.float64, copy=False),
        fills.fee.astype(np.float64, copy=False),
        fills.ts.astype(np.int64, copy=False),
    )
    order_args = (
        orders.side.astype(np.int8, copy=False),
        orders.quantity.astype(np.int64, copy=False),
        orders.decision_price.astype(np.float64, copy=False),
        orders.arrival_price.astype(np.float64, copy=False),
        orders.end_price.astype(np.float64, copy=False),
        orders.included.astype(bool, copy=False),
    )
    if float(np.prod(radix.astype(np.float64))) <= DENSE_GROUP_LIMIT:
        home = group_ids(order_keys, radix, orders.arrival_ts, utc_offset_ns, width)
        rest = group_ids(order_keys, radix, orders.end_ts, utc_offset_ns, width)
        output = attribute_arrays(
            *fill_args,
            fill_keys,
            order_keys[:n_order_keys],
            radix,
            *order_args,
            home,
            rest,
            origin_ns=utc_offset_ns,
            width_ns=width,
            outlier_z=outlier_z,
        )
        used = np.flatnonzero(np.any(output.group_acc != 0.0, axis=1))
        decoded = np.zeros((len(keys) + 1, used.shape[0]), dtype=np.int64)
        remainder = used.copy()
        for index in range(len(keys), -1, -1):
            decoded[index] = remainder % radix[index]
            remainder //= radix[index]
    else:

        def bucket(ts: np.ndarray) -> np.ndarray:
            return ((ts + utc_offset_ns) // width) % n_buckets if n_buckets > 1 else np.zeros_like(ts)

        fill_code, home, rest, decoded_all = _compact_keys(
            stacked(fills.keys, keys, len(fills)),
            order_keys,
            radix,
            bucket(fills.ts),
            bucket(orders.arrival_ts),
            bucket(orders.end_ts),
        )
        output = attribute_arrays(
            *fill_args,
            np.ascontiguousarray(fill_code.astype(np.int32)[None, :]),
            np.zeros((0, len(orders)), np.int32),
            np.array([decoded_all.shape[1], 1], dtype=np.int64),
            *order_args,
            home,
            rest,
            outlier_z=outlier_z,
        )
        used = np.flatnonzero(np.any(output.group_acc != 0.0, axis=1))
        decoded = decoded_all[:, used]
    # Rows in the order of group_by's codes, whichever order the kernel numbered the keys in.
    row_of = {name: index for index, name in enumerate(keys)} | {BUCKET: len(keys)}
    by_code = (
        np.lexsort([decoded[row_of[name]] for name in reversed(group_by)]) if group_by else np.arange(used.shape[0])
    )
    used, decoded = used[by_code], decoded[:, by_code]
    values = output.group_acc[used]
    labels = []
    for row in range(decoded.shape[1]):
        label = {name: data.categories.labels[name][int(decoded[i, row])] for i, name in enumerate(keys)}
        if by_bucket:
            label[BUCKET] = bucket_label(int(decoded[len(keys), row]), width)
        labels.append(tuple(label[name] for name in group_by))
    return GroupTable(tuple(group_by), labels, values), output


def slippage_bps(side: np.ndarray, average_price: np.ndarray, benchmark: np.ndarray) -> np.ndarray:
    """Return s*(average - benchmark)/benchmark in bps; NaN without fills or without a positive benchmark."""
    usable = (benchmark > 0) & np.isfinite(benchmark)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = side * (average_price - benchmark) / np.where(usable, benchmark, 1.0) * 10_000.0
    return np.where(usable, value, np.nan)


def order_costs(data: TcaData, output: KernelOutput) -> OrderCosts:
    """Turn the kernels' per-order rows into named columns with bps and benchmark slippage."""
    from gateway.tca import kernels as k

    orders = data.orders
    results = output.order_results
    paper = results[:, k.R_PAPER_NOTIONAL]
    parts = {
        "delay": k.R_DELAY,
        "trading": k.R_TRADING,
        "opportunity": k.R_OPPORTUNITY,
        "fees": k.R_FEES,
        "total": k.R_TOTAL,
    }
    currency = {name: results[:, index] for name, index in parts.items()}
    average = results[:, k.R_AVERAGE_PRICE]
    side = orders.side.astype(np.float64)
    benchmarks = {
        "arrival": orders.arrival_price,
        "interval_vwap": orders.interval_vwap,
        "day_vwap": orders.day_vwap,
        "close": orders.close_price,
        "prev_close": orders.prev_close_price,
    }
    return OrderCosts(
        order_id=orders.order_id,
        included=orders.included,
        exclusion=orders.exclusion,
        side=orders.side,
        quantity=orders.quantity,
        filled_quantity=np.nan_to_num(results[:, k.R_FILLED_QTY]).astype(np.int64),
        average_price=average,
        paper_notional=paper,
        currency=currency,
        bps={name: _ratio_bps(values, paper) for name, values in currency.items()},
        slippage_bps={name: slippage_bps(side, average, values) for name, values in benchmarks.items()},
        outlier=output.outlier,
    )


DEFAULT_GROUPINGS: tuple[tuple[str, ...], ...] = (("strategy",), ("client",), ("strategy", BUCKET), ("venue",))


def analyse(
    data: TcaData,
    groupings: Sequence[Sequence[str]] = DEFAULT_GROUPINGS,
    *,
    bucket_width_ns: int = 30 * 60 * 1_000_000_000,
    utc_offset_ns: int = 0,
    outlier_z: float = 4.0,
) -> TcaResult:
    """Compute every order's shortfall and its attribution for each grouping."""
    if not groupings:
        groupings = ((),)
    tables: list[GroupTable] = []
    output: KernelOutput | None = None
    for group_by in groupings:
        table, output = attribute(
            data, group_by, bucket_width_ns=bucket_width_ns, utc_offset_ns=utc_offset_ns, outlier_z=outlier_z
        )
        tables.append(table)
    assert output is not None
    from gateway.tca import kernels as k

    drops = output.drops
    exclusion = data.orders.exclusion
    diagnostics = {
        "orders": len(data.orders),
        "orders_included": int(np.count_nonzero(data.orders.included)),
        "orders_without_fills": int(
            np.count_nonzero(data.orders.included & (output.order_acc[:, k.O_FILLED_QTY] == 0))
        ),
        "orders_excluded_zero_quantity": int(np.count_nonzero(exclusion == "ZERO_QUANTITY")),
        "orders_excluded_no_arrival_price": int(np.count_nonzero(exclusion == "NO_ARRIVAL_PRICE")),
        "orders_excluded_no_end_price": int(np.count_nonzero(exclusion == "NO_END_PRICE")),
        "orders_decision_from_arrival": int(np.count_nonzero(data.orders.decision_from_arrival & data.orders.included)),
        "fills": len(data.fills),
        "fills_used": int(output.group_acc[:, k.G_FILLS].sum()),
        "fills_unknown_order": data.unknown_order_fills,
        "fills_side_mismatch": data.side_mismatch_fills,
        "fills_of_excluded_orders": int(drops[k.DROP_EXCLUDED_ORDER]),
        "fills_zero_quantity": int(drops[k.DROP_QUANTITY]),
        "fills_bad_price": int(drops[k.DROP_PRICE]),
        "fills_missing_fee": int(drops[k.MISSING_FEE]),
        "outlier_orders": int(np.count_nonzero(output.outlier)),
    }
    return TcaResult(order_costs(data, output), tables, diagnostics, bucket_width_ns, utc_offset_ns, outlier_z)
