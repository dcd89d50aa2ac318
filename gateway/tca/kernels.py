"""Numba kernels for transaction cost analysis; import this module only where the numbers are needed.

Importing it imports numba (about half a second), so nothing on the gateway's start-up path does: callers import it
inside functions. Every kernel is compiled once per machine and cached on disk (``cache=True``) for the canonical dtypes
that ``gateway.tca.tables`` produces, so a fresh process pays only the load of the cached machine code.

Sign convention everywhere: side ``s`` is +1 for a buy and -1 for a sell, and a positive number is a cost.
"""

from __future__ import annotations

import threading

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

# Columns of the per-group accumulator (float64; counts and quantities are exact below 2**53). The first G_HOT are
# the ones the fill loop adds to: eight doubles, one cache line per group row in its private accumulators.
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

# The fill loop's private row per order: what the order's fills in the current time bucket add up to so far.
H_QTY = 0
H_NOTIONAL = 1
H_FEES = 2
H_FILLS = 3
H_CODE = 4  # with keys that vary per fill: their code for the fills being added up
H_NARROW = 4  # row width without per-fill keys: 32 bytes, two orders per cache line
H_WIDE = 8

LARGEST_PRICE = np.finfo(np.float64).max  # p <= this is false for inf and NaN: two compares, not a bit test
PREFETCH_AHEAD = 32  # fills: far enough for a row to arrive from L3 before its fill is reached

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


def aligned_empty(shape: tuple[int, ...]) -> np.ndarray:
    """Return an uninitialised float64 array that starts on a 64-byte line, so a row never straddles two cache lines."""
    size = 1
    for extent in shape:
        size *= extent
    buffer = np.empty(size + 8)
    offset = (-buffer.ctypes.data % 64) // 8
    return buffer[offset : offset + size].reshape(shape)


SCRATCH_BUFFERS = 4  # fill_buffers' first four: the threads' own, which the caller never sees
SCRATCH_KEPT_BYTES = 256 * 2**20  # the largest scratch kept for the next call
_kept_scratch: dict[tuple[tuple[int, ...], ...], tuple[np.ndarray, ...]] = {}
_kept_lock = threading.Lock()


def fill_buffers(
    n_chunks: int, n_groups: int, n_orders: int, n_fills: int, per_fill_keys: bool
) -> tuple[np.ndarray, ...]:
    """Return the fill loop's buffers: each thread's group accumulators, open rows, order totals and touched-order
    list (the scratch), then the merged group accumulators and order totals.

    numpy allocates them, not the kernels: it asks for huge pages, so the first touch of each costs a page fault per
    2 MB instead of one per 4 KB (about 3,000 fewer faults a call on 10 million fills). None is zeroed here: each
    thread zeroes its own rows and the groups of the buckets it reaches, and the merge writes every merged figure,
    all in parallel. Zeroing here took 3 to 4 ms of one thread on 10 million fills.

    The scratch that keep_scratch kept from a call of the same shape is taken instead of fresh memory, which the
    operating system faults in and zeroes on first touch. Fresh on every call, 10 million fills and 200,000 orders
    took 5,800 page faults and 21 ms of system CPU; kept, none (the memory the results free is then reused too), and
    the call took 15% less CPU.
    """
    per_chunk = -(-n_fills // n_chunks) if n_chunks else 0
    shapes = (
        (n_chunks, n_groups, G_HOT),
        (n_chunks, n_orders, H_WIDE if per_fill_keys else H_NARROW),
        (n_chunks, n_orders, O_FIELDS),
        (n_chunks, min(n_orders, per_chunk) + 1),
    )
    with _kept_lock:
        scratch = _kept_scratch.pop(shapes, None)
    if scratch is None:
        scratch = (
            aligned_empty(shapes[0]),
            aligned_empty(shapes[1]),
            np.empty(shapes[2]),
            np.empty(shapes[3], dtype=np.int64),
        )
    return scratch + (np.empty((n_groups, G_FIELDS)), np.empty((n_orders, O_FIELDS)))


def keep_scratch(buffers: tuple[np.ndarray, ...]) -> None:
    """Keep the scratch of a fill_buffers result for the next call of the same shape, once the kernels are done
    with it. One set is kept, of at most SCRATCH_KEPT_BYTES; a concurrent call of the same shape allocates its own."""
    scratch = buffers[:SCRATCH_BUFFERS]
    if sum(array.nbytes for array in scratch) <= SCRATCH_KEPT_BYTES:
        with _kept_lock:
            _kept_scratch.clear()
            _kept_scratch[tuple(array.shape for array in scratch)] = scratch


def release_scratch() -> None:
    """Let go of the kept scratch (up to SCRATCH_KEPT_BYTES), for a process that has finished its analyses."""
    with _kept_lock:
        _kept_scratch.clear()


def order_buffers(n_orders: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return attribute_all's per-order outputs and work space: results float64[m, R_FIELDS], total bps float64[m]
    and the outlier test's work float64[m], views of one allocation.

    One allocation of 16 MB for 200,000 orders gets huge pages from numpy (it asks for them from 4 MB up); the same
    arrays allocated inside the kernels took 4,000 page faults of 4 KB a call.
    """
    block = np.empty(n_orders * (R_FIELDS + 2))
    results = block[: n_orders * R_FIELDS].reshape(n_orders, R_FIELDS)
    return results, block[n_orders * R_FIELDS : n_orders * (R_FIELDS + 1)], block[n_orders * (R_FIELDS + 1) :]


@intrinsic
def _prefetch_row(typingctx, rows, index):  # type: ignore[no-untyped-def]
    """Ask the CPU to bring row (or element) index of an array into L1 for writing, without waiting for it."""
    signature = types.void(rows, index)

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        rows_type, index_type = sig.args
        array = context.make_array(rows_type)(context, builder, args[0])
        at = [context.cast(builder, args[1], index_type, types.intp)]
        at += [context.get_constant(types.intp, 0)] * (rows_type.ndim - 1)
        pointer = cgutils.get_item_pointer(context, builder, rows_type, array, at, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0i8"
        )
        # write, keep in all cache levels, data cache
        builder.call(prefetch, [builder.bitcast(pointer, byte_pointer), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return signature, codegen


@njit(cache=True, inline="always")
def _close_row(o, acc, hot, totals, orders, bucket, n_combos, fill_span):  # type: ignore[no-untyped-def]
    """Add order o's open row to its group and its totals, and empty the row.

    The thread's accumulators are numbered bucket first (bucket * n_combos + key combination), so the groups of the
    bucket being closed are neighbours in L1; with the bucket last, as reported, they would be 2 KB to 20 KB apart and
    fight over the same few cache sets. _merge_part puts them back in reported order.
    """
    qty = hot[o, H_QTY]
    notional = hot[o, H_NOTIONAL]
    fees = hot[o, H_FEES]
    fills = hot[o, H_FILLS]
    order_code, order_side, order_decision, order_arrival, _ = orders
    code = np.int64(hot[o, H_CODE]) if fill_span > 1 else np.int64(0)
    s = np.float64(order_side[o])
    decision = order_decision[o]
    arrival_notional = qty * order_arrival[o]
    g = np.uint64(bucket * n_combos + order_code[o] * fill_span + code)
    acc[g, G_DELAY] += s * (arrival_notional - qty * decision)
    acc[g, G_TRADING] += s * (notional - arrival_notional)
    acc[g, G_FEES] += fees
    acc[g, G_PAPER_NOTIONAL] += qty * decision
    acc[g, G_EXECUTED_NOTIONAL] += notional
    acc[g, G_ARRIVAL_NOTIONAL] += arrival_notional
    acc[g, G_FILLED_QTY] += qty
    acc[g, G_FILLS] += fills
    totals[o, O_FILLED_QTY] += qty
    totals[o, O_EXECUTED_NOTIONAL] += notional
    totals[o, O_FEES] += fees
    hot[o, H_QTY] = 0.0
    hot[o, H_NOTIONAL] = 0.0
    hot[o, H_FEES] = 0.0
    hot[o, H_FILLS] = 0.0


@njit(cache=True, inline="always")
def _close_rows(  # type: ignore[no-untyped-def]
    n_touched, touched, acc, hot, totals, orders, bucket, n_combos, fill_span
):
    """Close the rows of the orders touched since the last close; return the new (empty) list's length."""
    last = n_touched - 1
    for j in range(n_touched):
        # A burst of rows: fetch what a later close will read.
        ahead = touched[np.uint64(min(j + PREFETCH_AHEAD, last))]
        _prefetch_row(hot, ahead)
        _prefetch_row(totals, ahead)
        _prefetch_row(orders[0], ahead)
        _prefetch_row(orders[2], ahead)
        _prefetch_row(orders[3], ahead)
        o = np.uint64(touched[np.uint64(j)])
        if hot[o, H_FILLS] != 0.0:  # zero when closed already: listed again after its per-fill keys changed
            _close_row(o, acc, hot, totals, orders, bucket, n_combos, fill_span)
    return np.int64(0)


@njit(cache=True, inline="always")
def _use_bucket(acc, used, bucket, n_combos):  # type: ignore[no-untyped-def]
    """Zero the thread's groups of a bucket the first time one of its fills reaches it, and mark it used."""
    if not used[bucket]:
        for g in range(bucket * n_combos, (bucket + 1) * n_combos):
            for f in range(G_HOT):
                acc[g, f] = 0.0
        used[bucket] = True


@njit(cache=True)
def _add_fills(  # type: ignore[no-untyped-def]
    start, stop, span_start, span_stop, n_touched, hot, touched, drop, fills, fill_keys, fill_radix, origin_ns, timed
):
    """Add fills start..stop-1 to their orders' open rows until one needs the caller; return (where it stopped, the
    touched list's length, that fill's local time).

    The hot loop, in a function of its own so that the closing code does not share its registers: inlined in one loop
    with the closes, the fill path kept its column pointers and the list length on the stack. The caller's work is a
    fill outside the time span [span_start, span_stop), a full touched list, or an open row whose per-fill keys differ.
    A fill left out is counted here and never handed back, so resuming at the returned fill counts nothing twice.
    Indices are unsigned: numba then emits no negative-index wraparound on each read (about a fifth of the loop).
    """
    fill_order, fill_qty, fill_price, fill_fee, fill_ts = fills
    m = hot.shape[0]
    capacity = touched.shape[0]
    last = max(stop - 1, 0)
    for i in range(max(start, 0), stop):
        at = np.uint64(i)
        ahead = fill_order[np.uint64(min(i + PREFETCH_AHEAD, last))]
        _prefetch_row(hot, ahead if np.uint32(ahead) < np.uint32(m) else 0)  # unsigned: one test for both ends
        row = fill_order[at]
        if np.uint32(row) >= np.uint32(m):
            drop[DROP_UNKNOWN_ORDER] += 1
            continue
        o = np.uint32(row)
        count = hot[o, H_FILLS]
        q = fill_qty[at]
        p = fill_price[at]
        # One predictable branch. A count is never negative: count >= 0 is false only for a left-out order's NaN.
        if not ((count >= 0.0) & (q > 0) & (p > 0.0) & (p <= LARGEST_PRICE)):
            if not count >= 0.0:
                drop[DROP_EXCLUDED_ORDER] += 1
            elif q <= 0:
                drop[DROP_QUANTITY] += 1
            else:
                drop[DROP_PRICE] += 1
            continue
        fee = fill_fee[at]
        if np.isnan(fee):
            drop[MISSING_FEE] += 1
            fee = 0.0
        local = fill_ts[at] + origin_ns if timed else np.int64(0)
        if local < span_start or local >= span_stop:
            return i, n_touched, local
        if fill_keys is not None:  # None (compiled without this block) when every key is fixed per order
            code = np.int64(0)
            for key in range(fill_keys.shape[0]):
                code = code * fill_radix[key] + fill_keys[key, at]
            if (count != 0.0 and hot[o, H_CODE] != code) or n_touched == capacity:
                return i, n_touched, local
            hot[o, H_CODE] = code
        touched[np.uint64(n_touched)] = o  # kept only when the row was empty: no branch to mispredict
        n_touched += count == 0.0
        qf = np.float64(q)
        hot[o, H_QTY] += qf
        hot[o, H_NOTIONAL] += qf * p
        hot[o, H_FEES] += fee
        hot[o, H_FILLS] = count + 1.0
    return stop, n_touched, np.int64(0)


@njit(cache=True)
def _fill_range(  # type: ignore[no-untyped-def]
    start, stop, acc, hot, totals, touched, drop, used, fills, fill_keys, grouping, orders
):
    """Add fills start..stop-1 to one thread's accumulators.

    A fill only adds to its order's open row (quantity, q*p, fee, count; _add_fills). The group figures are linear in
    those, so each row is added to its group once, when the fills leave the row's time bucket (fills come in time
    order, so that is about once per order and bucket) or its per-fill keys change: four adds per fill instead of
    eleven.
    """
    fill_radix, n_buckets, origin_ns, width_ns = grouping
    order_included = orders[4]
    m = hot.shape[0]
    fill_span = np.int64(1)
    for key in range(fill_radix.shape[0]):
        fill_span *= fill_radix[key]
    n_combos = acc.shape[0] // n_buckets
    timed = n_buckets > 1
    n_touched = np.int64(0)
    bucket = np.int64(0)
    # With one bucket every fill is in the span; otherwise the first fill finds itself outside the empty span.
    span_start = np.int64(0 if timed else np.iinfo(np.int64).min)
    span_stop = np.int64(0 if timed else np.iinfo(np.int64).max)
    for o in range(m):  # a left-out order's fill count is NaN: the fill reads it anyway, so no other array is read
        hot[o, H_QTY] = 0.0
        hot[o, H_NOTIONAL] = 0.0
        hot[o, H_FEES] = 0.0
        hot[o, H_FILLS] = 0.0 if order_included[o] else np.nan
        for f in range(O_FIELDS):
            totals[o, f] = 0.0
    if not timed:
        _use_bucket(acc, used, 0, n_combos)
    i = start
    while True:
        i, n_touched, local = _add_fills(
            i,
            stop,
            span_start,
            span_stop,
            n_touched,
            hot,
            touched,
            drop,
            fills,
            fill_keys,
            grouping[0],
            origin_ns,
            timed,
        )
        if i >= stop:
            break
        if local < span_start or local >= span_stop:  # the fills left the bucket: close every open row
            n_touched = _close_rows(n_touched, touched, acc, hot, totals, orders, bucket, n_combos, fill_span)
            period = local // width_ns  # divide only on leaving the current bucket's span
            bucket = period % n_buckets
            _use_bucket(acc, used, bucket, n_combos)
            span_start = period * width_ns
            span_stop = span_start + width_ns
        elif n_touched == touched.shape[0]:  # an order is listed again after each change of its per-fill keys
            n_touched = _close_rows(n_touched, touched, acc, hot, totals, orders, bucket, n_combos, fill_span)
        else:  # the fill's per-fill keys differ from those its order's open row adds up
            _close_row(np.uint32(fills[0][i]), acc, hot, totals, orders, bucket, n_combos, fill_span)
    _close_rows(n_touched, touched, acc, hot, totals, orders, bucket, n_combos, fill_span)


@njit(cache=True, inline="always")
def _merge_part(part, n_parts, group_part, totals_part, used, group_acc, order_acc):  # type: ignore[no-untyped-def]
    """Write part `part` of n_parts of the merged accumulators: its share of the key combinations (every bucket of
    each, in reported order) and of the orders, each the sum of the threads' figures.

    Every field of every group row is written (zeros where no fill reached), so group_acc need not be zeroed first.
    A combination's reported rows are neighbours, so the writes stream; the reads take one cache line per thread,
    combination and bucket.
    """
    n_chunks, n_groups = group_part.shape[0], group_part.shape[1]
    n_buckets = used.shape[1]
    n_combos = n_groups // n_buckets
    m = totals_part.shape[1]
    per_part = -(-n_combos // n_parts)
    for combo in range(part * per_part, min(n_combos, part * per_part + per_part)):
        for bucket in range(n_buckets):
            g = np.uint64(combo * n_buckets + bucket)
            at = np.uint64(bucket * n_combos + combo)  # the threads number their groups bucket first
            for f in range(G_HOT):
                group_acc[g, f] = 0.0
            for chunk in range(n_chunks):
                if used[chunk, bucket]:  # a thread zeroes and fills only the buckets it reached
                    for f in range(G_HOT):
                        group_acc[g, f] += group_part[chunk, at, f]
            for f in range(G_HOT, G_FIELDS):
                group_acc[g, f] = 0.0
            group_acc[g, G_SLICE_QTY] = group_acc[g, G_FILLED_QTY]
    per_part = -(-m // n_parts)
    for o in range(part * per_part, min(m, part * per_part + per_part)):
        for f in range(O_FIELDS):
            total = totals_part[0, o, f]
            for chunk in range(1, n_chunks):
                total += totals_part[chunk, o, f]
            order_acc[o, f] = total


@njit(cache=True, inline="always")
def _drop_counts(drops):  # type: ignore[no-untyped-def]
    """Return the threads' counts of left-out fills, summed."""
    drop_counts = np.zeros(DROP_FIELDS, dtype=np.int64)
    for chunk in range(drops.shape[0]):
        for f in range(DROP_FIELDS):
            drop_counts[f] += drops[chunk, f]
    return drop_counts


@njit(cache=True, inline="always")
def _slices(n_chunks, n_buckets):  # type: ignore[no-untyped-def]
    """Return each slice's drop counters and the buckets it wrote to."""
    return np.zeros((n_chunks, DROP_FIELDS), dtype=np.int64), np.zeros((n_chunks, n_buckets), dtype=np.bool_)


@njit(cache=True, parallel=True)
def accumulate_fills(fills, fill_keys, grouping, orders, buffers):  # type: ignore[no-untyped-def]
    """Add every fill's slice to its group and to its order, in parallel; return (group_acc, order_acc, drops).

    fills: (row of the fill's order int32[n], quantity int64[n], price float64[n], fee float64[n], ts int64[n] ns
    since the epoch). fill_keys: int32[kf, n] category codes of the grouping keys that vary within an order, or None.
    grouping: (number of categories of each of those keys int64[kf], number of time-of-day buckets, origin_ns added
    to ts before bucketing (a UTC offset), bucket width in ns); the group is (order code, fill keys' code, bucket) in
    mixed radix. orders: (group number of the keys fixed per order int64[m], side int8[m] +1 buy -1 sell, decision
    float64[m], arrival float64[m], included bool[m]: False for orders left out). buffers: fill_buffers(...).
    """
    group_part, hot_part, totals_part, touched_part, group_acc, order_acc = buffers
    n = fills[1].shape[0]
    n_chunks = group_part.shape[0]
    drops, used = _slices(n_chunks, grouping[1])
    step = (n + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        _fill_range(
            chunk * step,
            min(n, chunk * step + step),
            group_part[chunk],
            hot_part[chunk],
            totals_part[chunk],
            touched_part[chunk],
            drops[chunk],
            used[chunk],
            fills,
            fill_keys,
            grouping,
            orders,
        )
    for part in prange(n_chunks):
        _merge_part(part, n_chunks, group_part, totals_part, used, group_acc, order_acc)
    return group_acc, order_acc, _drop_counts(drops)


@njit(cache=True)
def accumulate_fills_serial(fills, fill_keys, grouping, orders, buffers):  # type: ignore[no-untyped-def]
    """Do what accumulate_fills does on one thread (buffers of one slice), without starting the thread pool."""
    group_part, hot_part, totals_part, touched_part, group_acc, order_acc = buffers
    drops, used = _slices(1, grouping[1])
    _fill_range(
        0,
        fills[1].shape[0],
        group_part[0],
        hot_part[0],
        totals_part[0],
        touched_part[0],
        drops[0],
        used[0],
        fills,
        fill_keys,
        grouping,
        orders,
    )
    _merge_part(0, 1, group_part, totals_part, used, group_acc, order_acc)
    return group_acc, order_acc, _drop_counts(drops)


@njit(cache=True, inline="always")
def _order_rows(start, stop, results, total_bps, order_args):  # type: ignore[no-untyped-def]
    """Write rows start..stop-1 of order_costs's results and each order's total in bps of its paper notional."""
    order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc = order_args
    for o in range(start, stop):
        if not order_included[o]:
            for f in range(R_FIELDS):
                results[o, f] = np.nan
            total_bps[o] = np.nan
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
        total = delay + trading + opportunity + fees
        paper = x * decision
        results[o, R_FILLED_QTY] = filled
        results[o, R_AVERAGE_PRICE] = executed / filled if filled > 0.0 else np.nan
        results[o, R_DELAY] = delay
        results[o, R_TRADING] = trading
        results[o, R_OPPORTUNITY] = opportunity
        results[o, R_FEES] = fees
        results[o, R_TOTAL] = total
        results[o, R_PAPER_NOTIONAL] = paper
        total_bps[o] = total / paper * 10_000.0 if paper != 0.0 else np.nan


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
    """Return each order's implementation shortfall in its parts (float64[m, R_FIELDS]; NaN rows left out) and its
    total in bps of its paper notional (float64[m]; NaN when left out or when the paper notional is zero)."""
    m = order_side.shape[0]
    results = np.empty((m, R_FIELDS))
    total_bps = np.empty(m)
    args = (order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc)
    _order_rows(0, m, results, total_bps, args)
    return results, total_bps


@njit(cache=True, parallel=True)
def order_costs_parallel(  # type: ignore[no-untyped-def]
    order_side,
    order_qty,
    order_decision,
    order_arrival,
    order_end,
    order_included,
    order_acc,
    results,
    total_bps,
    n_chunks,
):
    """Do what order_costs does in n_chunks slices of the orders, on all threads, into results and total_bps
    (order_buffers); return them."""
    m = order_side.shape[0]
    args = (order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc)
    step = (m + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        _order_rows(chunk * step, min(m, chunk * step + step), results, total_bps, args)
    return results, total_bps


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
    order_args = (order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_filled)
    _add_rests(group_acc, home_group, rest_group, order_args)
    _add_outliers(group_acc, home_group, order_included, order_outlier)


@njit(cache=True, inline="always")
def _add_outliers(group_acc, home_group, order_included, order_outlier):  # type: ignore[no-untyped-def]
    """Count each included order flagged as an outlier in its home group."""
    for o in range(order_included.shape[0]):
        if order_included[o] and order_outlier[o]:
            group_acc[home_group[o], G_OUTLIERS] += 1.0


@njit(cache=True, inline="always")
def _add_rests(group_acc, home_group, rest_group, order_args):  # type: ignore[no-untyped-def]
    """Add each included order's count to its home group and its unfilled rest to its rest group."""
    order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_filled = order_args
    m = order_side.shape[0]
    for o in range(m):
        if not order_included[o]:
            continue
        group_acc[home_group[o], G_ORDERS] += 1.0
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
def _heap_sort(values):  # type: ignore[no-untyped-def]
    """Sort values in place in O(n log n) whatever their order (np.sort would add 5 s to the first compile)."""
    n = values.shape[0]
    for end in range(n, 0, -1):
        first = n // 2 - 1 if end == n else 0  # build the heap once, then restore its top after each removal
        for start in range(first, -1, -1):
            root = start
            while True:
                child = 2 * root + 1
                if child >= end:
                    break
                if child + 1 < end and values[child] < values[child + 1]:
                    child += 1
                if values[root] >= values[child]:
                    break
                values[root], values[child] = values[child], values[root]
                root = child
        values[0], values[end - 1] = values[end - 1], values[0]


@njit(cache=True)
def _select(values, k, max_rounds=64):  # type: ignore[no-untyped-def]
    """Return the k-th smallest of values (k from 0), reordering them so that none after position k is smaller.

    Quickselect with a branch-free partition: each comparison decides how far an index moves, not which way the code
    goes, so unordered data costs no mispredicted branches (np.median's partition branches on every element and takes
    2.5x as long on 200,000 orders' costs). A pivot that nothing is below gathers its copies in one pass, so ties
    cannot make it quadratic; past max_rounds (bad luck with the pivots) what is left is heap-sorted.
    """
    lo, hi = 0, values.shape[0] - 1
    rounds = 0
    while lo < hi:
        rounds += 1
        if rounds > max_rounds:
            _heap_sort(values[lo : hi + 1])
            return values[k]
        mid = (lo + hi) >> 1
        a, b, c = values[lo], values[mid], values[hi]
        p = mid if (a <= b) == (b <= c) else (lo if (b <= a) == (a <= c) else hi)  # the median of the three
        pivot = values[p]
        values[p] = values[hi]
        values[hi] = pivot
        j = lo  # values[lo:j] < pivot <= values[j:i]
        for i in range(lo, hi):
            x = values[i]
            values[i] = values[j]
            values[j] = x
            j += x < pivot
        values[hi] = values[j]
        values[j] = pivot
        if k < j:
            hi = j - 1
        elif j > lo:
            if k == j:
                return pivot
            lo = j + 1
        else:  # nothing below the pivot: move its copies to the front, values[lo:j] == pivot < values[j:hi + 1]
            j += 1
            for i in range(j, hi + 1):
                x = values[i]
                values[i] = values[j]
                values[j] = x
                j += x == pivot
            if k < j:
                return pivot
            lo = j
    return values[k]


@njit(cache=True)
def _median_in_place(values):  # type: ignore[no-untyped-def]
    """Return the median of values (at least one), as np.median computes it, reordering them."""
    n = values.shape[0]
    half = n >> 1
    if n & 1:
        return _select(values, half)
    return (_select(values, half - 1) + values[half:].min()) / 2


@njit(cache=True)
def robust_outliers(values, threshold_z):  # type: ignore[no-untyped-def]
    """Flag values further than threshold_z robust standard deviations (median, MAD) from the median."""
    flags = np.zeros(values.shape[0], dtype=np.bool_)
    _outlier_flags(values, threshold_z, np.empty(values.shape[0]), flags)
    return flags


@njit(cache=True)
def _outlier_flags(values, threshold_z, work, flags):  # type: ignore[no-untyped-def]
    """Do what robust_outliers does into flags (bool[len(values)], all False), with work (float64[len(values)]) as
    the space its medians overwrite."""
    finite = work
    n = 0
    for value in values:
        if np.isfinite(value):
            finite[n] = value
            n += 1
    if n < 3:
        return
    finite = finite[:n]
    median = _median_in_place(finite)
    for i in range(n):
        finite[i] = abs(finite[i] - median)  # the deviations, in the same buffer: their order does not matter
    spread = MAD_TO_SIGMA * _median_in_place(finite)
    if spread == 0.0:  # more than half identical: fall back to the mean absolute deviation
        spread = finite.sum() / n * np.sqrt(np.pi / 2.0)  # their mean
    if spread == 0.0:
        return
    limit = threshold_z * spread
    for i in range(values.shape[0]):
        if np.isfinite(values[i]) and abs(values[i] - median) > limit:
            flags[i] = True


@njit(cache=True, parallel=True)
def _flag_beside_rests(  # type: ignore[no-untyped-def]
    total_bps, outlier_z, work, flags, group_acc, home_group, rest_group, order_args
):
    """Flag the outliers on one thread while the other adds the orders' counts and rests to their groups: both take
    about 4 ms on 200,000 orders and neither needs the other."""
    for task in prange(2):
        if task == 0:
            _outlier_flags(total_bps, outlier_z, work, flags)
        else:
            _add_rests(group_acc, home_group, rest_group, order_args)


@njit(cache=True)
def _finish(  # type: ignore[no-untyped-def]
    group_acc, order_acc, drops, order_out, home_group, order_included, flags
):
    """Count the outliers in their groups; return everything."""
    results, total_bps, _ = order_out
    _add_outliers(group_acc, home_group, order_included, flags)
    return group_acc, order_acc, results, drops, flags, total_bps


@njit(cache=True)
def attribute_all(  # type: ignore[no-untyped-def]
    fills, fill_keys, grouping, orders, order_qty, order_end, home_group, rest_group, buffers, outlier_z, order_out
):
    """Run the whole attribution in one call, the fill loop in parallel (one cached library to load).

    The arguments are accumulate_fills's, then each order's quantity (int64[m]) and end price (float64[m]), its home
    and rest groups (accumulate_orders), the outlier threshold and order_buffers(m). Return (group_acc, order_acc,
    order_results, drop_counts, outlier flags, total bps per order).
    """
    group_acc, order_acc, drops = accumulate_fills(fills, fill_keys, grouping, orders, buffers)
    _, order_side, order_decision, order_arrival, order_included = orders
    results, total_bps, work = order_out
    order_args = (order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc)
    order_costs_parallel(*order_args, results, total_bps, buffers[0].shape[0])
    rest_args = order_args[:-1] + (order_acc[:, O_FILLED_QTY],)
    flags = np.zeros(order_side.shape[0], dtype=np.bool_)
    _flag_beside_rests(total_bps, outlier_z, work, flags, group_acc, home_group, rest_group, rest_args)
    return _finish(group_acc, order_acc, drops, order_out, home_group, order_included, flags)


@njit(cache=True)
def attribute_all_serial(  # type: ignore[no-untyped-def]
    fills, fill_keys, grouping, orders, order_qty, order_end, home_group, rest_group, buffers, outlier_z, order_out
):
    """Do what attribute_all does on one thread, for inputs too small to pay for the thread pool."""
    group_acc, order_acc, drops = accumulate_fills_serial(fills, fill_keys, grouping, orders, buffers)
    _, order_side, order_decision, order_arrival, order_included = orders
    results, total_bps, work = order_out
    order_args = (order_side, order_qty, order_decision, order_arrival, order_end, order_included, order_acc)
    _order_rows(0, order_side.shape[0], results, total_bps, order_args)
    flags = np.zeros(order_side.shape[0], dtype=np.bool_)
    _outlier_flags(total_bps, outlier_z, work, flags)
    _add_rests(group_acc, home_group, rest_group, order_args[:-1] + (order_acc[:, O_FILLED_QTY],))
    return _finish(group_acc, order_acc, drops, order_out, home_group, order_included, flags)
