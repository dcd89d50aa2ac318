"""Market benchmarks from the public tape: interval VWAP without our prints, full-day VWAP, close, previous close."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY_NS = 86_400 * 1_000_000_000
_DAY_RADIX = 10_000_000  # days since the epoch stay far below this


@dataclass(slots=True)
class MarketBenchmarks:
    interval_vwap: np.ndarray
    day_vwap: np.ndarray
    close_price: np.ndarray
    prev_close_price: np.ndarray


def local_day(ts: np.ndarray, utc_offset_ns: int) -> np.ndarray:
    """Return the local calendar day number of each timestamp."""
    return (ts + utc_offset_ns) // DAY_NS


def market_benchmarks(
    tape_symbol: np.ndarray,
    tape_ts: np.ndarray,
    tape_price: np.ndarray,
    tape_qty: np.ndarray,
    tape_own: np.ndarray,
    order_symbol: np.ndarray,
    start_ts: np.ndarray,
    end_ts: np.ndarray,
    utc_offset_ns: int,
) -> MarketBenchmarks:
    """Return each order's benchmarks from the tape (NaN where the tape has no print to say).

    The interval VWAP covers prints with start_ts <= ts <= end_ts, leaving out the prints marked ``own``; the day's
    VWAP and close are over every print of the order's local day (the published figures include us); the previous
    close is the last print of the symbol's previous day on the tape.
    """
    from gateway.tca import kernels

    usable = (tape_qty > 0) & (tape_price > 0) & np.isfinite(tape_price)
    symbol, ts, price, qty, own = (a[usable] for a in (tape_symbol, tape_ts, tape_price, tape_qty, tape_own))
    n_symbols = int(max(symbol.max(initial=-1), order_symbol.max(initial=-1))) + 1

    order = np.lexsort((ts, symbol))
    symbol, ts, price, qty, own = symbol[order], ts[order], price[order], qty[order], own[order]
    market_qty = np.where(own, 0.0, qty)
    cum_notional = np.concatenate(([0.0], np.cumsum(price * market_qty)))
    cum_qty = np.concatenate(([0.0], np.cumsum(market_qty)))
    symbol_start = np.searchsorted(symbol, np.arange(n_symbols + 1)).astype(np.int64)
    interval = kernels.interval_vwap(
        ts.astype(np.int64),
        cum_notional,
        cum_qty,
        symbol_start,
        order_symbol.astype(np.int32),
        start_ts.astype(np.int64),
        end_ts.astype(np.int64),
    )

    # Sorted by (symbol, ts) is also sorted by (symbol, day): each (symbol, day) is one run of rows.
    day_key = symbol.astype(np.int64) * _DAY_RADIX + local_day(ts, utc_offset_ns)
    keys, first = np.unique(day_key, return_index=True)
    last = np.append(first[1:], day_key.shape[0]) - 1
    notional_by_day = np.add.reduceat(price * qty, first) if first.size else np.zeros(0)
    qty_by_day = np.add.reduceat(qty, first) if first.size else np.zeros(0)
    vwap_by_day = notional_by_day / np.where(qty_by_day > 0, qty_by_day, np.nan)
    close_by_day = price[last]
    same_symbol_before = np.zeros(keys.shape[0], dtype=bool)
    same_symbol_before[1:] = keys[1:] // _DAY_RADIX == keys[:-1] // _DAY_RADIX
    prev_close_by_day = np.where(same_symbol_before, np.roll(close_by_day, 1), np.nan)

    order_key = order_symbol.astype(np.int64) * _DAY_RADIX + local_day(start_ts, utc_offset_ns)
    at = np.searchsorted(keys, order_key)
    found = (
        (at < keys.shape[0]) & (keys[np.minimum(at, max(keys.shape[0] - 1, 0))] == order_key)
        if keys.size
        else (np.zeros(order_key.shape[0], dtype=bool))
    )
    at = np.minimum(at, max(keys.shape[0] - 1, 0))

    def pick(values: np.ndarray) -> np.ndarray:
        return np.where(found, values[at], np.nan) if keys.size else np.full(order_key.shape[0], np.nan)

    return MarketBenchmarks(interval, pick(vwap_by_day), pick(close_by_day), pick(prev_close_by_day))
