"""Numba kernels for transaction cost analysis; import this module only where the numbers are needed.

Importing it imports numba (about half a second), so nothing on the gateway's start-up path does: callers import it
inside functions. Every kernel is compiled once per machine and cached on disk (``cache=True``) for the canonical dtypes
that ``gateway.tca.tables`` produces, so a fresh process pays only the load of the cached machine code.

Sign convention everywhere: side ``s`` is +1 for a buy and -1 for a sell, and a positive number is a cost.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# Columns of the per-group accumulator (float64; counts and quantities are exact below 2**53). The first G_HOT are
# the ones every fill touches: eight doubles, one cache line per group row in the fill loop's private accumulators.
G_DELAY = 0
G_TRADING = 1
G_FEES = 2
G_PAPER_NOTIONAL = 3  # quantity * decision price of the slices in the group
G_EXECUTED_NOTIONAL = 4  # sum of fill quantity * fill price
G_ARRIVAL_NOTIONAL = 5  # sum of fill quantity * arrival price: denominator of slippage against arrival
G_FILLED_QTY = 6
G_FILLS = 7
G_HOT = 8
G_OPPORTUNITY = 8
G_SLICE_QTY = 9  # filled quantity plus the unfilled rest placed in the group: denominator of the fill rate
G_ORDERS = 10
G_OUTLIERS = 11
G_FIELDS = 12

# Columns of the per-order accumulator filled from the fills (an order with no used fill has zero quantity).
O_FILLED_QTY = 0
O_EXECUTED_NOTIONAL = 1
O_FEES = 2
O_FIELDS = 3

# Layout of the fill loop's private row per order.
_ROW_SIDE = 0
_ROW_DECISION = 1
_ROW_ARRIVAL = 2
_ROW_ACC = 4
_ROW = 8

# Why a fill was left out (index into the counts the fill kernel returns).
DROP_UNKNOWN_ORDER = 0
DROP_EXCLUDED_ORDER = 1
DROP_QUANTITY = 2
DROP_PRICE = 3
MISSING_FEE = 4  # not dropped: a NaN fee counts as zero
DROP_FIELDS = 5

# Per-order results of order_costs.
R_FILLED_QTY = 0
R_AVERAGE_PRICE = 1
R_DELAY = 2
R_TRADING = 3
R_OPPORTUNITY = 4
R_FEES = 5
R_TOTAL = 6
R_PAPER_NOTIONAL = 7
R_FIELDS = 8


def aligned_zeros(shape: tuple[int, ...]) -> np.ndarray:
    """Return float64 zeros starting on a 64-byte boundary, so an 8-double row is one cache line (15% faster)."""
    size = 1
    for extent in shape:
        size *= extent
    buffer = np.zeros(size + 8)
    offset = (-buffer.ctypes.data % 64) // 8
    return buffer[offset : offset + size].reshape(shape)


def fill_buffers(n_chunks: int, n_groups: int, n_orders: int) -> tuple[np.ndarray, np.ndarray]:
    """Return each thread's private group accumulators and rows per order, zeroed and aligned."""
    return aligned_zeros((n_chunks, n_groups, G_HOT)), aligned_zeros((n_chunks, n_orders, _ROW))


@njit(cache=True)
def _init_rows(order_part, order_side, order_decision, order_arrival, order_included):  # type: ignore[no-untyped-def]
    """Write what the fill loop reads into each thread's row per order; return the drop counters."""
    # The row holds side (0 when left out), decision and arrival, then what the loop adds up (filled quantity,
    # executed notional, fees): one cache line per order, touched once per fill.
    for chunk in range(order_part.shape[0]):
        for o in range(order_part.shape[1]):
            order_part[chunk, o, _ROW_SIDE] = np.float64(order_side[o]) if order_included[o] else 0.0
            order_part[chunk, o, _ROW_DECISION] = order_decision[o]
            order_part[chunk, o, _ROW_ARRIVAL] = order_arrival[o]
    return np.zeros((order_part.shape[0], DROP_FIELDS), dtype=np.int64)


@njit(cache=True)
def _fill_range(  # type: ignore[no-untyped-def]
    start,
    stop,
    acc,
    rows,
    drop,
    fill_order,
    fill_qty,
    fill_price,
    fill_fee,
    fill_ts,
    fill_keys,
    radix,
    origin_ns,
    width_ns,
):
    """Add fills start..stop-1 to one thread's accumulators: the hot loop."""
    m = rows.shape[0]
    k = fill_keys.shape[0]
    n_buckets = radix[k]
    # Fills usually come in time order: keep the current bucket's span and divide only on leaving it.
    span_start = np.int64(1)
    span_stop = np.int64(0)
    bucket = np.int64(0)
    for i in range(start, stop):
        o = fill_order[i]
        if o < 0 or o >= m:
            drop[DROP_UNKNOWN_ORDER] += 1
            continue
        s = rows[o, _ROW_SIDE]
        q = fill_qty[i]
        p = fill_price[i]
        # One predictable branch for the common case; the reason is worked out only for a dropped fill.
        usable = (s != 0.0) & (q > 0) & (p > 0.0) & (p < np.inf)
        if not usable:
            if s == 0.0:
                drop[DROP_EXCLUDED_ORDER] += 1
            elif q <= 0:
                drop[DROP_QUANTITY] += 1
            else:
                drop[DROP_PRICE] += 1
            continue
        fee = fill_fee[i]
        if fee != fee:
            drop[MISSING_FEE] += 1
            fee = 0.0
        if n_buckets > 1:
            local = fill_ts[i] + origin_ns
            if local < span_start or local >= span_stop:
                period = local // width_ns
                bucket = period % n_buckets
                span_start = period * width_ns
                span_stop = span_start + width_ns
        # The usual one to three keys spelled out: the general loop costs a third of the kernel's time.
        if k == 0:
            g = bucket
        elif k == 1:
            g = np.int64(fill_keys[0, i]) * n_buckets + bucket
        elif k == 2:
            g = (np.int64(fill_keys[0, i]) * radix[1] + fill_keys[1, i]) * n_buckets + bucket
        elif k == 3:
            g = (
                (np.int64(fill_keys[0, i]) * radix[1] + fill_keys[1, i]) * radix[2] + fill_keys[2, i]
            ) * n_buckets + bucket
        else:
            g = np.int64(0)
            for key in range(k):
                g = g * radix[key] + fill_keys[key, i]
            g = g * n_buckets + bucket
        qf = np.float64(q)
        decision = rows[o, _ROW_DECISION]
        arrival = rows[o, _ROW_ARRIVAL]
        executed = qf * p
        arrival_notional = qf * arrival
        acc[g, G_DELAY] += s * (arrival_notional - qf * decision)
        acc[g, G_TRADING] += s * (executed - arrival_notional)
        acc[g, G_FEES] += fee
        acc[g, G_PAPER_NOTIONAL] += qf * decision
        acc[g, G_EXECUTED_NOTIONAL] += executed
        acc[g, G_ARRIVAL_NOTIONAL] += arrival_notional
        acc[g, G_FILLED_QTY] += qf
        acc[g, G_FILLS] += 1.0
        rows[o, _ROW_ACC + O_FILLED_QTY] += qf
        rows[o, _ROW_ACC + O_EXECUTED_NOTIONAL] += executed
        rows[o, _ROW_ACC + O_FEES] += fee


@njit(cache=True)
def _merge(group_part, order_part, drops):  # type: ignore[no-untyped-def]
    """Add the threads' accumulators together into (group_acc, order_acc, drop_counts)."""
    n_chunks, n_groups = group_part.shape[0], group_part.shape[1]
    m = order_part.shape[1]
    group_acc = np.zeros((n_groups, G_FIELDS))
    for g in range(n_groups):
        for chunk in range(n_chunks):
            for f in range(G_HOT):
                group_acc[g, f] += group_part[chunk, g, f]
        group_acc[g, G_SLICE_QTY] = group_acc[g, G_FILLED_QTY]
    order_acc = np.zeros((m, O_FIELDS))
    for o in range(m):
        for chunk in range(n_chunks):
            for f in range(O_FIELDS):
                order_acc[o, f] += order_part[chunk, o, _ROW_ACC + f]
    drop_counts = np.zeros(DROP_FIELDS, dtype=np.int64)
    for chunk in range(n_chunks):
        for f in range(DROP_FIELDS):
            drop_counts[f] += drops[chunk, f]
    return group_acc, order_acc, drop_counts


@njit(cache=True, parallel=True)
def accumulate_fills(  # type: ignore[no-untyped-def]
    fill_order,  # int32[n]: row of the fill's parent in the order arrays
    fill_qty,  # int64[n]
    fill_price,  # float64[n]
    fill_fee,  # float64[n]
    fill_ts,  # int64[n]: ns since the epoch
    fill_keys,  # int32[k, n]: category codes of the grouping keys, one row per key
    radix,  # int64[k + 1]: number of categories of each key, then the number of buckets
    origin_ns,  # int64: added to ts before bucketing (a UTC offset for time of day)
    width_ns,  # int64: bucket width
    order_side,  # int8[m]: +1 buy, -1 sell
    order_decision,  # float64[m]
    order_arrival,  # float64[m]
    order_included,  # bool[m]: False for orders left out (no arrival price, zero quantity...)
    group_part,  # float64[chunks, groups, G_HOT], zeros: each parallel slice's accumulators (fill_buffers)
    order_part,  # float64[chunks, m, 8], zeros
):
    """Add every fill's slice to its group and to its order, in parallel; return (group_acc, order_acc, drops)."""
    n = fill_qty.shape[0]
    n_chunks = group_part.shape[0]
    drops = _init_rows(order_part, order_side, order_decision, order_arrival, order_included)
    step = (n + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        _fill_range(
            chunk * step,
            min(n, chunk * step + step),
            group_part[chunk],
            order_part[chunk],
            drops[chunk],
            fill_order,
            fill_qty,
            fill_price,
            fill_fee,
            fill_ts,
            fill_keys,
            radix,
            origin_ns,
            width_ns,
        )
    return _merge(group_part, order_part, drops)


@njit(cache=True)
def accumulate_fills_serial(  # type: ignore[no-untyped-def]
    fill_order,
    fill_qty,
    fill_price,
    fill_fee,
    fill_ts,
    fill_keys,
    radix,
    origin_ns,
    width_ns,
    order_side,
    order_decision,
    order_arrival,
    order_included,
    group_part,
    order_part,
):
    """Do what accumulate_fills does on one thread (buffers of one slice), without starting the thread pool."""
    drops = _init_rows(order_part, order_side, order_decision, order_arrival, order_included)
    _fill_range(
        0,
        fill_qty.shape[0],
        group_part[0],
        order_part[0],
        drops[0],
        fill_order,
        fill_qty,
        fill_price,
        fill_fee,
        fill_ts,
        fill_keys,
        radix,
        origin_ns,
        width_ns,
    )
    return _merge(group_part, order_part, drops)


@njit(cache=True)
def order_costs(  # type: ignore[no-untyped-def]
    order_side,  # int8[m]
    order_qty,  # int64[m]
    order_decision,  # float64[m]
    order_arrival,  # float64[m]
    order_end,  # float64[m]: may be NaN when nothing is left unfilled
    order_included,  # bool[m]
    order_acc,  # float64[m, O_FIELDS] from accumulate_fills
):
    """Return the implementation shortfall of each order in its parts (float64[m, R_FIELDS]; NaN rows left out)."""
    m = order_side.shape[0]
    out = np.full((m, R_FIELDS), np.nan)
    for o in range(m):
        if not order_included[o]:
            continue
        s = np.float64(order_side[o])
        x = np.float64(order_qty[o])
        decision = order_decision[o]
        arrival = order_arrival[o]
        filled = order_acc[o, O_FILLED_QTY]
        rest = x - filled
        delay = s * x * (arrival - decision)
        executed = order_acc[o, O_EXECUTED_NOTIONAL]
        trading = s * (executed - filled * arrival)
        # The end price only matters for shares left unfilled; a fully filled order needs none.
        opportunity = s * rest * (order_end[o] - arrival) if rest != 0.0 else 0.0
        fees = order_acc[o, O_FEES]
        out[o, R_FILLED_QTY] = filled
        out[o, R_AVERAGE_PRICE] = executed / filled if filled > 0.0 else np.nan
        out[o, R_DELAY] = delay
        out[o, R_TRADING] = trading
        out[o, R_OPPORTUNITY] = opportunity
        out[o, R_FEES] = fees
        out[o, R_TOTAL] = delay + trading + opportunity + fees
        out[o, R_PAPER_NOTIONAL] = x * decision
    return out


@njit(cache=True)
def accumulate_orders(  # type: ignore[no-untyped-def]
    group_acc,  # float64[g, G_FIELDS], updated in place
    home_group,  # int64[m]: the order's own fields and the bucket of its arrival: its count and outlier flag
    rest_group,  # int64[m]: the order's own fields and the bucket of its end: its unfilled rest
    order_side,  # int8[m]
    order_qty,  # int64[m]
    order_decision,  # float64[m]
    order_arrival,  # float64[m]
    order_end,  # float64[m]
    order_included,  # bool[m]
    order_filled,  # float64[m]: filled quantity from accumulate_fills
    order_outlier,  # bool[m]
):
    """Add each order's unfilled rest, its count and its outlier flag to the order's own groups."""
    m = order_side.shape[0]
    for o in range(m):
        if not order_included[o]:
            continue
        home = home_group[o]
        group_acc[home, G_ORDERS] += 1.0
        if order_outlier[o]:
            group_acc[home, G_OUTLIERS] += 1.0
        rest = np.float64(order_qty[o]) - order_filled[o]
        if rest == 0.0:
            continue
        s = np.float64(order_side[o])
        decision = order_decision[o]
        arrival = order_arrival[o]
        g = rest_group[o]
        group_acc[g, G_DELAY] += s * rest * (arrival - decision)
        group_acc[g, G_OPPORTUNITY] += s * rest * (order_end[o] - arrival)
        group_acc[g, G_PAPER_NOTIONAL] += rest * decision
        group_acc[g, G_SLICE_QTY] += rest


@njit(cache=True)
def interval_vwap(  # type: ignore[no-untyped-def]
    tape_ts,  # int64[t]: sorted by (symbol, ts)
    cum_notional,  # float64[t + 1]: prefix sums of price * quantity over prints not our own
    cum_qty,  # float64[t + 1]
    symbol_start,  # int64[s + 1]: tape rows of symbol c are symbol_start[c]:symbol_start[c + 1]
    order_symbol,  # int32[m]
    start_ts,  # int64[m]
    end_ts,  # int64[m]
):
    """Return each order's market VWAP over [start_ts, end_ts] from the prefix sums (NaN when nothing traded)."""
    m = order_symbol.shape[0]
    out = np.full(m, np.nan)
    n_symbols = symbol_start.shape[0] - 1
    for o in range(m):  # two binary searches per order: threads would not pay for themselves
        c = order_symbol[o]
        if c < 0 or c >= n_symbols:
            continue
        lo = symbol_start[c]
        hi = symbol_start[c + 1]
        first = lo + np.searchsorted(tape_ts[lo:hi], start_ts[o], side="left")
        last = lo + np.searchsorted(tape_ts[lo:hi], end_ts[o], side="right")
        qty = cum_qty[last] - cum_qty[first]
        if qty > 0.0:
            out[o] = (cum_notional[last] - cum_notional[first]) / qty
    return out


def default_chunks() -> int:
    """Return the number of parallel slices: one per numba thread."""
    return int(numba.get_num_threads())


MAD_TO_SIGMA = 1.4826  # median absolute deviation of a normal sample, in standard deviations


@njit(cache=True)
def robust_outliers(values, threshold_z):  # type: ignore[no-untyped-def]
    """Flag values further than threshold_z robust standard deviations (median, MAD) from the median."""
    flags = np.zeros(values.shape[0], dtype=np.bool_)
    finite = values[np.isfinite(values)]
    if finite.shape[0] < 3:
        return flags
    median = np.median(finite)
    deviation = np.abs(finite - median)
    spread = MAD_TO_SIGMA * np.median(deviation)
    if spread == 0.0:  # more than half identical: fall back to the mean absolute deviation
        spread = np.mean(deviation) * np.sqrt(np.pi / 2.0)
    if spread == 0.0:
        return flags
    limit = threshold_z * spread
    for i in range(values.shape[0]):
        if np.isfinite(values[i]) and abs(values[i] - median) > limit:
            flags[i] = True
    return flags


@njit(cache=True)
def _finish(  # type: ignore[no-untyped-def]
    group_acc,
    order_acc,
    order_side,
    order_qty,
    order_decision,
    order_arrival,
    order_end,
    order_included,
    home_group,
    rest_group,
    outlier_z,
):
    results = order_costs(order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc)
    m = order_side.shape[0]
    total_bps = np.full(m, np.nan)
    for o in range(m):
        paper = results[o, R_PAPER_NOTIONAL]
        if paper != 0.0:
            total_bps[o] = results[o, R_TOTAL] / paper * 10_000.0
    outlier = robust_outliers(total_bps, outlier_z)
    accumulate_orders(
        group_acc,
        home_group,
        rest_group,
        order_side,
        order_qty,
        order_decision,
        order_arrival,
        order_end,
        order_included,
        order_acc[:, O_FILLED_QTY].copy(),
        outlier,
    )
    return results, outlier, total_bps


@njit(cache=True)
def attribute_all(  # type: ignore[no-untyped-def]
    fill_order,
    fill_qty,
    fill_price,
    fill_fee,
    fill_ts,
    fill_keys,
    radix,
    origin_ns,
    width_ns,
    order_side,
    order_qty,
    order_decision,
    order_arrival,
    order_end,
    order_included,
    home_group,
    rest_group,
    group_part,
    order_part,
    outlier_z,
):
    """Run the whole attribution in one call, the fill loop in parallel (one cached library to load).

    Return (group_acc, order_acc, order_results, drop_counts, outlier flags, total bps per order).
    """
    group_acc, order_acc, drops = accumulate_fills(
        fill_order,
        fill_qty,
        fill_price,
        fill_fee,
        fill_ts,
        fill_keys,
        radix,
        origin_ns,
        width_ns,
        order_side,
        order_decision,
        order_arrival,
        order_included,
        group_part,
        order_part,
    )
    results, outlier, total_bps = _finish(
        group_acc,
        order_acc,
        order_side,
        order_qty,
        order_decision,
        order_arrival,
        order_end,
        order_included,
        home_group,
        rest_group,
        outlier_z,
    )
    return group_acc, order_acc, results, drops, outlier, total_bps


@njit(cache=True)
def attribute_all_serial(  # type: ignore[no-untyped-def]
    fill_order,
    fill_qty,
    fill_price,
    fill_fee,
    fill_ts,
    fill_keys,
    radix,
    origin_ns,
    width_ns,
    order_side,
    order_qty,
    order_decision,
    order_arrival,
    order_end,
    order_included,
    home_group,
    rest_group,
    group_part,
    order_part,
    outlier_z,
):
    """Do what attribute_all does on one thread, for inputs too small to pay for the thread pool."""
    group_acc, order_acc, drops = accumulate_fills_serial(
        fill_order,
        fill_qty,
        fill_price,
        fill_fee,
        fill_ts,
        fill_keys,
        radix,
        origin_ns,
        width_ns,
        order_side,
        order_decision,
        order_arrival,
        order_included,
        group_part,
        order_part,
    )
    results, outlier, total_bps = _finish(
        group_acc,
        order_acc,
        order_side,
        order_qty,
        order_decision,
        order_arrival,
        order_end,
        order_included,
        home_group,
        rest_group,
        outlier_z,
    )
    return group_acc, order_acc, results, drops, outlier, total_bps
