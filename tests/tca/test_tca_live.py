"""Live shortfall per parent: constant-time updates that agree exactly with the fractions reference."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.model import ErrorCode, RefusalError, Side
from gateway.tca.live import LiveShortfall


def test_buy_figures_and_snapshot_are_exact_decimal_text() -> None:
    # Prices in cents (precision 2): X=1000, decision 50.00, arrival 50.10; fills 600@50.20 (fee 3.00), 400@50.25.
    live = LiveShortfall.start(Side.BUY, 1000, arrival_price=5010, price_precision=2, decision_price=5000)
    live.on_fill(600, 5020, fee=300)
    live.on_mid(5030)
    # 400 left, marked at 50.30: opportunity 400*0.20 = 80; trading 600*0.10 = 60; delay 1000*0.10 = 100; fees 3.
    snap = live.snapshot()
    assert snap["delay_cost"] == "100.00" and snap["trading_cost"] == "60.00"
    assert snap["opportunity_cost"] == "80.00" and snap["fees_cost"] == "3.00" and snap["total_cost"] == "243.00"
    assert snap["total_bps"] == pytest.approx(48.6)
    assert snap["average_price"] == "50.200000" and snap["remaining_quantity"] == 400
    assert snap["slippage_vs_arrival_bps"] == pytest.approx(round(0.10 / 50.10 * 1e4, 2))
    live.on_fill(400, 5025)
    assert live.opportunity_cost == 0 and live.snapshot()["trading_cost"] == "120.00"


def test_sell_gain_is_negative_and_finish_freezes_the_mark() -> None:
    live = LiveShortfall.start(Side.SELL, 100, arrival_price=2000, price_precision=2)
    live.on_fill(40, 2010)  # sold above arrival: a gain of 40*0.10
    assert live.trading_cost == -400 and live.snapshot()["trading_cost"] == "-4.00"
    assert live.delay_cost == 0
    live.finish(1990)  # 60 unsold, price fell 0.10: opportunity 60*0.10 = 6.00
    live.on_mid(1900)  # ignored once finished
    assert live.snapshot()["opportunity_cost"] == "6.00" and live.snapshot()["finished"] is True


def test_bust_takes_a_fill_back() -> None:
    live = LiveShortfall.start(Side.BUY, 100, arrival_price=1000, price_precision=2)
    live.on_fill(50, 1010, fee=5)
    live.on_fill(50, 1020)
    live.on_fill_busted(50, 1010, fee=5)
    assert (live.filled_quantity, live.fills, live.fees, live.trading_cost) == (50, 1, 0, 50 * 20)
    with pytest.raises(RefusalError) as caught:
        live.on_fill_busted(80, 1010)
    assert caught.value.refusal.code is ErrorCode.VALIDATION_QUANTITY


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(RefusalError) as caught:
        LiveShortfall.start(Side.BUY, 0, arrival_price=1000, price_precision=2)
    assert caught.value.refusal.field == "quantity"
    with pytest.raises(RefusalError) as caught:
        LiveShortfall.start(Side.BUY, 10, arrival_price=0, price_precision=2)
    assert caught.value.refusal.field == "arrival_price"
    live = LiveShortfall.start(Side.BUY, 10, arrival_price=1000, price_precision=2)
    with pytest.raises(RefusalError):
        live.on_fill(1, -5)
    assert live.fills == 0


fill = st.tuples(st.integers(1, 500), st.integers(1, 100_000), st.integers(0, 500))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 5000),
    st.integers(1, 100_000),
    st.integers(1, 100_000),
    st.lists(fill, max_size=12),
    st.integers(1, 100_000),
    st.integers(0, 4),
)
def test_matches_the_exact_reference(side, quantity, arrival, decision, fills, mid, precision) -> None:  # type: ignore[no-untyped-def]
    live = LiveShortfall.start(
        side, quantity, arrival_price=arrival, price_precision=precision, decision_price=decision
    )
    for q, p, fee in fills:
        live.on_fill(q, p, fee)
    live.on_mid(mid)
    scale = Fraction(10**precision)
    s = side.sign
    A, D, M = Fraction(arrival) / scale, Fraction(decision) / scale, Fraction(mid) / scale
    filled = sum(q for q, _, _ in fills)
    delay = s * quantity * (A - D)
    trading = s * sum((q * (Fraction(p) / scale - A) for q, p, _ in fills), Fraction(0))
    opportunity = s * (quantity - filled) * (M - A)
    fees = sum((Fraction(f) / scale for _, _, f in fills), Fraction(0))
    total = delay + trading + opportunity + fees
    snap = live.snapshot()
    for name, value in (
        ("delay", delay),
        ("trading", trading),
        ("opportunity", opportunity),
        ("fees", fees),
        ("total", total),
    ):
        assert Fraction(str(snap[f"{name}_cost"])) == value, name
        assert snap[f"{name}_bps"] == pytest.approx(float(value / (quantity * D) * 10_000), abs=0.006)
    flipped = LiveShortfall.start(
        side.opposite, quantity, arrival_price=arrival, price_precision=precision, decision_price=decision
    )
    for q, p, _ in fills:
        flipped.on_fill(q, p)
    flipped.on_mid(mid)
    assert flipped.total_cost == -(live.total_cost - live.fees)
