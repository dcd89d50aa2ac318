"""The numba kernels against the exact fractions reference on random data, and the invariants of the decomposition."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import tca_reference as ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.tca.analysis import COMPONENTS, analyse, attribute
from gateway.tca.kernels import (
    G_DELAY,
    G_EXECUTED_NOTIONAL,
    G_FEES,
    G_FILLED_QTY,
    G_FILLS,
    G_OPPORTUNITY,
    G_ORDERS,
    G_OUTLIERS,
    G_PAPER_NOTIONAL,
    G_SLICE_QTY,
    G_TRADING,
)
from gateway.tca.tables import build_data

DAY_NS = 86_400 * 1_000_000_000
WIDTH_NS = 3 * 3600 * 1_000_000_000  # eight buckets a day: small enough that groups collide
BUCKET_FIELDS = {
    "delay": G_DELAY,
    "trading": G_TRADING,
    "opportunity": G_OPPORTUNITY,
    "fees": G_FEES,
    "paper_notional": G_PAPER_NOTIONAL,
    "executed_notional": G_EXECUTED_NOTIONAL,
    "filled": G_FILLED_QTY,
    "slice_qty": G_SLICE_QTY,
    "fills": G_FILLS,
    "orders": G_ORDERS,
    "outliers": G_OUTLIERS,
}


def cents(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


prices = st.integers(min_value=1, max_value=500_000).map(cents)
maybe_price = st.one_of(prices, prices, prices, st.just(""), st.just("nan"))


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    n_orders = draw(st.integers(min_value=1, max_value=7))
    orders, fills = [], []
    for number in range(n_orders):
        side = draw(st.sampled_from(["BUY", "SELL"]))
        arrival_ts = draw(st.integers(min_value=0, max_value=3 * DAY_NS))
        end_ts = arrival_ts + draw(st.integers(min_value=0, max_value=DAY_NS // 2))
        orders.append(
            {
                "order_id": f"o{number}",
                "side": side,
                "quantity": draw(st.one_of(st.integers(min_value=1, max_value=5000), st.just(0))),
                "decision_price": draw(maybe_price),
                "arrival_price": draw(st.one_of(prices, prices, prices, prices, st.just(""))),
                "end_price": draw(maybe_price),
                "close_price": draw(maybe_price),
                "arrival_ts": arrival_ts,
                "end_ts": end_ts,
                "client": draw(st.sampled_from(["c0", "c1", "c2"])),
                "account": draw(st.sampled_from(["a0", "a1"])),
                "strategy": draw(st.sampled_from(["TWAP", "VWAP", "POV"])),
                "symbol": draw(st.sampled_from(["ACME", "BOLT"])),
            }
        )
        for _ in range(draw(st.integers(min_value=0, max_value=6))):
            fills.append(
                {
                    "order_id": f"o{number}" if draw(st.integers(0, 9)) else "unknown",
                    "side": side if draw(st.integers(0, 15)) else ("SELL" if side == "BUY" else "BUY"),
                    "quantity": draw(st.one_of(st.integers(min_value=1, max_value=2000), st.just(0))),
                    "price": draw(st.one_of(prices, prices, prices, prices, st.just("nan"))),
                    "fee": draw(st.one_of(st.integers(0, 2000).map(cents), st.just(""))),
                    "ts": arrival_ts + draw(st.integers(min_value=0, max_value=DAY_NS // 2)),
                    "venue": draw(st.sampled_from(["XNYS", "ARCX"])),
                    "client": orders[-1]["client"],
                    "account": orders[-1]["account"],
                    "strategy": orders[-1]["strategy"],
                    "symbol": orders[-1]["symbol"],
                }
            )
    return orders, fills


def columns(rows: list[dict[str, object]], names: list[str]) -> dict[str, list[object]]:
    return {name: [row.get(name, "") for row in rows] for name in names}


def to_data(orders: list[dict[str, object]], fills: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    order_names = list(orders[0])
    fill_names = [
        "order_id",
        "side",
        "quantity",
        "price",
        "fee",
        "ts",
        "venue",
        "client",
        "account",
        "strategy",
        "symbol",
    ]
    return build_data(columns(orders, order_names), columns(fills, fill_names))


def close(actual: float, expected: Fraction, scale: Fraction) -> bool:
    """Float64 sums of a few products agree with the exact value to well within 1e-12 of the amounts involved."""
    return abs(Fraction(actual) - expected) <= Fraction(1, 10**12) * scale + Fraction(1, 10**9)


def reference_outliers(reference: list[ref.RefOrder], threshold: float) -> tuple[set[str], bool]:
    """Return the exact outlier set and whether any order sits too near the threshold to compare with floats."""
    bps = {
        o.order_id: o.components()["total"] / o.components()["paper_notional"] * 10_000 for o in reference if o.included
    }
    values = sorted(bps.values())
    if len(values) < 3:
        return set(), False

    def median(xs: list[Fraction]) -> Fraction:
        n = len(xs)
        return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

    mid = median(values)
    spread = Fraction("1.4826") * median(sorted(abs(v - mid) for v in values))
    if spread == 0:
        spread = Fraction(sum(abs(v - mid) for v in values) / len(values)) * Fraction(np.sqrt(np.pi / 2))
    if spread == 0:
        return set(), False
    limit = Fraction(threshold) * spread
    near = any(abs(abs(v - mid) - limit) <= limit * Fraction(1, 10**6) for v in values)
    return {oid for oid, v in bps.items() if abs(v - mid) > limit}, near


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    datasets(), st.sampled_from([("client",), ("strategy", "bucket"), ("venue",), ("account", "symbol", "bucket"), ()])
)
def test_kernels_match_exact_reference(dataset, group_by) -> None:  # type: ignore[no-untyped-def]
    orders, fills = dataset
    data = to_data(orders, fills)
    reference = ref.build(orders, fills)
    table, _ = attribute(data, group_by, bucket_width_ns=WIDTH_NS, outlier_z=2.0)
    result = analyse(data, [group_by], bucket_width_ns=WIDTH_NS, outlier_z=2.0)

    by_id = {o.order_id: o for o in reference}
    magnitude = sum(
        (o.quantity * ((o.decision or 0) + (o.arrival or 0) + (o.end or 0)) for o in reference), Fraction(0)
    ) + sum((q * p + fee for o in reference for q, p, fee, _, _ in o.fills), Fraction(0))
    for row, oid in enumerate(result.orders.order_id):
        expected = by_id[oid]
        assert bool(result.orders.included[row]) == expected.included
        assert result.orders.exclusion[row] == expected.exclusion
        if not expected.included:
            assert np.isnan(result.orders.currency["total"][row])
            continue
        parts = expected.components()
        scale = expected.quantity * (expected.decision + expected.arrival + (expected.end or 0)) + sum(
            q * p + fee for q, p, fee, _, _ in expected.fills
        )
        for name in COMPONENTS:
            assert close(result.orders.currency[name][row], parts[name], scale), (oid, name)
        assert result.orders.filled_quantity[row] == expected.filled
        if expected.filled:
            average = sum(q * p for q, p, _, _, _ in expected.fills) / expected.filled
            assert close(result.orders.average_price[row], average, average)
            slip = expected.sign * (average - expected.arrival) / expected.arrival * 10_000
            assert close(result.orders.slippage_bps["arrival"][row], slip, abs(slip) + 10_000)
        else:
            assert np.isnan(result.orders.average_price[row])
            assert np.isnan(result.orders.slippage_bps["arrival"][row])

    outliers, near = reference_outliers(reference, 2.0)
    expected_groups = ref.attribute(reference, group_by, WIDTH_NS, outliers=None if near else outliers)
    got = {label: table.values[row] for row, label in enumerate(table.labels)}
    expected_labels = {
        tuple(f"{b * 3:02d}:00" if name == "bucket" else b for name, b in zip(group_by, key)) for key in expected_groups
    }
    assert set(got) == expected_labels
    for key, fields in expected_groups.items():
        label = tuple(f"{b * 3:02d}:00" if name == "bucket" else b for name, b in zip(group_by, key))
        values = got[label]
        for name, column in BUCKET_FIELDS.items():
            if name == "outliers" and near:
                continue
            assert close(values[column], fields.get(name, Fraction(0)), magnitude), (label, name)


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_components_sum_to_total_and_groups_add_up_to_orders(dataset) -> None:  # type: ignore[no-untyped-def]
    orders, fills = dataset
    data = to_data(orders, fills)
    result = analyse(data, [("strategy", "bucket"), ("venue",)], bucket_width_ns=WIDTH_NS)
    costs = result.orders
    ok = costs.included
    parts = sum(costs.currency[name][ok] for name in ("delay", "trading", "opportunity", "fees"))
    np.testing.assert_allclose(parts, costs.currency["total"][ok], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        sum(costs.bps[name][ok] for name in ("delay", "trading", "opportunity", "fees")),
        costs.bps["total"][ok],
        rtol=1e-9,
        atol=1e-9,
    )
    for table in result.groupings:
        for name in COMPONENTS:
            scale = np.abs(costs.paper_notional[ok]).sum() + 1.0
            assert abs(table.currency(name).sum() - costs.currency[name][ok].sum()) <= 1e-9 * scale
        rows = table.rows()
        for row in rows:
            total = sum(row[f"{name}_cost"] for name in ("delay", "trading", "opportunity", "fees"))  # type: ignore[misc]
            assert total == pytest.approx(row["total_cost"], rel=1e-12, abs=1e-9)
        assert sum(row["orders"] for row in rows) == int(np.count_nonzero(ok))  # type: ignore[misc]


def flipped(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{**row, "side": "SELL" if row["side"] == "BUY" else "BUY"} if "side" in row else row for row in rows]


@settings(max_examples=60, deadline=None)
@given(datasets())
def test_flipping_the_side_flips_every_component(dataset) -> None:  # type: ignore[no-untyped-def]
    orders, fills = dataset
    fills = [{**fill, "fee": ""} for fill in fills]  # fees are a cost whatever the side; without them all flips
    one = analyse(to_data(orders, fills), [("client",)])
    other = analyse(to_data(flipped(orders), flipped(fills)), [("client",)])
    for name in COMPONENTS:
        np.testing.assert_allclose(other.orders.currency[name], -one.orders.currency[name], rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(other.orders.bps[name], -one.orders.bps[name], rtol=1e-12, atol=1e-9)
    for name in ("arrival", "close"):
        np.testing.assert_allclose(other.orders.slippage_bps[name], -one.orders.slippage_bps[name], rtol=1e-12)
    for name in COMPONENTS:
        np.testing.assert_allclose(other.groupings[0].currency(name), -one.groupings[0].currency(name), atol=1e-9)


def test_flipping_the_side_keeps_fees_a_cost() -> None:
    orders = [
        {
            "order_id": "a",
            "side": "BUY",
            "quantity": 100,
            "arrival_price": "10.00",
            "decision_price": "9.90",
            "end_price": "10.50",
            "arrival_ts": 0,
            "end_ts": 10,
            "client": "c",
        }
    ]
    fills = [{"order_id": "a", "side": "BUY", "quantity": 60, "price": "10.10", "fee": "1.50", "ts": 5}]
    one = analyse(to_data(orders, fills), [("client",)]).orders
    other = analyse(to_data(flipped(orders), flipped(fills)), [("client",)]).orders
    for name in ("delay", "trading", "opportunity"):
        assert other.currency[name][0] == pytest.approx(-one.currency[name][0])
    assert other.currency["fees"][0] == one.currency["fees"][0] == pytest.approx(1.5)
