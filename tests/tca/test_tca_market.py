"""Benchmarks from the public tape: interval VWAP without our prints, day VWAP, close and previous close."""

from __future__ import annotations

import pytest

from gateway.tca.analysis import analyse
from gateway.tca.tables import build_data

DAY = 86_400 * 1_000_000_000
HOUR = 3_600 * 1_000_000_000


def test_tape_gives_each_order_its_benchmarks() -> None:
    d1, d2 = 19_000 * DAY, 19_001 * DAY
    tape = {
        "symbol": ["ACME"] * 7 + ["BOLT"],
        "ts": [
            d1 + 15 * HOUR,
            d1 + 20 * HOUR,
            d2 + 14 * HOUR,
            d2 + 15 * HOUR,
            d2 + 16 * HOUR,
            d2 + 17 * HOUR,
            d2 + 15 * HOUR + 1,
            d2 + 15 * HOUR,
        ],
        "price": ["9.00", "9.50", "10.00", "10.20", "10.40", "11.00", "50.00", "99.00"],
        "quantity": [100, 100, 100, 100, 300, 200, 1000, 50],
        "own": ["false", "false", "false", "false", "false", "false", "true", "false"],
    }
    orders = {
        "order_id": ["A", "B"],
        "side": ["BUY", "BUY"],
        "quantity": [1000, 10],
        "arrival_price": ["10.10", "99"],
        "arrival_ts": [d2 + 15 * HOUR, d2 + 15 * HOUR],
        "end_ts": [d2 + 16 * HOUR, d2 + 16 * HOUR],
        "symbol": ["ACME", "BOLT"],
        "close_price": ["", "100.00"],
    }
    fills = {
        "order_id": ["A", "B"],
        "quantity": [1000, 10],
        "price": ["50.00", "99.50"],
        "ts": [d2 + 15 * HOUR + 1, d2 + 15 * HOUR],
        "symbol": ["ACME", "BOLT"],
    }
    data = build_data(orders, fills, tape)
    a, b = data.orders, data.orders
    # A's life 15:00-16:00 holds 10.20 x100 and 10.40 x300; our own 1000 @ 50.00 is left out.
    assert a.interval_vwap[0] == pytest.approx((10.2 * 100 + 10.4 * 300) / 400)
    # The day's VWAP counts every print of day 2, ours included; the close is its last print; prev close day 1's.
    assert a.day_vwap[0] == pytest.approx((10 * 100 + 10.2 * 100 + 10.4 * 300 + 11 * 200 + 50 * 1000) / 1700)
    assert a.close_price[0] == pytest.approx(11.0)
    assert a.prev_close_price[0] == pytest.approx(9.5)
    # A close given in the orders file wins over the tape's; BOLT has no previous day on the tape.
    assert b.close_price[1] == pytest.approx(100.0)
    assert b.prev_close_price[1] != b.prev_close_price[1]  # NaN
    result = analyse(data, [("symbol",)])
    assert result.orders.slippage_bps["interval_vwap"][0] == pytest.approx((50 - 10.35) / 10.35 * 1e4)
