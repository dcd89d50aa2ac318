"""SimVenue as the engine sees it: each order type's life in execution reports, cancel/replace, rejects, status."""

from __future__ import annotations

import pytest
from simkit import START_NS, build_harness, make_instrument, make_order

from adapters.sim import RejectCode, SimVenueConfig
from gateway.clock import NANOS_PER_SECOND
from gateway.model import ExecType, OrderType, Side, TimeInForce, VenueStatus

BUY, SELL = Side.BUY, Side.SELL
NEW, TRADE, CANCELED, REPLACED = ExecType.NEW, ExecType.TRADE, ExecType.CANCELED, ExecType.REPLACED
REJECTED, EXPIRED, TRIGGERED = ExecType.REJECTED, ExecType.EXPIRED, ExecType.TRIGGERED


def synchronous():  # type: ignore[no-untyped-def]
    return build_harness(latency_ns=0)


def test_limit_order_life_with_partial_fills() -> None:
    h = synchronous()
    h.venue.send_new(make_order("S1", SELL, 300, 10_000))
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    h.venue.send_new(make_order("B2", BUY, 500, 10_000))
    sell = h.listener.reports_for("S1")
    assert [r.exec_type for r in sell] == [NEW, TRADE, TRADE]
    assert [(r.last_quantity, r.last_price, r.cumulative_quantity, r.leaves_quantity) for r in sell[1:]] == [
        (100, 10_000, 100, 200),
        (200, 10_000, 300, 0),
    ]
    b2 = h.listener.reports_for("B2")
    assert [r.exec_type for r in b2] == [NEW, TRADE]
    assert (b2[1].cumulative_quantity, b2[1].leaves_quantity) == (200, 300)
    assert h.venue.quote("AAA").bid_price == 10_000 and h.venue.quote("AAA").bid_size == 300
    assert all(r.venue_order_id for r in sell) and len({r.venue_order_id for r in sell}) == 1
    exec_ids = [r.exec_id for r in h.listener.executions]
    assert None not in exec_ids and len(set(exec_ids)) == len(exec_ids)
    assert [(t.price, t.quantity, t.own) for t in h.listener.trades] == [(10_000, 100, True), (10_000, 200, True)]


def test_market_order_fills_against_the_book_and_cancels_the_rest() -> None:
    h = synchronous()
    h.venue.send_new(make_order("S1", SELL, 100, 10_001))
    h.venue.send_new(make_order("S2", SELL, 100, 10_003))
    h.venue.send_new(make_order("M1", BUY, 300))
    reports = h.listener.reports_for("M1")
    assert [r.exec_type for r in reports] == [NEW, TRADE, TRADE, CANCELED]
    assert [r.last_price for r in reports if r.exec_type is TRADE] == [10_001, 10_003]
    assert reports[-1].cumulative_quantity == 200 and reports[-1].leaves_quantity == 0
    assert reports[-1].reject_reason is not None and "MARKET" in reports[-1].reject_reason


def test_ioc_fills_what_it_can_and_the_rest_is_canceled() -> None:
    h = synchronous()
    h.venue.send_new(make_order("S1", SELL, 200, 10_000))
    h.venue.send_new(make_order("I1", BUY, 500, 10_000, time_in_force=TimeInForce.IOC))
    reports = h.listener.reports_for("I1")
    assert [r.exec_type for r in reports] == [NEW, TRADE, CANCELED]
    assert reports[1].last_quantity == 200
    assert (reports[2].cumulative_quantity, reports[2].leaves_quantity) == (200, 0)
    assert h.venue.quote("AAA").bid_size == 0  # nothing rests


def test_fok_is_all_or_nothing() -> None:
    h = synchronous()
    h.venue.send_new(make_order("S1", SELL, 200, 10_000))
    h.venue.send_new(make_order("F1", BUY, 300, 10_000, time_in_force=TimeInForce.FOK))
    assert h.listener.exec_types("F1") == [NEW, CANCELED]
    assert h.venue.quote("AAA").ask_size == 200  # untouched
    h.venue.send_new(make_order("F2", BUY, 200, 10_000, time_in_force=TimeInForce.FOK))
    assert h.listener.exec_types("F2") == [NEW, TRADE]
    assert h.listener.reports_for("F2")[1].leaves_quantity == 0


def test_gtd_expires_at_its_time_and_not_before() -> None:
    h = build_harness(latency_ns=1_000)
    expire_ns = START_NS + 5 * NANOS_PER_SECOND
    h.venue.send_new(make_order("G1", BUY, 100, 9_990, time_in_force=TimeInForce.GTD, expire_ns=expire_ns))
    h.timers.advance_to(expire_ns - 1)
    assert h.listener.exec_types("G1") == [NEW]
    h.timers.advance_to(expire_ns + 1_000)
    reports = h.listener.reports_for("G1")
    assert [r.exec_type for r in reports] == [NEW, EXPIRED]
    assert reports[1].ts_event == expire_ns
    assert h.listener.execution_arrivals[-1] == expire_ns + 1_000
    assert h.venue.quote("AAA").bid_size == 0


def test_gtd_in_the_past_or_without_time_is_rejected() -> None:
    h = synchronous()
    h.venue.send_new(make_order("G1", BUY, 100, 9_990, time_in_force=TimeInForce.GTD, expire_ns=START_NS))
    h.venue.send_new(make_order("G2", BUY, 100, 9_990, time_in_force=TimeInForce.GTD))
    for client_id in ("G1", "G2"):
        (report,) = h.listener.reports_for(client_id)
        assert report.exec_type is REJECTED and report.reject_reason.startswith("EXPIRE_TIME:")


def test_stop_order_triggers_on_a_trade_at_its_stop_and_then_fills_as_market() -> None:
    h = synchronous()
    h.venue.send_new(make_order("ST", BUY, 100, order_type=OrderType.STOP, stop_price=10_010))
    h.venue.send_new(make_order("S1", SELL, 100, 10_005))
    h.venue.send_new(make_order("S2", SELL, 300, 10_010))
    h.venue.send_new(make_order("B1", BUY, 100, 10_005))  # prints 100.05: stop not reached
    assert h.listener.exec_types("ST") == [NEW]
    h.venue.send_new(make_order("B2", BUY, 100, 10_010))  # prints 100.10: reached
    reports = h.listener.reports_for("ST")
    assert [r.exec_type for r in reports] == [NEW, TRIGGERED, TRADE]
    assert reports[2].last_price == 10_010 and reports[2].leaves_quantity == 0
    # the trigger comes after the trade that reached it and before the stop's own fill
    order = [(r.client_order_id, r.exec_type) for r in h.listener.executions if r.exec_type is not NEW]
    assert order.index(("B2", TRADE)) < order.index(("ST", TRIGGERED)) < order.index(("ST", TRADE))


def test_stop_limit_triggers_then_rests_then_fills() -> None:
    h = synchronous()
    h.venue.send_new(make_order("SL", SELL, 200, 9_980, order_type=OrderType.STOP_LIMIT, stop_price=9_990))
    h.venue.send_new(make_order("B1", BUY, 100, 9_990))
    h.venue.send_new(make_order("S1", SELL, 100, 9_990))  # prints 99.90: triggers, nothing left at or above 99.80
    assert h.listener.exec_types("SL") == [NEW, TRIGGERED]
    assert h.venue.quote("AAA").ask_price == 9_980 and h.venue.quote("AAA").ask_size == 200
    h.venue.send_new(make_order("B2", BUY, 200, 9_985))
    reports = h.listener.reports_for("SL")
    assert [r.exec_type for r in reports] == [NEW, TRIGGERED, TRADE]
    assert reports[-1].last_price == 9_980 and reports[-1].cumulative_quantity == 200


def test_cancel_reports_the_new_and_the_original_id() -> None:
    h = synchronous()
    h.venue.send_new(make_order("B1", BUY, 100, 9_990))
    h.venue.send_cancel(make_order("B1", BUY, 100, 9_990), "B1-C")
    canceled = h.listener.executions[-1]
    assert canceled.exec_type is CANCELED
    assert (canceled.client_order_id, canceled.orig_client_order_id) == ("B1-C", "B1")
    assert (canceled.cumulative_quantity, canceled.leaves_quantity) == (0, 0)
    assert h.venue.quote("AAA").bid_size == 0


def test_cancel_of_unknown_or_finished_order_is_rejected() -> None:
    h = synchronous()
    h.venue.send_cancel(make_order("NOPE", BUY, 100, 9_990), "NOPE-C")
    rejected = h.listener.executions[-1]
    assert rejected.exec_type is ExecType.CANCEL_REJECTED
    assert (rejected.client_order_id, rejected.orig_client_order_id) == ("NOPE-C", "NOPE")
    assert rejected.reject_reason.startswith("UNKNOWN_ORDER:")
    h.venue.send_new(make_order("S1", SELL, 100, 10_000))
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    h.venue.send_cancel(make_order("S1", SELL, 100, 10_000), "S1-C")
    too_late = h.listener.executions[-1]
    assert too_late.exec_type is ExecType.CANCEL_REJECTED and too_late.reject_reason.startswith("TOO_LATE:")
    assert "filled" in too_late.reject_reason


def test_replace_down_keeps_priority_and_up_loses_it() -> None:
    h = synchronous()
    first = make_order("A", SELL, 300, 10_000)
    h.venue.send_new(first)
    h.venue.send_new(make_order("B", SELL, 100, 10_000))
    h.venue.send_replace(first, "A2", 200, None)
    replaced = h.listener.executions[-1]
    assert replaced.exec_type is REPLACED
    assert (replaced.client_order_id, replaced.orig_client_order_id) == ("A2", "A")
    assert (replaced.cumulative_quantity, replaced.leaves_quantity) == (0, 200)
    h.venue.send_new(make_order("X1", BUY, 100, 10_000))
    assert h.listener.executions[-1].client_order_id == "A2"  # still first in the queue, now under its new id
    first.venue_client_order_id = "A2"
    h.venue.send_replace(first, "A3", 400, None)  # up: to the back, behind B
    h.venue.send_new(make_order("X2", BUY, 100, 10_000))
    assert h.listener.executions[-1].client_order_id == "B"
    assert h.venue.quote("AAA").ask_size == 300  # A3: 400 total, 100 filled


def test_replace_with_a_crossing_price_trades_at_once() -> None:
    h = synchronous()
    h.venue.send_new(make_order("S1", SELL, 100, 10_005))
    bid = make_order("B1", BUY, 100, 10_000)
    h.venue.send_new(bid)
    h.venue.send_replace(bid, "B1-R", 100, 10_005)
    assert [r.exec_type for r in h.listener.reports_for("B1-R")] == [REPLACED, TRADE]


def test_replace_below_filled_or_while_halted_or_off_tick_is_rejected_and_changes_nothing() -> None:
    h = synchronous()
    order = make_order("S1", SELL, 300, 10_000)
    h.venue.send_new(order)
    h.venue.send_new(make_order("B1", BUY, 200, 10_000))
    h.venue.send_replace(order, "S1-R", 200, None)
    assert h.listener.executions[-1].reject_reason.startswith("QUANTITY_BELOW_FILLED:")
    h.venue.send_replace(order, "S1-R2", 300, 11_500)
    assert h.listener.executions[-1].reject_reason.startswith("PRICE_LIMIT:")
    h.venue.halt("AAA")
    h.venue.send_replace(order, "S1-R3", 400, None)
    assert h.listener.executions[-1].exec_type is ExecType.CANCEL_REJECTED
    assert h.listener.executions[-1].reject_reason.startswith("HALTED:")
    venue_order = h.venue.find_order("S1")
    assert venue_order is not None and venue_order.quantity == 300 and venue_order.limit_price == 10_000
    h.venue.send_cancel(order, "S1-C")  # cancels are still accepted during a halt
    assert h.listener.executions[-1].exec_type is CANCELED


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"symbol": "ZZZ"}, RejectCode.UNKNOWN_SYMBOL),
        ({"quantity": 0}, RejectCode.QUANTITY),
        ({"quantity": -100}, RejectCode.QUANTITY),
        ({"quantity": 150}, RejectCode.LOT_SIZE),
        ({"limit_price": 11_001}, RejectCode.PRICE_LIMIT),
        ({"limit_price": 8_999}, RejectCode.PRICE_LIMIT),
        ({"limit_price": None}, RejectCode.PRICE_MISSING),
        ({"limit_price": 0}, RejectCode.PRICE),
        ({"order_type": OrderType.STOP, "stop_price": 11_500}, RejectCode.PRICE_LIMIT),
        ({"order_type": OrderType.STOP, "stop_price": None}, RejectCode.PRICE_MISSING),
    ],
)
def test_new_order_rejects(changes: dict, code: RejectCode) -> None:
    h = synchronous()
    h.venue.send_new(make_order("S0", SELL, 100, 10_010))
    fields = {"client_order_id": "X", "side": BUY, "quantity": 100, "limit_price": 10_000}
    fields.update(changes)
    if "order_type" not in fields:
        fields["order_type"] = OrderType.LIMIT
    h.venue.send_new(make_order(**fields))
    (report,) = h.listener.reports_for("X")
    assert report.exec_type is REJECTED
    assert report.reject_reason is not None and report.reject_reason.startswith(f"{code.value}: ")
    assert report.venue_order_id is None and report.leaves_quantity == 0
    assert h.venue.quote("AAA").bid_size == 0 and h.venue.quote("AAA").ask_size == 100


def test_off_tick_price_is_rejected_with_the_tick_in_the_message() -> None:
    instrument = make_instrument(tick_size=5, reference_price=10_000, limit_down=9_000, limit_up=11_000)
    h = build_harness({"AAA": instrument}, latency_ns=0)
    h.venue.send_new(make_order("X", BUY, 100, 10_002))
    (report,) = h.listener.reports_for("X")
    assert report.exec_type is REJECTED
    assert report.reject_reason == "PRICE_TICK: limit_price 100.02 is off the tick 0.05 of AAA"


def test_limit_price_message_names_field_value_and_limit() -> None:
    h = synchronous()
    h.venue.send_new(make_order("X", BUY, 100, 11_050))
    assert h.listener.executions[-1].reject_reason == "PRICE_LIMIT: limit_price 110.50 is above the limit up 110.00"


def test_duplicate_client_order_id_is_rejected() -> None:
    h = synchronous()
    h.venue.send_new(make_order("B1", BUY, 100, 9_990))
    h.venue.send_new(make_order("B1", BUY, 100, 9_980))
    assert h.listener.exec_types("B1") == [NEW, REJECTED]
    assert h.listener.executions[-1].reject_reason.startswith("DUPLICATE_ORDER_ID:")
    assert h.venue.quote("AAA").bid_price == 9_990 and h.venue.quote("AAA").bid_size == 100


def test_lot_size_can_be_left_unenforced() -> None:
    h = build_harness(latency_ns=0, enforce_lot_size=False)
    h.venue.send_new(make_order("B1", BUY, 150, 9_990))
    assert h.listener.exec_types("B1") == [NEW]


def test_request_status_answers_each_order_with_cumulative_and_leaves() -> None:
    h = synchronous()
    working = make_order("W", SELL, 300, 10_000)
    filled = make_order("F", BUY, 100, 10_000)
    canceled = make_order("C", BUY, 100, 9_000)
    unknown = make_order("U", BUY, 100, 9_000)
    for order in (working, filled, canceled):
        h.venue.send_new(order)
    h.venue.send_cancel(canceled, "C-X")
    h.venue.send_replace(working, "W-R", 400, None)
    before = len(h.venue.executions())
    h.venue.request_status([working, filled, canceled, unknown])
    answers = [r for r in h.listener.executions if r.exec_type is ExecType.ORDER_STATUS]
    assert [(r.client_order_id, r.cumulative_quantity, r.leaves_quantity) for r in answers] == [
        ("W", 100, 300),  # found through its old id after the replace
        ("F", 100, 0),
        ("C", 0, 0),
        ("U", 0, 0),
    ]
    assert [r.reject_reason is None for r in answers] == [True, True, True, False]
    assert answers[3].reject_reason.startswith("UNKNOWN_ORDER:")
    assert answers[0].venue_order_id == h.venue.find_order("W-R").venue_order_id
    assert len(h.venue.executions()) == before  # status answers are not executions


def test_executions_record_matches_what_the_listener_received() -> None:
    h = build_harness(latency_ns=500)
    h.venue.send_new(make_order("S1", SELL, 300, 10_000))
    h.venue.send_new(make_order("B1", BUY, 200, 10_000))
    h.venue.send_new(make_order("B2", BUY, 100, 99_999_999))
    h.advance(10_000)
    assert h.venue.executions() == h.listener.executions
    assert [r.exec_type for r in h.venue.executions()] == [NEW, NEW, TRADE, TRADE, REJECTED]


def test_disconnected_session_loses_reports_but_the_venue_keeps_its_record() -> None:
    h = build_harness(latency_ns=1_000)
    resting = make_order("S1", SELL, 300, 10_000)
    h.venue.send_new(resting)
    h.advance(10_000)
    h.venue.disconnect()
    assert not h.venue.connected and h.listener.connections[-1] == ("SIM", False)
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    h.advance(10_000)
    refused = h.listener.executions[-1]
    assert refused.exec_type is REJECTED and refused.reject_reason.startswith("NOT_CONNECTED:")
    assert h.venue.find_order("B1") is None  # the venue never heard of it
    # the market goes on without us: someone else's order fills ours while we are away
    venue_book_order = h.venue.find_order("S1")
    h.venue.background_order("AAA", BUY, 200, 10_000)
    assert venue_book_order.filled_quantity == 200
    missed = [r for r in h.venue.executions() if r.exec_type is TRADE]
    assert missed and not [r for r in h.listener.executions if r.exec_type is TRADE]
    h.venue.connect()
    h.venue.request_status([resting])
    h.advance(10_000)
    status = h.listener.executions[-1]
    assert status.exec_type is ExecType.ORDER_STATUS
    assert (status.cumulative_quantity, status.leaves_quantity) == (200, 100)


async def test_start_and_stop_report_the_connection() -> None:
    h = build_harness(connect=False, latency_ns=0)
    assert not h.venue.connected
    await h.venue.start()
    assert h.venue.connected
    await h.venue.stop()
    assert not h.venue.connected
    assert h.listener.connections == [("SIM", True), ("SIM", False)]


def test_close_expires_day_orders_keeps_gtd_and_refuses_new_orders() -> None:
    h = synchronous()
    later = START_NS + 10 * 86_400 * NANOS_PER_SECOND
    h.venue.send_new(make_order("D1", BUY, 100, 9_990))
    h.venue.send_new(make_order("G1", BUY, 100, 9_980, time_in_force=TimeInForce.GTD, expire_ns=later))
    h.venue.send_new(make_order("ST", SELL, 100, order_type=OrderType.STOP, stop_price=9_900))
    h.venue.close_market()
    assert h.listener.exec_types("D1") == [NEW, EXPIRED]
    assert h.listener.exec_types("ST") == [NEW, EXPIRED]
    assert h.listener.exec_types("G1") == [NEW]
    assert h.venue.status("AAA") is VenueStatus.CLOSED
    assert h.listener.statuses[-1].status is VenueStatus.CLOSED
    h.venue.send_new(make_order("LATE", BUY, 100, 9_990))
    assert h.listener.executions[-1].reject_reason.startswith("CLOSED:")


def test_resend_brings_back_missed_reports_marked_as_possible_duplicates() -> None:
    h = build_harness(latency_ns=1_000)
    h.venue.send_new(make_order("S1", SELL, 300, 10_000))
    h.venue.send_new(make_order("S2", SELL, 100, 10_100))
    h.advance(10_000)
    h.venue.disconnect()
    h.venue.background_order("AAA", BUY, 200, 10_000)  # fills S1 while we are away
    h.advance(10_000)
    assert [r.exec_type for r in h.listener.reports_for("S1")] == [NEW]
    h.venue.connect()
    h.venue.resend_executions(["S1"])
    h.advance(10_000)
    resent = [r for r in h.listener.executions if r.possible_duplicate]
    assert [(r.client_order_id, r.exec_type) for r in resent] == [("S1", NEW), ("S1", TRADE)]
    assert resent[1].exec_id == [r for r in h.venue.executions() if r.exec_type is TRADE][0].exec_id
    assert (resent[1].last_quantity, resent[1].cumulative_quantity, resent[1].leaves_quantity) == (200, 200, 100)


@pytest.mark.parametrize(
    ("field", "value"),
    [("latency_ns", -1), ("interval_ns", 0), ("depth_levels", 0), ("level_gap_ticks", -1), ("taker_order_flow_bias", 0.5)],
)
def test_config_refuses_values_that_make_no_sense(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SimVenueConfig(**{field: value})  # type: ignore[arg-type]
