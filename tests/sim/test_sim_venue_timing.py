"""Time at the venue: one-way latency each way, first in first out, and the synchronous mode with latency 0."""

from __future__ import annotations

from simkit import START_NS, build_harness, make_order

from gateway.model import ExecType, Side

BUY, SELL = Side.BUY, Side.SELL
LATENCY = 250_000


def test_a_report_arrives_after_two_latencies_stamped_with_venue_time() -> None:
    h = build_harness(latency_ns=LATENCY)
    h.venue.send_new(make_order("B1", BUY, 100, 9_990))
    assert h.listener.executions == []  # nothing synchronous
    h.timers.advance_to(START_NS + 2 * LATENCY - 1)
    assert h.listener.executions == []
    h.timers.advance_to(START_NS + 2 * LATENCY)
    (new,) = h.listener.executions
    assert new.exec_type is ExecType.NEW
    assert new.ts_event == START_NS + LATENCY  # processed at the venue after one latency
    assert h.listener.execution_arrivals == [START_NS + 2 * LATENCY]


def test_requests_arrive_in_the_order_they_were_sent() -> None:
    h = build_harness(latency_ns=LATENCY)
    order = make_order("B1", BUY, 100, 9_990)
    h.venue.send_new(order)
    h.venue.send_cancel(order, "B1-C")  # sent before the NEW came back: must not overtake it
    h.advance(10 * LATENCY)
    assert [r.exec_type for r in h.listener.executions] == [ExecType.NEW, ExecType.CANCELED]
    assert h.listener.execution_arrivals == [START_NS + 2 * LATENCY] * 2


def test_a_fill_happens_when_the_crossing_order_reaches_the_venue() -> None:
    h = build_harness(latency_ns=LATENCY)
    h.venue.send_new(make_order("S1", SELL, 100, 10_000))
    h.advance(1_000_000)
    sent_at = h.now()
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    h.advance(1_000_000)
    trades = [r for r in h.listener.executions if r.exec_type is ExecType.TRADE]
    assert {r.ts_event for r in trades} == {sent_at + LATENCY}
    received = zip(h.listener.executions, h.listener.execution_arrivals)
    arrivals = [at for report, at in received if report.exec_type is ExecType.TRADE]
    assert arrivals == [sent_at + 2 * LATENCY] * 2
    (trade,) = h.listener.trades
    assert trade.ts_event == sent_at + LATENCY and trade.own
    assert h.listener.quotes[-1].ts_event == sent_at + LATENCY


def test_market_data_arrives_one_latency_after_the_venue_tick() -> None:
    h = build_harness(latency_ns=LATENCY)
    h.venue.open_market(START_NS)
    h.timers.advance_to(START_NS + LATENCY - 1)
    assert h.listener.quotes == []
    h.timers.advance_to(START_NS + LATENCY)
    assert h.listener.quotes and h.listener.quotes[0].ts_event == START_NS


def test_latency_zero_answers_inside_the_call() -> None:
    h = build_harness(latency_ns=0)
    h.venue.send_new(make_order("S1", SELL, 100, 10_000))
    assert [r.exec_type for r in h.listener.executions] == [ExecType.NEW]
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    assert [r.exec_type for r in h.listener.executions][1:] == [ExecType.NEW, ExecType.TRADE, ExecType.TRADE]
    assert all(r.ts_event == START_NS for r in h.listener.executions)
    assert len(h.timers) == 0  # nothing left waiting


def test_latency_zero_send_from_a_callback_waits_until_the_current_reports_are_delivered() -> None:
    h = build_harness(latency_ns=0)
    h.venue.send_new(make_order("S1", SELL, 300, 10_000))
    sent_from_callback: list[str] = []

    def react(report):  # type: ignore[no-untyped-def]
        if report.exec_type is ExecType.TRADE and report.client_order_id == "B1" and not sent_from_callback:
            sent_from_callback.append("H1")
            h.venue.send_new(make_order("H1", BUY, 100, 10_000))
            # not processed yet: the venue is still delivering what B1 caused
            assert h.venue.find_order("H1") is None

    h.listener.on_execution_hook = react
    h.venue.send_new(make_order("B1", BUY, 100, 10_000))
    sequence = [(r.client_order_id, r.exec_type) for r in h.listener.executions]
    assert sequence == [
        ("S1", ExecType.NEW),
        ("B1", ExecType.NEW),
        ("B1", ExecType.TRADE),
        ("S1", ExecType.TRADE),  # still delivered before H1 is even processed
        ("H1", ExecType.NEW),
        ("H1", ExecType.TRADE),
        ("S1", ExecType.TRADE),
    ]
    assert h.venue.find_order("S1").filled_quantity == 200
