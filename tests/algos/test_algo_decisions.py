"""Unit tests of the algorithms as pure state machines: events in, actions out, time from a SimClock."""

from __future__ import annotations

from typing import Any

import pytest

from algos import create_algorithm
from algos.base import (
    AlgoState,
    CancelChild,
    ChildPurpose,
    Finish,
    FinishReason,
    ReplaceChild,
    ScheduledAlgorithm,
    SendChild,
    WakeAt,
)
from algos.curves import VolumeCurve
from gateway.clock import NANOS_PER_SECOND as S
from gateway.clock import SimClock
from gateway.model import ErrorCode, Instrument, OrderType, Quote, RefusalError, Side, TimeInForce, TradePrint

T0 = 1_795_000_000 * S
ACME = Instrument("ACME", tick_size=1, lot_size=100, price_precision=2, reference_price=10_000, limit_down=9_000,
                  limit_up=11_000, average_daily_volume=4_000_000)


def quote(bid: int = 9_999, ask: int = 10_001, size: int = 1_000) -> Quote:
    return Quote("SIM", "ACME", bid, size, ask, size, 0)


class Driver:
    """Holds one algorithm and plays the venue by hand: every child it sends is accepted unless told otherwise."""

    def __init__(self, algo: str, quantity: int, params: dict[str, Any], side: Side = Side.BUY,
                 q: Quote | None = None, curves: dict[str, VolumeCurve] | None = None, venue: bool = False) -> None:
        self.venue = venue  # act like a venue with an empty far side: cancels confirmed, IOCs expire unfilled
        self.clock = SimClock(T0)
        self.algorithm: ScheduledAlgorithm = create_algorithm(
            algo, parent_id="P1", instrument=ACME, side=side, quantity=quantity, params=params, clock=self.clock,
            quote=quote() if q is None else q, curves=curves)
        self.sent: list[SendChild] = []
        self.wake: int | None = None
        self.finished: FinishReason | None = None
        self.actions: list[Any] = []

    def take(self, actions: list[Any], accept: bool = True) -> list[Any]:
        """Record the actions (and those their acceptance caused) in ``self.actions``; return them."""
        actions = list(actions)
        for action in actions:
            if isinstance(action, SendChild):
                self.sent.append(action)
            elif isinstance(action, WakeAt):
                self.wake = action.due_ns
            elif isinstance(action, Finish):
                self.finished = action.reason
        nested: list[Any] = []
        if accept:
            for action in actions:
                if isinstance(action, SendChild) and action.child_id in self.algorithm.children:
                    nested += self.take(self.algorithm.on_child_accepted(action.child_id), accept)
                    if self.venue and action.time_in_force is TimeInForce.IOC:
                        nested += self.take(self.algorithm.on_child_canceled(action.child_id), accept)
        if self.venue:
            for action in actions:
                if isinstance(action, CancelChild) and action.child_id in self.algorithm.children:
                    nested += self.take(self.algorithm.on_child_canceled(action.child_id), accept)
                elif isinstance(action, ReplaceChild) and action.child_id in self.algorithm.children:
                    replaced = self.algorithm.on_child_replaced(action.child_id, action.quantity, action.limit_price)
                    nested += self.take(replaced, accept)
        self.actions = actions + nested
        return self.actions

    def start(self) -> list[Any]:
        return self.take(self.algorithm.on_start())

    def to(self, ts: int) -> list[Any]:
        """Advance to ``ts`` and fire the wake if it is due."""
        self.clock.set_ns(ts)
        if self.wake is not None and self.wake <= ts:
            self.wake = None
            return self.take(self.algorithm.on_timer())
        return []

    def run_wakes_until(self, ts: int) -> None:
        while self.wake is not None and self.wake <= ts:
            self.to(self.wake)
        self.clock.set_ns(ts)

    def fill(self, child_id: str, quantity: int, price: int) -> list[Any]:
        return self.take(self.algorithm.on_child_filled(child_id, quantity, price))

    def fill_all(self, price: int | None = None) -> None:
        for child in list(self.algorithm.children.values()):
            if child.leaves:
                self.fill(child.child_id, child.leaves, price or child.limit_price or 10_000)

    def cancels(self) -> list[str]:
        return [a.child_id for a in self.actions if isinstance(a, CancelChild)]

    def confirm_cancels(self) -> None:
        for child_id in self.cancels():
            self.take(self.algorithm.on_child_canceled(child_id))

    @property
    def committed(self) -> int:
        return self.algorithm.committed


# --- parameters: each refusal names the parameter and carries VALIDATION_PARAMETER ----------------------------------

BAD_PARAMS = [
    ("TWAP", {"duration_s": 600, "limit_prcie": "100"}, "limit_prcie"),
    ("TWAP", {}, "end_time"),
    ("TWAP", {"duration_s": 600, "end_time": T0 + 700 * S}, "duration_s"),
    ("TWAP", {"end_time": T0 - S}, "end_time"),
    ("TWAP", {"end_time": "2026-11-22T10:00:00"}, "end_time"),
    ("TWAP", {"duration_s": -5}, "duration_s"),
    ("TWAP", {"duration_s": 600, "limit_price": "100.001"}, "limit_price"),
    ("TWAP", {"duration_s": 600, "limit_price": "120.00"}, "limit_price"),
    ("TWAP", {"duration_s": 600, "limit_price": "100.00", "i_would_price": "100.50"}, "i_would_price"),
    ("TWAP", {"duration_s": 600, "i_would_max_fraction": 0.5}, "i_would_max_fraction"),
    ("TWAP", {"duration_s": 600, "i_would_price": "99", "i_would_max_fraction": 1.5}, "i_would_max_fraction"),
    ("TWAP", {"duration_s": 600, "min_child_quantity": 500, "max_child_quantity": 300}, "max_child_quantity"),
    ("TWAP", {"duration_s": 600, "min_child_quantity": 150}, "min_child_quantity"),
    ("TWAP", {"duration_s": 600, "round_lot": 250}, "round_lot"),
    ("TWAP", {"duration_s": 600, "aggression": "very"}, "aggression"),
    ("TWAP", {"duration_s": 600, "randomize_size": 0.9}, "randomize_size"),
    ("TWAP", {"duration_s": 600, "seed": -1}, "seed"),
    ("TWAP", {"duration_s": 600, "end_behavior": "later"}, "end_behavior"),
    ("TWAP", {"duration_s": 600, "slices": 10, "tolerance": 0.02}, "tolerance"),
    ("TWAP", {"duration_s": 600, "slices": 10, "slice_interval_s": 60}, "slices"),
    ("TWAP", {"duration_s": 600, "min_child_quantity": 5_000}, "min_child_quantity"),
    ("VWAP", {"duration_s": 600, "curve": "close_heavy"}, "curve"),
    ("VWAP", {"duration_s": 600, "curve": [1, -1, 2]}, "curve"),
    ("VWAP", {"duration_s": 600, "curve": [1, 2], "buckets": 4}, "buckets"),
    ("VWAP", {"duration_s": 600, "max_participation": 0.7}, "max_participation"),
    ("VWAP", {"duration_s": 600, "session_start": T0, "session_end": T0}, "session_end"),
    ("POV", {}, "participation"),
    ("POV", {"participation": 0}, "participation"),
    ("POV", {"participation": 0.6}, "participation"),
    ("POV", {"participation": 0.1, "end_participation": 0.2}, "end_participation"),
    ("POV", {"participation": 0.1, "min_participation": 0.15}, "min_participation"),
    ("POV", {"participation": 0.1, "max_participation": 0.05}, "max_participation"),
    ("POV", {"participation": 0.1, "end_behavior": "complete"}, "end_behavior"),
    ("SNIPER", {}, "algo"),
]


@pytest.mark.parametrize(("algo", "params", "name"), BAD_PARAMS)
def test_a_bad_parameter_is_refused_with_its_code_and_name(algo: str, params: dict[str, Any], name: str) -> None:
    with pytest.raises(RefusalError) as caught:
        Driver(algo, 10_000, params)
    refusal = caught.value.refusal
    assert refusal.code is ErrorCode.VALIDATION_PARAMETER
    assert refusal.field == name
    assert name in refusal.message


def test_times_accept_iso_text_with_an_offset_and_ns() -> None:
    # T0 is 2026-11-18 11:06:40 UTC
    iso = Driver("TWAP", 10_000, {"start_time": "2026-11-18T09:00:00Z", "end_time": "2026-11-18T13:00:00+01:00"})
    assert iso.algorithm.common.start_ns == T0  # a start in the past is now
    assert iso.algorithm.common.end_ns == T0 + (53 * 60 + 20) * S
    ns = Driver("TWAP", 10_000, {"start_time": T0 + 60 * S, "duration_s": 600})
    assert ns.algorithm.common.end_ns == T0 + 660 * S


# --- TWAP ------------------------------------------------------------------------------------------------------------


def test_twap_first_slice_rests_at_the_bid_with_derived_child_id() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.start()
    assert [(c.child_id, c.order_type, c.time_in_force, c.quantity, c.limit_price) for c in d.sent] == [
        ("P1-E1", OrderType.LIMIT, TimeInForce.DAY, 1_000, 9_999)
    ]
    assert d.wake == T0 + 60 * S
    d.fill("P1-E1", 1_000, 9_999)
    d.to(T0 + 60 * S)
    assert d.sent[-1].child_id == "P1-E2" and d.sent[-1].quantity == 1_000


def test_twap_never_commits_beyond_the_band_and_catches_up_across_the_spread() -> None:
    """Nothing fills passively: at each wake filled+working stays under line+band; once behind by more than the band
    it cancels the resting slice and crosses for the shortfall."""
    quantity, band = 10_000, 1_000
    d = Driver("TWAP", quantity, {"duration_s": 600, "slices": 10, "tolerance": 0.1})
    d.start()
    crossed: list[SendChild] = []
    for step in range(1, 10):
        now = T0 + step * 60 * S
        d.to(now)
        line = quantity * step / 10
        assert d.committed <= line + band
        iocs = [a for a in d.actions if isinstance(a, SendChild) and a.time_in_force is TimeInForce.IOC]
        if d.cancels():
            d.confirm_cancels()
            iocs += [a for a in d.actions if isinstance(a, SendChild) and a.time_in_force is TimeInForce.IOC]
        for ioc in iocs:
            assert ioc.purpose is ChildPurpose.CATCH_UP and ioc.limit_price == 10_001  # the ask
            d.fill(ioc.child_id, ioc.quantity, 10_001)
        crossed += iocs
        assert d.algorithm.filled >= line - band  # back inside the band after acting
        assert d.committed <= line + band
    assert crossed, "the passive slices never filled, so it must have crossed"


def test_twap_with_a_limit_price_rests_at_the_limit_and_never_crosses_beyond_it() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "limit_price": "99.90"})
    d.start()
    assert d.sent[0].limit_price == 9_990
    d.run_wakes_until(T0 + 600 * S)
    assert all(child.limit_price is not None and child.limit_price <= 9_990 for child in d.sent)
    assert not any(child.time_in_force is TimeInForce.IOC for child in d.sent)


def test_aggression_prices_mid_and_across() -> None:
    mid = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "aggression": "mid"}, q=quote(9_990, 10_001))
    mid.start()
    assert mid.sent[0].limit_price == 9_995  # mid 9995.5 rounded down for a buy
    sell_mid = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "aggression": "mid"}, side=Side.SELL,
                      q=quote(9_990, 10_001))
    sell_mid.start()
    assert sell_mid.sent[0].limit_price == 9_996  # rounded up for a sell
    cross = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "aggression": "aggressive"})
    cross.start()
    assert (cross.sent[0].limit_price, cross.sent[0].time_in_force) == (10_001, TimeInForce.IOC)


def test_stale_passive_child_is_repriced_to_the_new_touch_but_not_faster_than_the_interval() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "requote_interval_s": 5})
    d.start()
    d.clock.set_ns(T0 + 2 * S)
    # too soon to move it (keep the queue place): it asks to be woken when the interval is over instead
    assert d.take(d.algorithm.on_quote(quote(10_003, 10_005))) == [WakeAt(T0 + 5 * S)]
    assert ReplaceChild("P1-E1", 1_000, 10_003) in d.to(T0 + 5 * S)
    assert d.wake == T0 + 60 * S  # and goes back to its slice schedule
    d.take(d.algorithm.on_child_replaced("P1-E1", 1_000, 10_003))
    d.clock.set_ns(T0 + 20 * S)
    assert d.take(d.algorithm.on_quote(quote(10_003, 10_006))) == []  # still at the touch: leave it alone
    d.clock.set_ns(T0 + 30 * S)
    assert d.take(d.algorithm.on_quote(quote(10_004, 10_006))) == [ReplaceChild("P1-E1", 1_000, 10_004)]


def test_i_would_takes_liquidity_up_to_its_share_when_the_price_appears() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "i_would_price": "99.50", "i_would_max_fraction": 0.3})
    d.start()
    assert not [a for a in d.take(d.algorithm.on_quote(quote(9_940, 9_960))) if isinstance(a, SendChild)]
    actions = d.take(d.algorithm.on_quote(quote(9_940, 9_950)))
    iw = [a for a in actions if isinstance(a, SendChild)]
    assert [(a.purpose, a.quantity, a.limit_price, a.time_in_force) for a in iw] == [
        (ChildPurpose.I_WOULD, 3_000, 9_950, TimeInForce.IOC)
    ]
    assert not [a for a in d.take(d.algorithm.on_quote(quote(9_940, 9_945))) if isinstance(a, SendChild)]  # one at a time
    d.fill(iw[0].child_id, 1_000, 9_945)
    d.take(d.algorithm.on_child_canceled(iw[0].child_id))  # IOC remainder
    again = [a for a in d.take(d.algorithm.on_quote(quote(9_940, 9_945))) if isinstance(a, SendChild)]
    assert [(a.quantity, a.purpose) for a in again] == [(2_000, ChildPurpose.I_WOULD)]  # 3000 allowed, 1000 done


def test_randomization_is_seeded_within_bounds_and_on_the_round_lot() -> None:
    params = {"duration_s": 3_600, "slices": 60, "tolerance": 0.1, "randomize_size": 0.5, "randomize_time": 0.3,
              "round_lot": 200}

    def run(seed: int) -> list[tuple[int, int]]:
        d = Driver("TWAP", 60_000, {**params, "seed": seed})
        d.start()
        wakes = []
        while d.wake is not None and d.wake < T0 + 3_600 * S:
            wakes.append(d.wake)
            d.fill_all()
            d.to(d.wake)
            line = 60_000 * (d.clock.now_ns() - T0) / (3_600 * S)
            assert d.committed <= line + 6_000  # randomized, yet never beyond the band
        return [(c.quantity, 0) for c in d.sent] + [(w, 1) for w in wakes]

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    sizes = [q for q, kind in first if kind == 0]
    assert all(size % 200 == 0 for size in sizes)
    assert len(set(sizes)) > 3  # slices re-anchor to the line, each scaled by up to +-50%
    wakes = [w for w, kind in first if kind == 1]
    nominal = [T0 + k * 60 * S for k in range(1, len(wakes) + 1)]
    assert all(abs(w - n) <= 18 * S for w, n in zip(wakes, nominal))
    assert any(w != n for w, n in zip(wakes, nominal))


def test_max_child_splits_a_slice_and_min_child_waits_for_enough() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 5, "max_child_quantity": 800})
    d.start()
    assert [c.quantity for c in d.sent] == [800, 800, 400]
    small = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 100, "min_child_quantity": 300, "tolerance": 0.05})
    small.start()
    assert [c.quantity for c in small.sent] == [300]  # 100 a slice, but never a child below 300


def test_a_rejected_child_returns_its_quantity_and_is_sent_again() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.take(d.algorithm.on_start(), accept=False)
    d.take(d.algorithm.on_child_rejected("P1-E1", "HALTED: ACME is halted"))
    assert d.committed == 0 and not d.algorithm.children
    d.to(T0 + 60 * S)
    assert [(c.child_id, c.quantity) for c in d.sent] == [("P1-E1", 1_000), ("P1-E2", 2_000)]  # nothing lost


def test_five_rejects_in_a_row_stop_the_parent() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.take(d.algorithm.on_start(), accept=False)
    rejected = 0
    stopped_after: int | None = None
    while d.finished is None and rejected < 20:
        for action in list(d.actions):
            if isinstance(action, SendChild) and action.child_id in d.algorithm.children:
                d.take(d.algorithm.on_child_rejected(action.child_id, "HALTED: ACME is halted"), accept=False)
                rejected += 1
                if stopped_after is None and d.algorithm.state is not AlgoState.RUNNING:
                    stopped_after = rejected
        if d.finished is None:
            assert d.wake is not None
            d.clock.set_ns(d.wake)
            d.take(d.algorithm.on_timer(), accept=False)
    assert stopped_after == 5
    assert d.finished is FinishReason.REJECTED and not d.algorithm.children


def test_pause_cancels_children_and_resume_replans_the_remainder() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 1_000, "slices": 10, "tolerance": 0.1})
    d.start()
    d.fill("P1-E1", 1_000, 9_999)
    d.to(T0 + 100 * S)
    d.take(d.algorithm.on_pause())
    assert d.cancels() == ["P1-E2"] and d.algorithm.state is AlgoState.PAUSED
    d.confirm_cancels()
    assert d.sent[-1].child_id == "P1-E2"  # nothing new while paused
    d.clock.set_ns(T0 + 500 * S)
    d.take(d.algorithm.on_resume())
    # 9000 left over the remaining 500 s: the new line starts from what is filled, here and now
    assert d.algorithm.target(T0 + 750 * S) == pytest.approx(1_000 + 9_000 * 0.5)
    # 1800 are due by the next slice 100 s on, but no more than the band (1000) above the line now may be committed
    assert d.sent[-1].quantity == 1_000 and d.wake == T0 + 600 * S


def test_cancel_finishes_once_every_child_is_done() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.start()
    d.take(d.algorithm.on_cancel())
    assert d.cancels() == ["P1-E1"] and d.finished is None
    d.fill("P1-E1", 300, 9_999)  # a fill racing the cancel still counts
    d.take(d.algorithm.on_child_canceled("P1-E1"))
    assert d.finished is FinishReason.CANCELED and d.algorithm.filled == 300


@pytest.mark.parametrize("behavior", ["cancel", "complete", "continue"])
def test_end_time_behaviour(behavior: str) -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "end_behavior": behavior, "limit_price": "100.05"},
               venue=True, q=quote(9_999, 10_010))
    d.start()
    d.run_wakes_until(T0 + 599 * S)  # nothing filled passively, and the ask is beyond the limit: no crossing
    assert d.algorithm.filled == 0 and sum(c.leaves for c in d.algorithm.children.values()) == 10_000
    assert all(c.time_in_force is TimeInForce.DAY for c in d.sent)
    sent_before_end = len(d.sent)
    d.fill(next(iter(d.algorithm.children)), 1_000, 9_999)
    d.take(d.algorithm.on_quote(quote(9_999, 10_001)))  # the ask comes inside the limit just before the end
    d.venue = False  # from here the test answers the algorithm by hand
    d.to(T0 + 600 * S)
    if behavior == "cancel":
        assert set(d.cancels()) == set(d.algorithm.children) and len(d.sent) == sent_before_end
        d.confirm_cancels()
        assert d.finished is FinishReason.END_TIME and not d.algorithm.children
    elif behavior == "complete":
        resting = d.cancels()
        assert set(resting) == set(d.algorithm.children) and d.wake == T0 + 601 * S  # it looks again every second
        completion: list[SendChild] = []
        for child_id in resting:  # each resting slice, once canceled, crosses
            leaves = d.algorithm.children[child_id].leaves
            d.take(d.algorithm.on_child_canceled(child_id))
            sent = [a for a in d.actions if isinstance(a, SendChild)]
            assert [(a.purpose, a.time_in_force, a.limit_price, a.quantity) for a in sent] == [
                (ChildPurpose.COMPLETION, TimeInForce.IOC, 10_001, leaves)
            ]
            completion += sent
        assert sum(a.quantity for a in completion) == 9_000 and d.committed == 10_000
        for ioc in completion:
            d.fill(ioc.child_id, ioc.quantity, 10_001)
        assert d.finished is FinishReason.FILLED
    else:
        assert d.finished is None and not d.cancels()  # past the end time the slices keep resting
        venue_canceled = next(iter(d.algorithm.children))
        d.take(d.algorithm.on_child_canceled(venue_canceled))  # the venue drops one
        d.to(d.wake or 0)
        assert d.committed == 10_000  # and the whole remainder rests again, passively
        after_end = d.sent[sent_before_end:]
        assert after_end and all(c.time_in_force is TimeInForce.DAY for c in after_end)


def test_complete_at_end_time_keeps_crossing_until_filled() -> None:
    d = Driver("TWAP", 2_000, {"duration_s": 60, "slices": 1, "end_behavior": "complete"})
    d.start()
    d.to(T0 + 60 * S)
    d.confirm_cancels()
    ioc = [a for a in d.sent if a.purpose is ChildPurpose.COMPLETION]
    assert [a.quantity for a in ioc] == [2_000]
    d.fill(ioc[0].child_id, 500, 10_001)
    d.take(d.algorithm.on_child_canceled(ioc[0].child_id))  # the rest found nobody
    d.to(d.wake or 0)
    again = [a for a in d.actions if isinstance(a, SendChild)]
    assert [(a.purpose, a.quantity) for a in again] == [(ChildPurpose.COMPLETION, 1_500)]
    d.fill(again[0].child_id, 1_500, 10_002)
    assert d.finished is FinishReason.FILLED


def test_amend_quantity_down_reduces_the_working_child_and_refuses_below_filled() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 2})
    d.start()
    assert d.sent[0].quantity == 5_000
    d.fill("P1-E1", 3_000, 9_999)
    with pytest.raises(RefusalError) as caught:
        d.algorithm.validate_amend({"quantity": 2_000})
    assert caught.value.refusal.code is ErrorCode.VALIDATION_PARAMETER and caught.value.refusal.field == "quantity"
    assert d.algorithm.quantity == 10_000  # refused: nothing changed
    actions = d.take(d.algorithm.on_amend(d.algorithm.validate_amend({"quantity": 4_000})))
    assert ReplaceChild("P1-E1", 4_000, 9_999) in actions
    d.take(d.algorithm.on_child_replaced("P1-E1", 4_000, 9_999))
    d.fill("P1-E1", 1_000, 9_999)
    assert d.finished is FinishReason.FILLED and d.algorithm.filled == 4_000


def test_amend_limit_price_moves_children_inside_it_and_unknown_change_is_refused() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.start()
    actions = d.take(d.algorithm.on_amend(d.algorithm.validate_amend({"limit_price": "99.95"})))
    assert ReplaceChild("P1-E1", 1_000, 9_995) in actions
    with pytest.raises(RefusalError) as caught:
        d.algorithm.validate_amend({"limit_price": "99.95", "colour": "red"})
    assert caught.value.refusal.field == "colour"
    with pytest.raises(RefusalError) as caught:
        d.algorithm.validate_amend({"participation": 0.1})
    assert caught.value.refusal.field == "participation"


def test_amend_end_time_replans_over_the_new_horizon() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10})
    d.start()
    d.fill("P1-E1", 1_000, 9_999)
    d.clock.set_ns(T0 + 60 * S)
    d.take(d.algorithm.on_amend(d.algorithm.validate_amend({"end_time": T0 + 960 * S})))
    assert d.algorithm.common.end_ns == T0 + 960 * S
    assert d.algorithm.target(T0 + 510 * S) == pytest.approx(1_000 + 9_000 * 0.5)
    with pytest.raises(RefusalError):
        d.algorithm.validate_amend({"end_time": T0 + 30 * S})


# --- VWAP ------------------------------------------------------------------------------------------------------------


def test_vwap_target_follows_the_curve_not_the_clock() -> None:
    d = Driver("VWAP", 10_000, {"duration_s": 400, "curve": [3, 1, 1, 5], "slices": 4, "tolerance": 0.5})
    d.start()
    a = d.algorithm
    assert a.target(T0 + 100 * S) == pytest.approx(3_000)
    assert a.target(T0 + 200 * S) == pytest.approx(4_000)
    assert a.target(T0 + 350 * S) == pytest.approx(7_500)
    assert d.sent[0].quantity == 3_000  # the first bucket's share


def test_vwap_curve_can_come_from_a_registered_csv(tmp_path: Any) -> None:
    from algos.curves import load_curve_csv

    path = tmp_path / "acme.csv"
    path.write_text("minute,weight\n09:30,4\n10:00,1\n10:30,1\n11:00,4\n")
    curve = load_curve_csv(path)
    assert curve.bucket_weights() == pytest.approx([0.4, 0.1, 0.1, 0.4])
    d = Driver("VWAP", 10_000, {"duration_s": 400, "curve": "acme", "slices": 4, "tolerance": 0.4},
               curves={"acme": curve})
    d.start()
    assert d.sent[0].quantity == 4_000
    bad = tmp_path / "bad.csv"
    bad.write_text("minute,weight\n0,1\n0,2\n")
    with pytest.raises(ValueError, match="bad.csv:3"):
        load_curve_csv(bad)


def test_vwap_never_commits_beyond_its_participation_cap() -> None:
    d = Driver("VWAP", 100_000, {"duration_s": 600, "slices": 10, "max_participation": 0.2})
    d.start()
    assert d.sent == []  # no market volume seen yet: a 20% cap allows nothing
    d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 10_000, 4_000, 0)))
    d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 10_000, 9_000, 0, own=True)))  # ours: not market volume
    d.to(T0 + 60 * S)
    assert d.committed == 1_000  # 0.2 / 0.8 x 4000


# --- POV -------------------------------------------------------------------------------------------------------------


def test_pov_owes_its_share_of_others_volume_and_ignores_its_own_prints() -> None:
    d = Driver("POV", 100_000, {"participation": 0.2})
    d.start()
    assert d.sent == []
    d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 10_000, 2_000, 0)))
    assert d.algorithm.target(T0) == pytest.approx(500)  # 20% of all volume: 0.25 x others' 2000
    assert [(c.quantity, c.limit_price) for c in d.sent] == [(500, 9_999)]
    d.fill("P1-E1", 500, 9_999)
    d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 9_999, 500, 0, own=True)))
    assert d.algorithm.market_volume == 2_000 and len(d.sent) == 1


def test_pov_catches_up_below_its_minimum_at_the_timed_look_and_caps_at_its_maximum() -> None:
    d = Driver("POV", 100_000, {"participation": 0.1, "min_participation": 0.05, "max_participation": 0.15,
                                "check_interval_s": 5})
    d.start()
    for _ in range(10):
        d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 10_000, 2_000, 0)))
        assert d.committed <= 0.15 / 0.85 * d.algorithm.market_volume
    assert all(c.purpose is ChildPurpose.SCHEDULE and c.limit_price == 9_999 for c in d.sent)  # prints only rest
    assert d.committed >= 0.1 / 0.9 * 20_000  # the owed 2222 is resting
    d.to(T0 + 5 * S)  # nothing filled: below 5% of the volume at the timed look
    crossed = [a for a in d.actions if isinstance(a, SendChild) and a.purpose is ChildPurpose.CATCH_UP]
    assert crossed and all(a.limit_price == 10_001 and a.time_in_force is TimeInForce.IOC for a in crossed)
    assert d.committed <= 0.15 / 0.85 * 20_000
    assert d.cancels()  # resting slices make room for the crossing one


def test_pov_rate_moves_from_start_to_end() -> None:
    d = Driver("POV", 100_000, {"participation": 0.1, "end_participation": 0.3, "duration_s": 1_000})
    d.start()
    assert d.algorithm.rate(T0) == pytest.approx(0.1)
    assert d.algorithm.rate(T0 + 500 * S) == pytest.approx(0.2)
    d.clock.set_ns(T0 + 500 * S)
    d.take(d.algorithm.on_trade(TradePrint("SIM", "ACME", 10_000, 4_000, 0)))
    assert d.algorithm.target(T0 + 500 * S) == pytest.approx(1_000)  # 0.2 / 0.8 x 4000
    assert d.algorithm.max_rate == pytest.approx(0.36) and d.algorithm.min_rate == pytest.approx(0.08)


def test_pov_amend_participation_moves_a_default_band() -> None:
    d = Driver("POV", 100_000, {"participation": 0.1})
    d.start()
    d.take(d.algorithm.on_amend(d.algorithm.validate_amend({"participation": 0.25})))
    assert (d.algorithm.start_rate, d.algorithm.min_rate, d.algorithm.max_rate) == pytest.approx((0.25, 0.2, 0.3))
    with pytest.raises(RefusalError):
        d.algorithm.validate_amend({"participation": 0.9})


def test_a_cancel_refused_while_a_replace_is_in_flight_is_sent_once_the_replace_is_answered() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "requote_interval_s": 0})
    d.start()
    d.take(d.algorithm.on_quote(quote(10_000, 10_002)))
    assert d.actions == [ReplaceChild("P1-E1", 1_000, 10_000)]
    assert d.take(d.algorithm.on_pause()) == [CancelChild("P1-E1")]
    d.take(d.algorithm.on_cancel_refused("P1-E1", "a replace is pending"))  # the engine allows one at a time
    child = d.algorithm.children["P1-E1"]
    assert child.replace_pending and not child.cancel_pending  # the replace in flight is still known
    assert d.take(d.algorithm.on_child_replaced("P1-E1", 1_000, 10_000)) == [CancelChild("P1-E1")]
    d.take(d.algorithm.on_child_canceled("P1-E1"))
    assert not d.algorithm.children and d.algorithm.state is AlgoState.PAUSED


def test_a_quote_that_moves_no_price_reprices_nothing() -> None:
    d = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "requote_interval_s": 5})
    d.start()
    assert not d.algorithm.wants_unmoved_quotes  # a host may skip it for size-only quotes
    d.clock.set_ns(T0 + 1 * S)
    assert d.take(d.algorithm.on_quote(quote(10_001, 10_003, size=300))) == [WakeAt(T0 + 5 * S)]
    d.clock.set_ns(T0 + 3 * S)
    assert d.take(d.algorithm.on_quote(quote(10_001, 10_003, size=900))) == []  # sizes only: nothing to do
    iw = Driver("TWAP", 10_000, {"duration_s": 600, "slices": 10, "i_would_price": "99.00"})
    assert iw.algorithm.wants_unmoved_quotes  # the I-would watches every quote
