"""Hand-computed shortfall for buys, sells, partial and no fills; attribution rules; missing and bad values."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.model import ErrorCode, RefusalError
from gateway.tca import analysis, kernels
from gateway.tca.analysis import analyse, attribute
from gateway.tca.tables import build_data

MIN = 60 * 1_000_000_000
HOUR = 60 * MIN


def orders_columns(*rows: dict[str, object]) -> dict[str, list[object]]:
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    return {name: [row.get(name, "") for row in rows] for name in names}


def one(order: dict[str, object], fills: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    base = {"arrival_ts": 0, "end_ts": HOUR, "client": "c", "strategy": "s"}
    fill_base = {"ts": 1}
    fill_rows = [{**fill_base, **f} for f in fills]
    data = build_data(
        orders_columns({**base, **order}),
        orders_columns(*fill_rows) if fill_rows else {"order_id": [], "quantity": [], "price": [], "ts": []},
    )
    return analyse(data, [("client",)])


def costs_of(result, row: int = 0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {name: float(result.orders.currency[name][row]) for name in analysis.COMPONENTS}


def bps_of(result, row: int = 0) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return {name: float(result.orders.bps[name][row]) for name in analysis.COMPONENTS}


def test_buy_fully_filled_above_arrival() -> None:
    # X=1000, decision 50.00, arrival 50.10: delay 1000*0.10 = 100; fills 600@50.20, 400@50.30:
    # trading 600*0.10 + 400*0.20 = 140; fees 3 + 2 = 5; nothing left: opportunity 0; total 245 on paper 50,000.
    result = one(
        {
            "order_id": "b1",
            "side": "BUY",
            "quantity": 1000,
            "decision_price": "50.00",
            "arrival_price": "50.10",
            "end_price": "51.00",
        },
        [
            {"order_id": "b1", "quantity": 600, "price": "50.20", "fee": "3.00"},
            {"order_id": "b1", "quantity": 400, "price": "50.30", "fee": "2.00"},
        ],
    )
    assert costs_of(result) == pytest.approx({"delay": 100, "trading": 140, "opportunity": 0, "fees": 5, "total": 245})
    assert bps_of(result) == pytest.approx({"delay": 20, "trading": 28, "opportunity": 0, "fees": 1, "total": 49})
    assert result.orders.average_price[0] == pytest.approx(50.24)
    # 0.14 / 50.10 of the arrival price
    assert result.orders.slippage_bps["arrival"][0] == pytest.approx(0.14 / 50.10 * 10_000)


def test_sell_partly_filled_into_a_falling_market() -> None:
    # X=500 sell, decision 20.00, arrival 19.90: delay -1*500*(19.90-20.00) = 50; fill 300@19.80: trading
    # -1*300*(19.80-19.90) = 30; 200 unfilled, end 19.50: opportunity -1*200*(19.50-19.90) = 80; fee 1; total 161.
    result = one(
        {
            "order_id": "s1",
            "side": "SELL",
            "quantity": 500,
            "decision_price": "20.00",
            "arrival_price": "19.90",
            "end_price": "19.50",
        },
        [{"order_id": "s1", "quantity": 300, "price": "19.80", "fee": "1.00"}],
    )
    assert costs_of(result) == pytest.approx({"delay": 50, "trading": 30, "opportunity": 80, "fees": 1, "total": 161})
    assert bps_of(result) == pytest.approx({"delay": 50, "trading": 30, "opportunity": 80, "fees": 1, "total": 161})
    assert result.orders.filled_quantity[0] == 300
    assert result.orders.slippage_bps["arrival"][0] == pytest.approx(0.10 / 19.90 * 10_000)


def test_partial_buy_pays_opportunity_on_the_rest() -> None:
    # X=200, decision = arrival = 10.00, fill 50@10.05: trading 2.50; rest 150 marked at 11.00: opportunity 150.
    result = one(
        {
            "order_id": "p1",
            "side": "BUY",
            "quantity": 200,
            "decision_price": "10.00",
            "arrival_price": "10.00",
            "end_price": "11.00",
        },
        [{"order_id": "p1", "quantity": 50, "price": "10.05"}],
    )
    assert costs_of(result) == pytest.approx(
        {"delay": 0, "trading": 2.5, "opportunity": 150, "fees": 0, "total": 152.5}
    )
    assert result.orders.bps["total"][0] == pytest.approx(152.5 / 2000 * 10_000)
    assert result.groupings[0].rows()[0]["fill_rate"] == pytest.approx(0.25)


def test_sell_with_no_fills_is_all_delay_and_opportunity() -> None:
    # X=100 sell, decision 30.00, arrival 30.20: delay -1*100*0.20 = -20 (a gain); end 29.00: opportunity
    # -1*100*(29.00-30.20) = 120; total 100 on paper 3,000; no average price, no slippage.
    result = one(
        {
            "order_id": "n1",
            "side": "SELL",
            "quantity": 100,
            "decision_price": "30.00",
            "arrival_price": "30.20",
            "end_price": "29.00",
        },
        [],
    )
    assert costs_of(result) == pytest.approx({"delay": -20, "trading": 0, "opportunity": 120, "fees": 0, "total": 100})
    assert result.orders.bps["total"][0] == pytest.approx(100 / 3000 * 10_000)
    assert np.isnan(result.orders.average_price[0])
    assert all(np.isnan(v[0]) for v in result.orders.slippage_bps.values())
    assert result.diagnostics["orders_without_fills"] == 1
    row = result.groupings[0].rows()[0]
    assert (
        row["fills"] == 0 and row["orders"] == 1 and row["fill_rate"] == 0.0 and row["slippage_vs_arrival_bps"] is None
    )


def test_liquidation_decision_price_is_the_mid_at_the_instruction() -> None:
    # The risk engine's instruction came at mid 100.00; the gateway's child reached the market at 99.80: the 0.20
    # the price fell meanwhile is our reaction's delay cost on a sell: -1*1000*(99.80-100.00) = 200.
    result = one(
        {
            "order_id": "L1",
            "side": "SELL",
            "quantity": 1000,
            "decision_price": "100.00",
            "arrival_price": "99.80",
            "end_price": "99.00",
            "liquidation": "true",
        },
        [{"order_id": "L1", "quantity": 1000, "price": "99.70"}],
    )
    assert costs_of(result)["delay"] == pytest.approx(200)
    assert costs_of(result)["trading"] == pytest.approx(100)


def test_benchmark_slippage_uses_each_benchmark() -> None:
    result = one(
        {
            "order_id": "v1",
            "side": "BUY",
            "quantity": 100,
            "arrival_price": "10.00",
            "end_price": "10.00",
            "interval_vwap": "10.10",
            "day_vwap": "9.90",
            "close_price": "10.40",
            "prev_close_price": "8.00",
        },
        [{"order_id": "v1", "quantity": 100, "price": "10.20"}],
    )
    slip = {k: float(v[0]) for k, v in result.orders.slippage_bps.items()}
    assert slip == pytest.approx(
        {
            "arrival": 200.0,
            "interval_vwap": 0.1 / 10.1 * 1e4,
            "day_vwap": 0.3 / 9.9 * 1e4,
            "close": -0.2 / 10.4 * 1e4,
            "prev_close": 2.2 / 8.0 * 1e4,
        }
    )


def two_order_data():  # type: ignore[no-untyped-def]
    # Orders A (10,000 paper at 100.00) and B (1,000 at 10.00), both TWAP for client c.
    orders = orders_columns(
        {
            "order_id": "A",
            "side": "BUY",
            "quantity": 100,
            "arrival_price": "100.00",
            "end_price": "101.00",
            "arrival_ts": 9 * HOUR,
            "end_ts": 11 * HOUR + 5 * MIN,
            "client": "c",
            "strategy": "TWAP",
        },
        {
            "order_id": "B",
            "side": "BUY",
            "quantity": 100,
            "arrival_price": "10.00",
            "end_price": "10.00",
            "arrival_ts": 9 * HOUR + 40 * MIN,
            "end_ts": 10 * HOUR,
            "client": "c",
            "strategy": "TWAP",
        },
    )
    fills = orders_columns(
        {"order_id": "A", "quantity": 50, "price": "100.20", "ts": 9 * HOUR + 10 * MIN, "venue": "X"},
        {"order_id": "A", "quantity": 30, "price": "100.50", "ts": 10 * HOUR + 10 * MIN, "venue": "Y"},
        {"order_id": "B", "quantity": 100, "price": "10.50", "ts": 9 * HOUR + 50 * MIN, "venue": "X"},
    )
    return build_data(orders, fills)


def test_group_bps_is_a_ratio_of_sums_not_a_mean_of_ratios() -> None:
    data = two_order_data()
    result = analyse(data, [("strategy",)])
    # A: trading 50*0.20 + 30*0.50 = 25, opportunity 20*1.00 = 20, total 45 of 10,000 (45 bps).
    # B: trading 100*0.50 = 50 of 1,000 (500 bps). The group: 95 of 11,000, not (45+500)/2.
    assert result.orders.bps["total"] == pytest.approx([45.0, 500.0])
    row = result.groupings[0].rows()[0]
    assert row["total_bps"] == pytest.approx(95 / 11_000 * 10_000)
    assert row["orders"] == 2 and row["fills"] == 3
    assert row["paper_notional"] == pytest.approx(11_000)
    assert row["executed_notional"] == pytest.approx(50 * 100.2 + 30 * 100.5 + 100 * 10.5)
    assert row["fill_rate"] == pytest.approx(180 / 200)
    assert row["slippage_vs_arrival_bps"] == pytest.approx(75 / (8_000 + 1_000) * 10_000)


def test_trading_cost_lands_in_the_bucket_of_each_fill() -> None:
    data = two_order_data()
    table, _ = attribute(data, ("bucket",), bucket_width_ns=HOUR)
    rows = {row["bucket"]: row for row in table.rows()}
    assert sorted(rows) == ["09:00", "10:00", "11:00"]
    # 09:00 holds both orders' arrivals and the fills at 09:10 (A) and 09:50 (B): trading 10 + 50.
    assert rows["09:00"]["orders"] == 2 and rows["09:00"]["fills"] == 2
    assert rows["09:00"]["trading_cost"] == pytest.approx(60)
    assert rows["09:00"]["paper_notional"] == pytest.approx(50 * 100 + 100 * 10)
    # 10:00: A's fill at 10:10 (trading 15). B ended at 10:00 fully filled: no rest slice.
    assert rows["10:00"]["trading_cost"] == pytest.approx(15) and rows["10:00"]["orders"] == 0
    # 11:00: A's unfilled 20 shares at its end (11:05): opportunity 20, fill rate 0.
    assert rows["11:00"]["opportunity_cost"] == pytest.approx(20)
    assert rows["11:00"]["fill_rate"] == 0.0 and rows["11:00"]["fills"] == 0
    assert sum(r["total_cost"] for r in rows.values()) == pytest.approx(95)


def test_bucket_follows_the_utc_offset() -> None:
    data = two_order_data()
    table, _ = attribute(data, ("bucket",), bucket_width_ns=HOUR, utc_offset_ns=-5 * HOUR)
    assert sorted(row["bucket"] for row in table.rows()) == ["04:00", "05:00", "06:00"]


def test_venue_groups_split_an_order_across_venues() -> None:
    data = two_order_data()
    table, _ = attribute(data, ("venue",))
    rows = {row["venue"]: row for row in table.rows()}
    # A's rest and both orders' counts follow the order's venue, taken from its first fill (X).
    assert rows["Y"]["trading_cost"] == pytest.approx(15) and rows["Y"]["orders"] == 0
    assert rows["X"]["trading_cost"] == pytest.approx(60) and rows["X"]["orders"] == 2
    assert rows["X"]["opportunity_cost"] == pytest.approx(20)


def test_outliers_are_counted_in_their_group() -> None:
    rows, fills = [], []
    for n in range(21):
        strategy = "ODD" if n == 20 else "NORMAL"
        rows.append(
            {
                "order_id": f"o{n}",
                "side": "BUY",
                "quantity": 100,
                "arrival_price": "10.00",
                "end_price": "10.00",
                "arrival_ts": 0,
                "end_ts": 1,
                "client": "c",
                "strategy": strategy,
            }
        )
        price = "12.00" if n == 20 else f"10.{n % 5:02d}"
        fills.append({"order_id": f"o{n}", "quantity": 100, "price": price, "ts": 1})
    result = analyse(build_data(orders_columns(*rows), orders_columns(*fills)), [("strategy",)])
    by = {row["strategy"]: row for row in result.groupings[0].rows()}
    assert by["ODD"]["outliers"] == 1 and by["NORMAL"]["outliers"] == 0
    assert result.orders.outlier.tolist() == [False] * 20 + [True]


MEDIAN_CASES = {
    "random, even": np.random.default_rng(1).normal(5.0, 20.0, 10_000),
    "random, odd": np.random.default_rng(2).normal(0.0, 1.0, 9_999),
    "heavy tails": np.random.default_rng(3).standard_cauchy(10_000),
    "few distinct values": np.round(np.random.default_rng(4).normal(0.0, 1.0, 10_000)),
    "mostly zero": np.concatenate([np.zeros(7_500), np.random.default_rng(5).normal(0.0, 1.0, 2_500)]),
    "all equal": np.full(10_001, 2.5),
    "sorted": np.sort(np.random.default_rng(6).normal(0.0, 1.0, 10_000)),
    "reversed": -np.sort(np.random.default_rng(7).normal(0.0, 1.0, 10_000)),
    "huge values": np.array([1e300, -1e300, 3.0, 1e-300, -0.0, 0.0, 7.0, 1e300]),
    "one": np.array([4.0]),
    "two": np.array([4.0, 1.0]),
}


@pytest.mark.parametrize("name", list(MEDIAN_CASES))
def test_outlier_median_is_numpys_median(name: str) -> None:
    values = MEDIAN_CASES[name]
    assert kernels._median_in_place(values.copy()) == np.median(values)


def test_outlier_median_is_numpys_median_on_random_small_arrays() -> None:
    rng = np.random.default_rng(8)
    for _ in range(2_000):  # small arrays of few distinct values: every tie pattern the partition can meet
        values = rng.integers(-3, 4, rng.integers(1, 40)).astype(np.float64)
        assert kernels._median_in_place(values.copy()) == np.median(values), values


def test_selection_falls_back_to_a_heap_sort_that_sorts() -> None:
    rng = np.random.default_rng(9)
    for size in (1, 2, 3, 10, 257, 1_000):
        values = np.round(rng.normal(0.0, 3.0, size))  # ties included
        in_place = values.copy()
        kernels._heap_sort(in_place)
        assert in_place.tolist() == np.sort(values).tolist()
        k = int(rng.integers(0, size))
        assert kernels._select(values.copy(), k, 0) == np.sort(values)[k]  # no quickselect round allowed


def test_sorting_path_for_many_groups_gives_the_dense_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    data = two_order_data()
    dense, _ = attribute(data, ("client", "venue", "bucket"), bucket_width_ns=HOUR)
    monkeypatch.setattr(analysis, "DENSE_GROUP_LIMIT", 1)
    sparse, _ = attribute(data, ("client", "venue", "bucket"), bucket_width_ns=HOUR)
    assert sorted(dense.labels) == sorted(sparse.labels)
    order = [sparse.labels.index(label) for label in dense.labels]
    np.testing.assert_allclose(sparse.values[order], dense.values)


# --- missing, zero and bad values -------------------------------------------------------------------------------


def test_orders_left_out_and_fills_dropped_say_why() -> None:
    orders = orders_columns(
        {"order_id": "zero", "side": "BUY", "quantity": 0, "arrival_price": "10", "end_price": "10"},
        {"order_id": "noarr", "side": "BUY", "quantity": 10, "arrival_price": "", "end_price": "10"},
        {"order_id": "noend", "side": "BUY", "quantity": 10, "arrival_price": "10", "end_price": ""},
        {"order_id": "fullnoend", "side": "SELL", "quantity": 10, "arrival_price": "10", "end_price": "nan"},
        {
            "order_id": "ok",
            "side": "BUY",
            "quantity": 10,
            "arrival_price": "10",
            "decision_price": "",
            "end_price": "11",
        },
    )
    fills = orders_columns(
        {"order_id": "zero", "quantity": 5, "price": "10", "ts": 1},
        {"order_id": "fullnoend", "quantity": 10, "price": "9.5", "ts": 1, "side": "SELL"},
        {"order_id": "ok", "quantity": 0, "price": "10", "ts": 1},
        {"order_id": "ok", "quantity": 3, "price": "nan", "ts": 1},
        {"order_id": "ok", "quantity": 4, "price": "10.5", "ts": 1, "fee": "nan"},
        {"order_id": "ok", "quantity": 4, "price": "10.5", "ts": 1, "side": "SELL"},
        {"order_id": "ghost", "quantity": 4, "price": "10.5", "ts": 1},
    )
    result = analyse(build_data(orders, fills), [("client",)])
    assert result.orders.exclusion.tolist() == ["ZERO_QUANTITY", "NO_ARRIVAL_PRICE", "NO_END_PRICE", "", ""]
    # A fully filled order needs no end price: -1*10*(9.5-10) = 5.
    assert result.orders.currency["total"][3] == pytest.approx(5.0)
    # No decision price: arrival stands in, delay 0; 4 filled at 10.5, 6 left at 11: 2 + 6.
    assert result.orders.currency["delay"][4] == 0.0
    assert result.orders.currency["total"][4] == pytest.approx(8.0)
    d = result.diagnostics
    assert (d["fills_of_excluded_orders"], d["fills_zero_quantity"], d["fills_bad_price"]) == (1, 1, 1)
    # Blank and 'nan' fees of used fills both count as missing (and as zero): fullnoend's and ok's 10.5 fill.
    assert (d["fills_missing_fee"], d["fills_side_mismatch"], d["fills_unknown_order"]) == (2, 1, 1)
    assert d["orders_decision_from_arrival"] == 2 and d["orders_included"] == 2 and d["fills_used"] == 2


def test_bad_text_is_refused_naming_the_row_and_column() -> None:
    orders = orders_columns({"order_id": "a", "side": "BUY", "quantity": 10, "arrival_price": "ten"})
    with pytest.raises(RefusalError) as caught:
        build_data(orders, {"order_id": [], "quantity": [], "price": [], "ts": []}, order_source="o.csv")
    assert caught.value.refusal.code is ErrorCode.VALIDATION_PRICE
    assert "o.csv row 1 column arrival_price" in caught.value.refusal.message
    with pytest.raises(RefusalError) as caught:
        build_data(
            orders_columns({"order_id": "a", "side": "BUY", "quantity": "1.5", "arrival_price": "1"}),
            {"order_id": [], "quantity": [], "price": [], "ts": []},
        )
    assert caught.value.refusal.code is ErrorCode.VALIDATION_QUANTITY
    with pytest.raises(RefusalError) as caught:
        build_data(
            orders_columns({"order_id": "a", "side": "HOLD", "quantity": 1, "arrival_price": "1"}),
            {"order_id": [], "quantity": [], "price": [], "ts": []},
        )
    assert "not BUY or SELL" in caught.value.refusal.message
    with pytest.raises(RefusalError) as caught:
        build_data(
            {"order_id": ["a"], "side": ["BUY"], "quantity": [1]},
            {"order_id": [], "quantity": [], "price": [], "ts": []},
        )
    assert caught.value.refusal.field == "arrival_price"


def test_bucket_width_must_divide_the_day() -> None:
    with pytest.raises(RefusalError) as caught:
        attribute(two_order_data(), ("bucket",), bucket_width_ns=7 * MIN)
    assert caught.value.refusal.code is ErrorCode.VALIDATION_PARAMETER


def test_kernels_handle_nan_zero_and_unknown_rows_directly() -> None:
    side = np.array([1, -1], dtype=np.int8)
    decision = np.array([10.0, 20.0])
    arrival = np.array([10.5, 19.0])
    included = np.array([True, False])
    fill_order = np.array([0, 0, 0, 0, 1, 5, -1], dtype=np.int32)
    qty = np.array([10, 0, 10, 10, 10, 10, 10], dtype=np.int64)
    price = np.array([11.0, 11.0, np.nan, 12.0, 18.0, 1.0, 1.0])
    fee = np.array([1.0, 1.0, 1.0, np.nan, 1.0, 1.0, 1.0])
    ts = np.zeros(7, dtype=np.int64)
    group_acc, order_acc, drops = accumulate(fill_order, qty, price, fee, ts, side, decision, arrival, included)
    assert drops.tolist() == [2, 1, 1, 1, 1]  # unknown, excluded order, zero qty, NaN price, NaN fee (kept as 0)
    assert order_acc[0, kernels.O_FILLED_QTY] == 20 and order_acc[0, kernels.O_FEES] == 1.0
    assert group_acc[0, kernels.G_TRADING] == pytest.approx(10 * 0.5 + 10 * 1.5)
    end = np.array([np.nan, np.nan])
    results, _ = kernels.order_costs(
        side, np.array([20, 10], dtype=np.int64), decision, arrival, end, included, order_acc
    )
    assert results[0, kernels.R_OPPORTUNITY] == 0.0  # fully filled: a missing end price does not matter
    assert results[0, kernels.R_TOTAL] == pytest.approx(20 * 0.5 + 20.0 + 1.0)
    assert np.all(np.isnan(results[1]))  # left out
    results, _ = kernels.order_costs(
        side, np.array([30, 10], dtype=np.int64), decision, arrival, end, included, order_acc
    )
    assert np.isnan(results[0, kernels.R_OPPORTUNITY]) and np.isnan(results[0, kernels.R_TOTAL])


def accumulate(  # type: ignore[no-untyped-def]
    fill_order, qty, price, fee, ts, side, decision, arrival, included, fill_keys=None, fill_radix=None, chunks=2
):
    """Call the parallel fill kernel directly: one group per fill key code, one bucket."""
    fill_radix = np.zeros(0, np.int64) if fill_radix is None else fill_radix
    n_groups = int(np.prod(fill_radix))
    buffers = kernels.fill_buffers(chunks, n_groups, side.shape[0], qty.shape[0], fill_keys is not None)
    return kernels.accumulate_fills(
        (fill_order, qty, price, fee, ts),
        fill_keys,
        (fill_radix, np.int64(1), np.int64(0), np.int64(1)),
        (np.zeros(side.shape[0], np.int64), side, decision, arrival, included),
        buffers,
    )


def test_orders_switching_venues_within_a_bucket_keep_each_venues_fills() -> None:
    # Each change of venue closes the order's open row and lists the order again; with two orders and random
    # switches the list of touched orders (room for three) overflows again and again, closing every row, including
    # the one the fill at hand is about to add to.
    rng = np.random.default_rng(3)
    n = 400
    order = rng.integers(0, 2, n).astype(np.int32)
    venue = rng.integers(0, 3, (1, n)).astype(np.int32)
    qty = rng.integers(1, 10, n).astype(np.int64) * 100
    price = np.round(10.0 + rng.normal(0, 0.05, n), 2)
    fee = np.round(qty * 0.001, 2)
    side = np.array([-1, 1], np.int8)
    decision = np.array([10.0, 10.01])
    arrival = np.array([10.02, 10.0])
    group_acc, order_acc, drops = accumulate(
        order,
        qty,
        price,
        fee,
        np.zeros(n, np.int64),
        side,
        decision,
        arrival,
        np.array([True, True]),
        fill_keys=venue,
        fill_radix=np.array([3], np.int64),
        chunks=1,
    )
    assert drops.tolist() == [0, 0, 0, 0, 0]
    s = side[order].astype(np.float64)
    for code in range(3):
        mine = venue[0] == code
        assert group_acc[code, kernels.G_FILLS] == mine.sum()
        assert group_acc[code, kernels.G_FILLED_QTY] == qty[mine].sum()
        expected = np.sum((s * qty * (price - arrival[order]))[mine])
        assert group_acc[code, kernels.G_TRADING] == pytest.approx(expected, rel=1e-12, abs=1e-9)
        assert group_acc[code, kernels.G_FEES] == pytest.approx(fee[mine].sum(), rel=1e-12)
    for o in range(2):
        assert order_acc[o, kernels.O_FILLED_QTY] == qty[order == o].sum()


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_buffers_full_of_stale_numbers_give_the_results_of_zeroed_ones(chunks: int) -> None:
    # fill_buffers zeroes nothing: each thread zeroes its own rows and the buckets its fills reach, and the merge
    # writes every merged figure, buckets no fill reached included. Memory that held NaN and garbage must therefore
    # give exactly what zeroed memory gives, and both what the fills add up to.
    rng = np.random.default_rng(11)
    n, m, n_buckets, width = 3000, 40, 6, 60
    order = rng.integers(0, m, n).astype(np.int32)
    ts = np.sort(rng.integers(0, 4 * width, n)).astype(np.int64)  # buckets 0 to 3 reached, 4 and 5 not
    qty = rng.integers(1, 10, n).astype(np.int64) * 100
    price = np.round(10.0 + rng.normal(0, 0.05, n), 2)
    fee = np.round(qty * 0.001, 2)
    code = rng.integers(0, 2, m).astype(np.int64)
    side = rng.choice(np.array([-1, 1], np.int8), m)
    decision = np.round(10.0 + rng.normal(0, 0.02, m), 2)
    arrival = np.round(10.0 + rng.normal(0, 0.02, m), 2)
    included = np.ones(m, bool)
    arguments = (
        (order, qty, price, fee, ts),
        None,
        (np.zeros(0, np.int64), np.int64(n_buckets), np.int64(0), np.int64(width)),
        (code, side, decision, arrival, included),
    )

    def run(fill):  # type: ignore[no-untyped-def]
        buffers = kernels.fill_buffers(chunks, 2 * n_buckets, m, n, False)
        for array in buffers:
            array[...] = fill if array.dtype == np.float64 else -(2**40)
        return kernels.accumulate_fills(*arguments, buffers)

    stale, zeroed = run(np.nan), run(0.0)
    for found, expected in zip(stale, zeroed, strict=True):
        assert np.array_equal(found, expected)
    group_acc, order_acc, drops = stale
    assert drops.tolist() == [0, 0, 0, 0, 0]
    group = code[order] * n_buckets + ts // width
    s = side[order].astype(np.float64)
    for g in range(2 * n_buckets):
        mine = group == g
        assert group_acc[g, kernels.G_FILLS] == mine.sum()
        assert group_acc[g, kernels.G_FILLED_QTY] == group_acc[g, kernels.G_SLICE_QTY] == qty[mine].sum()
        expected = np.sum((s * qty * (price - arrival[order]))[mine])
        assert group_acc[g, kernels.G_TRADING] == pytest.approx(expected, rel=1e-12, abs=1e-9)
        for field in (kernels.G_OPPORTUNITY, kernels.G_ORDERS, kernels.G_OUTLIERS):
            assert group_acc[g, field] == 0.0  # the order-level figures come later, added to zeros
    assert not group_acc.reshape(2, n_buckets, -1)[:, 4:].any()  # buckets no fill reached
    assert np.array_equal(order_acc[:, kernels.O_FILLED_QTY], np.bincount(order, weights=qty, minlength=m))


def test_a_call_of_the_same_shape_takes_the_kept_scratch_and_never_the_results() -> None:
    first = kernels.fill_buffers(2, 12, 40, 3000, False)
    kernels.keep_scratch(first)
    other_shape = kernels.fill_buffers(2, 12, 41, 3000, False)
    assert other_shape[0] is not first[0]
    again = kernels.fill_buffers(2, 12, 40, 3000, False)
    assert all(a is b for a, b in zip(again[: kernels.SCRATCH_BUFFERS], first[: kernels.SCRATCH_BUFFERS], strict=True))
    assert again[-2] is not first[-2] and again[-1] is not first[-1]  # the merged results are the caller's to keep
    assert kernels.fill_buffers(2, 12, 40, 3000, False)[0] is not first[0]  # taken: a second taker gets its own
    kernels.keep_scratch(again)
    kernels.release_scratch()
    assert kernels.fill_buffers(2, 12, 40, 3000, False)[0] is not first[0]


def test_repeated_analyses_reuse_the_scratch_and_give_the_same_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from gateway.tca.readers import load_files

    sample = Path(__file__).resolve().parents[2] / "examples" / "tca"
    data = load_files([sample / "orders.csv", sample / "fills.csv"])
    monkeypatch.setattr(analysis, "PARALLEL_MIN_FILLS", 0)
    kernels.release_scratch()
    runs = [attribute(data, ("strategy", "bucket")) for _ in range(3)]  # the second and third on the first's scratch
    for table, output in runs[1:]:
        assert table.labels == runs[0][0].labels
        assert np.array_equal(table.values, runs[0][0].values)
        assert np.array_equal(output.order_results, runs[0][1].order_results, equal_nan=True)
        assert np.array_equal(output.group_acc, runs[0][1].group_acc)


def test_parallel_and_serial_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    from gateway.tca.readers import load_files

    sample = Path(__file__).resolve().parents[2] / "examples" / "tca"
    data = load_files([sample / "orders.csv", sample / "fills.csv"])
    serial, serial_out = attribute(data, ("strategy", "bucket"))
    monkeypatch.setattr(analysis, "PARALLEL_MIN_FILLS", 0)
    monkeypatch.setattr(kernels, "default_chunks", lambda: 3)  # uneven slices of the fills, three accumulators
    parallel, parallel_out = attribute(data, ("strategy", "bucket"))
    assert serial.labels == parallel.labels
    np.testing.assert_allclose(parallel.values, serial.values, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(parallel_out.order_results, serial_out.order_results, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(parallel_out.total_bps, serial_out.total_bps, rtol=1e-12, atol=1e-9)
    assert parallel_out.outlier.tolist() == serial_out.outlier.tolist()
    assert serial_out.drops.tolist() == parallel_out.drops.tolist()
