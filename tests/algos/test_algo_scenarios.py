"""Parent orders trading against the simulated venue on the simulated clock: whole sessions in seconds, same every run.

Schedules are recomputed here from the parameters (a straight line, hand-written curve weights, the printed tape), not
read back from the algorithm, so a wrong algorithm fails them. A checkpoint is a slice boundary one millisecond later:
the algorithm has acted and the venue (100 us away) has answered.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import structlog
from algo_harness import SimHarness, make_instrument

from adapters.sim.venue import RejectCode
from gateway.clock import NANOS_PER_SECOND as S
from gateway.model import ErrorCode, OrderStatus, RefusalError, Side, TimeInForce

AFTER_ACTING_NS = 1_000_000  # 1 ms: one venue round trip is 200 us


@pytest.fixture(autouse=True)
def quiet_logs() -> Any:
    """Keep the per-order info lines of the venue and the manager off the terminal for these long runs."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.reset_defaults()


def started(**instrument: Any) -> tuple[SimHarness, int]:
    harness = SimHarness([make_instrument(**instrument)]) if instrument else SimHarness()
    harness.advance(30)  # let the makers quote and the tape start
    return harness, harness.clock.now_ns()


def finished(harness: SimHarness, parent_id: str = "P1") -> Any:
    events = harness.events_named("ParentFinished", parent_id)
    assert len(events) <= 1
    return events[0] if events else None


def own_fills(harness: SimHarness) -> int:
    return sum(fill.quantity for fill in harness.fills)


# --- TWAP ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("market", ["calm", "running_away"])
def test_twap_stays_inside_its_band_of_the_straight_line_and_is_done_by_its_end_time(market: str) -> None:
    harness, start = started()
    quantity, duration_s, slice_s, tolerance = 20_000, 1_800, 60, 0.05
    params = {"duration_s": duration_s, "slice_interval_s": slice_s, "tolerance": tolerance,
              "end_behavior": "complete"}
    if market == "running_away":  # resting slices are left behind and never repriced: only crossing keeps it in band
        params |= {"requote_interval_s": 3_600, "cross_ticks": 3}
    parent = harness.submit("TWAP", Side.BUY, quantity, params)
    band = tolerance * quantity
    slices = duration_s // slice_s
    deviations = []
    for k in range(1, slices + 1):
        if market == "running_away" and k in (8, 15, 22):
            harness.advance_to(start + ((k - 1) * slice_s + 20) * S)
            harness.venue.gap("ACME", harness.venue.fair_price("ACME") + 150)  # +1.5% in one jump
        harness.advance_to(start + k * slice_s * S + AFTER_ACTING_NS)
        line = quantity * k / slices
        deviation = parent.filled_quantity - line
        deviations.append(deviation)
        assert -band <= deviation <= band, f"slice {k}: filled {parent.filled_quantity} vs line {line:.0f}"
    end = start + duration_s * S
    done = finished(harness)
    assert done is not None and done.reason == "filled" and done.ts_event <= end + AFTER_ACTING_NS
    assert parent.filled_quantity == own_fills(harness) == quantity
    if market == "running_away":  # the market left resting slices behind: it pulled them and crossed instead
        crossed = [o for o in harness.sent if o.time_in_force is TimeInForce.IOC and o.filled_quantity]
        pulled = [o for o in harness.sent if o.time_in_force is TimeInForce.DAY and o.status is OrderStatus.CANCELED]
        assert crossed and pulled
    else:
        assert max(abs(d) for d in deviations) <= quantity / slices + 100  # calm: within about a slice


def test_a_whole_session_is_the_same_every_run() -> None:
    def run() -> list[tuple[int, str, int, int]]:
        harness, _ = started()
        harness.submit("POV", Side.SELL, 50_000, {"participation": 0.08, "duration_s": 3_600})
        harness.submit("TWAP", Side.BUY, 30_000, {"duration_s": 3_600, "randomize_size": 0.3, "randomize_time": 0.2})
        harness.advance(3_700)
        return [(f.ts, f.child_id, f.quantity, f.price) for f in harness.fills]

    first = run()
    assert len(first) > 100 and first == run()


# --- VWAP ------------------------------------------------------------------------------------------------------------


def curve_line(weights: list[float], position: float) -> float:
    """Share of volume by ``position`` (0..1) for equal buckets of ``weights``, volume spread evenly inside each."""
    total = sum(weights)
    buckets = len(weights)
    whole = int(position * buckets)
    done = sum(weights[:whole]) / total
    if whole < buckets:
        done += weights[whole] / total * (position * buckets - whole)
    return done


def test_vwap_tracks_its_curve_over_the_whole_session() -> None:
    harness, start = started()
    session_s = 23_400 - 60
    weights = [6, 4, 3, 2, 2, 1.5, 1.5, 2, 2, 3, 4, 7]
    quantity, tolerance, slice_s = 120_000, 0.04, 300
    parent = harness.submit("VWAP", Side.SELL, quantity, {
        "duration_s": session_s, "curve": weights, "slice_interval_s": slice_s, "tolerance": tolerance})
    band = tolerance * quantity
    worst = 0.0
    for k in range(1, session_s // slice_s + 1):
        harness.advance_to(start + k * slice_s * S + AFTER_ACTING_NS)
        expected = quantity * curve_line(weights, k * slice_s / session_s)
        deviation = parent.filled_quantity - expected
        worst = max(worst, abs(deviation))
        assert abs(deviation) <= band, f"at {k * slice_s} s: filled {parent.filled_quantity} vs curve {expected:.0f}"
    harness.advance_to(start + session_s * S + AFTER_ACTING_NS)
    assert parent.filled_quantity == quantity and finished(harness).reason == "filled"
    # a straight line would have been far off this curve at the first quarter: the algorithm really follows it
    assert abs(curve_line(weights, 0.25) - 0.25) * quantity > 2 * worst


def test_vwap_never_exceeds_its_participation_cap() -> None:
    harness, start = started(average_daily_volume=1_000_000)
    parent = harness.submit("VWAP", Side.BUY, 40_000, {"duration_s": 1_800, "max_participation": 0.15})
    multiplier = 0.15 / 0.85
    base_volume = harness.others_volume()
    for k in range(1, 121):
        harness.advance_to(start + k * 15 * S + AFTER_ACTING_NS)
        others = harness.others_volume() - base_volume
        assert parent.filled_quantity <= multiplier * others + 1e-9
    share = parent.filled_quantity / (parent.filled_quantity + harness.others_volume() - base_volume)
    assert 0.13 <= share <= 0.15  # the cap bound: 40,000 was more than 15% of the volume on offer
    assert parent.filled_quantity < 40_000


# --- POV -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("params", "low", "high"), [
    ({"participation": 0.1, "min_participation": 0.08, "max_participation": 0.12}, 0.08, 0.12),
    ({"participation": 0.05, "end_participation": 0.15, "duration_s": 1_800}, 0.04, 0.18),
])
def test_pov_stays_inside_its_band_of_realised_volume(params: dict[str, Any], low: float, high: float) -> None:
    harness, start = started()
    lot = 100
    base_volume = harness.others_volume()
    parent = harness.submit("POV", Side.BUY, 1_000_000, params | {"check_interval_s": 5})
    shares = []
    for k in range(1, 31):
        harness.advance_to(start + k * 60 * S + AFTER_ACTING_NS)
        others = harness.others_volume() - base_volume
        own = parent.filled_quantity
        assert own == harness.tape.own.get("ACME", 0)  # every own print is one of its fills, none counted as market
        # participation is our share of all printed volume; child sizes are whole lots, so a lot of slack below
        assert own <= high / (1 - high) * others
        assert own >= low / (1 - low) * others - lot
        shares.append(own / (own + others))
    if "end_participation" in params:
        assert shares[-1] > shares[5] + 0.03  # the rate moved up over the life
    else:
        assert abs(shares[-1] - 0.1) < 0.005


# --- prices ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_a_limit_price_is_never_violated(side: Side) -> None:
    harness, _ = started()
    arrival = harness.quotes["ACME"].mid_price
    limit = arrival + 20 if side is Side.BUY else arrival - 20
    parent = harness.submit("TWAP", side, 30_000, {
        "duration_s": 1_200, "limit_price": limit / 100, "aggression": "aggressive", "cross_ticks": 50,
        "end_behavior": "complete"})
    harness.advance(400)
    harness.venue.gap("ACME", arrival + 300 if side is Side.BUY else arrival - 300)  # the market leaves the limit
    harness.advance(900)
    sign = side.sign
    assert harness.sent and all(o.limit_price is not None and sign * (o.limit_price - limit) <= 0 for o in harness.sent)
    assert harness.fills and all(sign * (f.price - limit) <= 0 for f in harness.fills)
    assert parent.filled_quantity < 30_000  # the limit held it back once the market had gone
    assert parent.status.value == "WORKING"  # complete at end: rests at the limit, waiting for the market


def test_the_i_would_price_takes_liquidity_when_it_appears() -> None:
    harness, _ = started()
    arrival = harness.quotes["ACME"].mid_price
    i_would = arrival - 40
    quantity = 40_000
    parent = harness.submit("TWAP", Side.BUY, quantity, {
        "duration_s": 3_600, "i_would_price": i_would / 100, "i_would_max_fraction": 0.5})
    band = 0.05 * quantity
    harness.advance(300)
    before = parent.filled_quantity
    assert before <= quantity * 300 / 3_600 + band  # on its schedule so far
    assert not [o for o in harness.sent if o.limit_price == i_would]  # the market never came there yet
    harness.venue.gap("ACME", arrival - 80)  # offers appear at or below the I-would price
    harness.advance(1)
    i_would_children = [o for o in harness.sent if o.time_in_force is TimeInForce.IOC and o.limit_price == i_would]
    assert i_would_children
    taken = sum(o.filled_quantity for o in i_would_children)
    assert taken > 0 and parent.filled_quantity >= before + taken
    assert all(f.price <= i_would for f in harness.fills if f.child_id in {o.order_id for o in i_would_children})
    assert parent.filled_quantity > quantity * 301 / 3_600 + band  # ahead of the band: the I-would may be
    harness.advance(600)
    taken = sum(o.filled_quantity for o in harness.sent if o.time_in_force is TimeInForce.IOC and o.limit_price == i_would)
    assert taken <= quantity // 2  # never more than its share of the order


# --- amend, cancel, rejects ------------------------------------------------------------------------------------------


def test_amend_quantity_and_end_time_mid_flight() -> None:
    harness, start = started()
    parent = harness.submit("TWAP", Side.SELL, 20_000, {"duration_s": 1_800, "end_behavior": "complete"})
    harness.advance(600)
    filled_then = parent.filled_quantity
    assert 5_000 <= filled_then <= 8_500
    harness.manager.amend(parent.parent_id, {"quantity": 30_000, "end_time": start + 2_400 * S})
    harness.advance(900)
    # re-planned: the 30,000 - filled left spread from the amend to the new end, a straight line again
    line = filled_then + (30_000 - filled_then) * 900 / 1_800
    assert abs(parent.filled_quantity - line) <= 0.05 * 30_000 + 100
    harness.advance(1_000)
    done = finished(harness)
    assert done.reason == "filled" and done.quantity == parent.filled_quantity == own_fills(harness) == 30_000
    assert done.ts_event <= start + 2_400 * S + AFTER_ACTING_NS
    assert harness.events_named("ParentAmended")[0].changes == {"quantity": 30_000, "end_time": start + 2_400 * S}


def test_cancel_mid_flight_cancels_the_children_then_reports() -> None:
    harness, _ = started()
    parent = harness.submit("VWAP", Side.BUY, 50_000, {"duration_s": 3_600, "slice_interval_s": 30})
    harness.advance(900)
    harness.manager.cancel(parent.parent_id)
    sent_at_cancel = len(harness.sent)
    harness.advance(5)
    done = finished(harness)
    assert done is not None and done.reason == "canceled"
    assert all(not o.is_working for o in harness.sent)
    assert done.filled_quantity == parent.filled_quantity == own_fills(harness)
    harness.advance(600)
    assert len(harness.sent) == sent_at_cancel and parent.filled_quantity == done.filled_quantity


def test_a_venue_reject_loses_no_quantity() -> None:
    harness, _ = started()
    parent = harness.submit("TWAP", Side.BUY, 20_000, {"duration_s": 1_200, "slice_interval_s": 60,
                                                         "end_behavior": "complete"})
    harness.advance(290)
    harness.venue.halt("ACME")  # the venue refuses every new order while halted
    harness.advance(100)
    harness.venue.resume("ACME")
    harness.refuse_sends = 1  # and once the gateway's own risk refuses one
    harness.advance(900)
    rejected = [o for o in harness.sent if o.status is OrderStatus.REJECTED]
    assert rejected and all(o.reject_reason.startswith(RejectCode.HALTED.value) for o in rejected)
    assert harness.refusals_given == 1
    done = finished(harness)
    assert done.reason == "filled" and parent.filled_quantity == own_fills(harness) == 20_000


def test_a_parameter_error_is_refused_with_its_code_before_any_child() -> None:
    harness, _ = started()
    with pytest.raises(RefusalError) as caught:
        harness.submit("VWAP", Side.BUY, 10_000, {"duration_s": 600, "max_participation": 0.9})
    assert caught.value.refusal.code is ErrorCode.VALIDATION_PARAMETER
    assert caught.value.refusal.field == "max_participation"
    harness.advance(60)
    assert harness.sent == [] and harness.venue.executions() == [] and harness.events == []
