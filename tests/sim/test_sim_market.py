"""The background market: a deterministic walk, realistic quotes and volume, limits, halts and gaps."""

from __future__ import annotations

import pytest
from simkit import START_NS, SimHarness, build_harness, make_instrument, make_order

from adapters.sim import LimitLock, volume_shape
from gateway.clock import NANOS_PER_SECOND
from gateway.model import ExecType, OrderType, Quote, Side, VenueStatus

BUY, SELL = Side.BUY, Side.SELL
MINUTE = 60 * NANOS_PER_SECOND

FIVE = {
    "AAA": make_instrument("AAA", 10_000, limit_down=9_000, limit_up=11_000, average_daily_volume=5_000_000),
    "BIG": make_instrument("BIG", 170_010, limit_down=153_000, limit_up=187_000, average_daily_volume=800_000),
    "PNY": make_instrument("PNY", 2_500, limit_down=2_250, limit_up=2_750, average_daily_volume=20_000_000),
    "MID": make_instrument("MID", 50_000, limit_down=45_000, limit_up=55_000, average_daily_volume=300_000),
    "THN": make_instrument("THN", 1_234, limit_down=1_110, limit_up=1_358, average_daily_volume=50_000),
}


class CheckingHarness:
    """Run a whole session at latency 0 and check every quote against the book at the moment it is delivered."""

    def __init__(self, seed: int = 1) -> None:
        self.h: SimHarness = build_harness(dict(FIVE), latency_ns=0, seed=seed)
        self.mismatched_quotes = 0
        record = self.h.listener.on_quote

        def on_quote(quote: Quote) -> None:
            current = self.h.venue.quote(quote.symbol)
            if (current.bid_price, current.bid_size, current.ask_price, current.ask_size) != (
                quote.bid_price,
                quote.bid_size,
                quote.ask_price,
                quote.ask_size,
            ):
                self.mismatched_quotes += 1
            record(quote)

        self.h.listener.on_quote = on_quote  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def day() -> CheckingHarness:
    run = CheckingHarness()
    run.h.venue.open_market(START_NS)
    run.h.timers.advance_to(START_NS + run.h.venue.config.session_ns + MINUTE)
    return run


def test_a_day_trades_about_the_average_daily_volume(day: CheckingHarness) -> None:
    for symbol, instrument in FIVE.items():
        traded = day.h.venue.traded_volume(symbol)
        assert 0.85 * instrument.average_daily_volume <= traded <= 1.15 * instrument.average_daily_volume, symbol
        assert traded % instrument.lot_size == 0


def test_every_print_reaches_the_tape_and_none_is_ours(day: CheckingHarness) -> None:
    trades = day.h.listener.trades
    for symbol in FIVE:
        assert sum(t.quantity for t in trades if t.symbol == symbol) == day.h.venue.traded_volume(symbol)
    assert not any(t.own for t in trades)
    assert all(START_NS <= t.ts_event < START_NS + day.h.venue.config.session_ns for t in trades)


def test_volume_follows_a_u_curve(day: CheckingHarness) -> None:
    def volume(start_minute: int, end_minute: int) -> float:  # summed over symbols, each as a fraction of its ADV
        low, high = START_NS + start_minute * MINUTE, START_NS + end_minute * MINUTE
        trades = day.h.listener.trades
        return sum(t.quantity / FIVE[t.symbol].average_daily_volume for t in trades if low <= t.ts_event < high)

    first, midday, last = volume(0, 30), volume(180, 210), volume(360, 390)
    assert first > 1.8 * midday
    assert last > 1.8 * midday


def test_quotes_are_sent_after_each_change_and_match_the_book(day: CheckingHarness) -> None:
    quotes = [q for q in day.h.listener.quotes if q.symbol == "AAA"]
    assert len(quotes) > 5_000
    assert day.mismatched_quotes == 0
    consecutive = zip(quotes, quotes[1:])
    assert all((a.bid_price, a.bid_size, a.ask_price, a.ask_size) != (b.bid_price, b.bid_size, b.ask_price, b.ask_size)
               for a, b in consecutive)
    open_quotes = [q for q in quotes if q.bid_size and q.ask_size]
    assert all(q.bid_price < q.ask_price for q in open_quotes)
    spreads = sorted(q.ask_price - q.bid_price for q in open_quotes)
    assert spreads[len(spreads) // 2] <= 5  # a few ticks of 0.01 on a 100.00 stock
    assert quotes[-1].bid_size == 0 and quotes[-1].ask_size == 0  # makers leave at the close


def test_prints_stay_inside_the_daily_limits(day: CheckingHarness) -> None:
    for trade in day.h.listener.trades:
        instrument = FIVE[trade.symbol]
        assert instrument.limit_down <= trade.price <= instrument.limit_up
        assert trade.price % instrument.tick_size == 0


def test_the_session_opens_and_closes(day: CheckingHarness) -> None:
    closing = [s for s in day.h.listener.statuses if s.status is VenueStatus.CLOSED]
    assert sorted(s.symbol for s in closing) == sorted(FIVE)
    assert {s.ts_event for s in closing} == {START_NS + day.h.venue.config.session_ns}
    assert all(day.h.venue.status(symbol) is VenueStatus.CLOSED for symbol in FIVE)
    assert len(day.h.timers) == 0  # no tick scheduled past the close


def tape(seed: int, minutes: int = 30) -> list[tuple[int, str, int, int]]:
    h = build_harness(dict(FIVE), latency_ns=0, seed=seed)
    h.venue.open_market(START_NS)
    h.timers.advance_to(START_NS + minutes * MINUTE)
    return [(t.ts_event, t.symbol, t.price, t.quantity) for t in h.listener.trades]


def test_same_seed_gives_the_same_tape_and_another_seed_another() -> None:
    first, again, other = tape(7), tape(7), tape(8)
    assert len(first) > 500
    assert first == again
    assert first != other


def test_each_symbol_walks_independently_of_the_others() -> None:
    alone = build_harness({"AAA": FIVE["AAA"]}, latency_ns=0, seed=7)
    alone.venue.open_market(START_NS)
    alone.timers.advance_to(START_NS + 30 * MINUTE)
    solo = [(t.ts_event, t.symbol, t.price, t.quantity) for t in alone.listener.trades]
    assert solo == [t for t in tape(7) if t[1] == "AAA"]


def test_the_walk_hits_the_limits_and_locks_but_never_trades_outside() -> None:
    tight = {"TIG": make_instrument("TIG", 10_000, limit_down=9_950, limit_up=10_050, average_daily_volume=2_000_000)}
    h = build_harness(tight, latency_ns=0, daily_volatility=0.10)
    h.venue.open_market(START_NS)
    seen: set[LimitLock] = set()
    for _ in range(3_600):
        h.advance(NANOS_PER_SECOND)
        lock = h.venue.limit_lock("TIG")
        seen.add(lock)
        quote = h.venue.quote("TIG")
        # locked: nobody takes the other side; the makers' stack starts at the limit (a taker may just have eaten it)
        if lock is LimitLock.LIMIT_UP:
            assert quote.ask_size == 0 and 10_045 <= quote.bid_price <= 10_050
        elif lock is LimitLock.LIMIT_DOWN:
            assert quote.bid_size == 0 and 9_950 <= quote.ask_price <= 9_955
        assert 9_950 <= h.venue.fair_price("TIG") <= 10_050
    assert seen == {LimitLock.NONE, LimitLock.LIMIT_UP, LimitLock.LIMIT_DOWN}
    prices = [t.price for t in h.listener.trades]
    assert min(prices) >= 9_950 and max(prices) <= 10_050
    assert 10_050 in prices and 9_950 in prices


def test_our_passive_order_is_filled_by_the_background_flow() -> None:
    h = build_harness({"AAA": FIVE["AAA"]}, latency_ns=100_000)
    h.venue.open_market(START_NS)
    h.advance(NANOS_PER_SECOND)
    bid = h.venue.quote("AAA").bid_price
    h.venue.send_new(make_order("B1", BUY, 1_000, bid))
    h.advance(30 * MINUTE)
    fills = [r for r in h.listener.reports_for("B1") if r.exec_type is ExecType.TRADE]
    assert sum(r.last_quantity for r in fills) == 1_000
    assert all(r.last_price == bid for r in fills)
    own = [t for t in h.listener.trades if t.own]
    assert sum(t.quantity for t in own) == 1_000 and all(t.price == bid for t in own)


def test_halt_stops_trading_refuses_orders_and_resume_restarts_it() -> None:
    two = {"AAA": FIVE["AAA"], "PNY": FIVE["PNY"]}
    h = build_harness(two, latency_ns=0)
    h.venue.open_market(START_NS)
    h.advance(5 * MINUTE)
    h.venue.send_new(make_order("B1", BUY, 100, h.venue.quote("AAA").bid_price - 10))
    halted_at = h.now()
    h.venue.halt("AAA")
    assert h.listener.statuses[-1].status is VenueStatus.HALTED and h.listener.statuses[-1].symbol == "AAA"
    h.venue.send_new(make_order("B2", BUY, 100, 10_000))
    assert h.listener.executions[-1].reject_reason.startswith("HALTED:")
    h.advance(10 * MINUTE)
    during = [t for t in h.listener.trades if t.ts_event > halted_at]
    assert during and {t.symbol for t in during} == {"PNY"}  # the other symbol trades on
    h.venue.send_cancel(make_order("B1", BUY, 100, 0), "B1-C")
    assert h.listener.executions[-1].exec_type is ExecType.CANCELED
    resumed_at = h.now()
    h.venue.resume("AAA")
    assert h.listener.statuses[-1].status is VenueStatus.OPEN
    h.advance(5 * MINUTE)
    assert any(t.symbol == "AAA" and t.ts_event >= resumed_at for t in h.listener.trades)
    h.venue.send_new(make_order("B3", BUY, 100, h.venue.quote("AAA").bid_price))
    assert h.listener.exec_types("B3") == [ExecType.NEW]


def test_gap_fills_bids_the_market_jumped_over_and_reaches_stops() -> None:
    h = build_harness({"AAA": FIVE["AAA"]}, latency_ns=0)
    h.venue.open_market(START_NS)
    h.advance(MINUTE)
    bid = h.venue.quote("AAA").bid_price
    h.venue.send_new(make_order("BID", BUY, 100, bid - 100))  # 1.00 below the market
    h.venue.send_new(make_order("STOP", SELL, 100, order_type=OrderType.STOP, stop_price=bid - 200))
    new_mid = bid - 600
    h.venue.gap("AAA", new_mid)
    fills = [r for r in h.listener.reports_for("BID") if r.exec_type is ExecType.TRADE]
    assert sum(r.last_quantity for r in fills) == 100 and all(r.last_price == bid - 100 for r in fills)
    assert h.listener.exec_types("STOP")[:3] == [ExecType.NEW, ExecType.TRIGGERED, ExecType.TRADE]
    stop_fill = [r for r in h.listener.reports_for("STOP") if r.exec_type is ExecType.TRADE][0]
    assert abs(stop_fill.last_price - new_mid) <= 10
    quote = h.venue.quote("AAA")
    assert quote.bid_price <= new_mid <= quote.ask_price
    assert abs(h.venue.fair_price("AAA") - new_mid) <= 1
    background = [t for t in h.listener.trades if not t.own]
    assert abs(background[-1].price - new_mid) <= 10  # the tape shows the gap


def test_gap_is_clamped_to_the_limit_down() -> None:
    h = build_harness({"AAA": FIVE["AAA"]}, latency_ns=0)
    h.venue.open_market(START_NS)
    h.advance(MINUTE)
    h.venue.gap("AAA", 5_000)
    assert h.venue.fair_price("AAA") == 9_000 and h.venue.limit_lock("AAA") is LimitLock.LIMIT_DOWN
    assert h.venue.quote("AAA").ask_price == 9_000
    assert min(t.price for t in h.listener.trades) >= 9_000


def test_volume_shape_averages_one() -> None:
    for strength in (0.0, 1.0, 2.0, 5.0):
        samples = [volume_shape((i + 0.5) / 10_000, strength) for i in range(10_000)]
        assert sum(samples) / len(samples) == pytest.approx(1.0, rel=1e-3)
    assert volume_shape(0.0, 2.0) == pytest.approx(3 * volume_shape(0.5, 2.0))


def test_the_book_holds_several_levels_a_side() -> None:
    h = build_harness({"AAA": FIVE["AAA"]}, latency_ns=0, depth_levels=5)
    h.venue.open_market(START_NS)
    h.advance(MINUTE)
    book = h.venue.book("AAA")
    assert len(book.depth(BUY, 10)) == 5 and len(book.depth(SELL, 10)) == 5
    assert all(size % 100 == 0 and size > 0 for _, size in book.depth(BUY, 10) + book.depth(SELL, 10))


def test_open_market_twice_is_refused() -> None:
    h = build_harness({"AAA": FIVE["AAA"]})
    h.venue.open_market(START_NS)
    with pytest.raises(RuntimeError, match="already opened"):
        h.venue.open_market(START_NS)
