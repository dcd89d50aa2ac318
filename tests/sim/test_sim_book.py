"""The order book on its own: price-time priority, time in force, stops, cancel and replace, and its invariants."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.book import BookOrder, Fill, OrderBook, Triggered, Unfilled
from gateway.model import OrderType, Side, TimeInForce

BUY, SELL = Side.BUY, Side.SELL


def limit(side: Side, quantity: int, price: int, tif: TimeInForce = TimeInForce.DAY, name: str = "") -> BookOrder:
    return BookOrder(side, OrderType.LIMIT, tif, quantity, price, client_order_id=name, own=bool(name))


def market(side: Side, quantity: int, tif: TimeInForce = TimeInForce.DAY) -> BookOrder:
    return BookOrder(side, OrderType.MARKET, tif, quantity)


def stop(side: Side, quantity: int, stop_price: int, limit_price: int | None = None, name: str = "") -> BookOrder:
    order_type = OrderType.STOP if limit_price is None else OrderType.STOP_LIMIT
    return BookOrder(side, order_type, TimeInForce.DAY, quantity, limit_price, stop_price, client_order_id=name)


def fills(events: list) -> list[tuple[str, int, int]]:
    """(resting order name, price, quantity) of each fill, in order."""
    return [(e.resting.client_order_id, e.price, e.quantity) for e in events if isinstance(e, Fill)]


def test_better_price_first_then_earlier_order_first() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 101, name="a"))
    book.submit(limit(SELL, 100, 101, name="b"))
    book.submit(limit(SELL, 100, 100, name="c"))
    events = book.submit(limit(BUY, 250, 101))
    assert fills(events) == [("c", 100, 100), ("a", 101, 100), ("b", 101, 50)]
    assert book.top() == (0, 0, 101, 50)
    assert book.last_price == 101
    assert book.traded_volume == 250


def test_partial_fill_rests_the_remainder_at_its_limit() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 30, 100, name="s"))
    buyer = limit(BUY, 100, 100, name="b")
    events = book.submit(buyer)
    assert fills(events) == [("s", 100, 30)]
    assert buyer.resting and not buyer.done
    assert buyer.filled_quantity == 30 and buyer.leaves_quantity == 70
    assert book.top() == (100, 70, 0, 0)


def test_market_order_sweeps_levels_and_cancels_what_finds_no_liquidity() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 100, name="x"))
    book.submit(limit(SELL, 100, 102, name="y"))
    order = market(BUY, 300)
    events = book.submit(order)
    assert fills(events) == [("x", 100, 100), ("y", 102, 100)]
    assert isinstance(events[-1], Unfilled) and events[-1].order is order
    assert order.done and not order.resting and order.filled_quantity == 200
    assert book.top() == (0, 0, 0, 0)


def test_ioc_fills_what_it_can_and_never_rests() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 100, name="x"))
    book.submit(limit(SELL, 100, 101, name="y"))
    order = limit(BUY, 300, 100, TimeInForce.IOC)
    events = book.submit(order)
    assert fills(events) == [("x", 100, 100)]
    assert isinstance(events[-1], Unfilled) and "IOC" in events[-1].reason
    assert order.done and order.leaves_quantity == 0
    assert book.top() == (0, 0, 101, 100)  # nothing of the IOC rests


def test_fok_that_cannot_fill_in_full_trades_nothing() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 100, name="x"))
    book.submit(limit(SELL, 100, 101, name="y"))
    book.submit(limit(SELL, 500, 103, name="z"))  # beyond the FOK's limit: must not count
    order = limit(BUY, 250, 101, TimeInForce.FOK)
    events = book.submit(order)
    assert fills(events) == []
    assert len(events) == 1 and isinstance(events[0], Unfilled) and "FOK" in events[0].reason
    assert order.done and order.filled_quantity == 0
    assert book.level_quantities(SELL) == {100: 100, 101: 100, 103: 500}
    assert book.last_price is None


def test_fok_that_can_fill_fills_across_levels() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 100, name="x"))
    book.submit(limit(SELL, 100, 101, name="y"))
    order = limit(BUY, 150, 101, TimeInForce.FOK)
    events = book.submit(order)
    assert fills(events) == [("x", 100, 100), ("y", 101, 50)]
    assert order.done and order.filled_quantity == 150
    assert not any(isinstance(e, Unfilled) for e in events)


def test_buy_stop_waits_off_book_until_a_trade_reaches_it_then_trades_as_market() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 100, name="ask100"))
    book.submit(limit(SELL, 100, 102, name="ask102"))
    book.submit(limit(SELL, 100, 103, name="ask103"))
    trigger = stop(BUY, 100, 102, name="stop")
    assert book.submit(trigger) == []
    assert trigger.resting and not trigger.triggered
    assert book.top() == (0, 0, 100, 100)  # a waiting stop is not on the book
    book.submit(limit(BUY, 100, 100))  # last 100: below the stop
    assert not trigger.triggered
    events = book.submit(limit(BUY, 50, 102))  # last 102: reaches the stop
    kinds = [type(e) for e in events]
    assert kinds == [Fill, Triggered, Fill, Fill]
    stop_fills = [(e.price, e.quantity) for e in events if isinstance(e, Fill) and e.aggressor is trigger]
    assert stop_fills == [(102, 50), (103, 50)]  # no limit: takes what is left at 102, then 103
    assert trigger.filled_quantity == 100
    assert trigger.done


def test_sell_stop_limit_triggers_then_rests_at_its_limit() -> None:
    book = OrderBook("AAA")
    book.submit(limit(BUY, 100, 99, name="bid99"))
    book.submit(limit(BUY, 100, 97, name="bid97"))
    order = stop(SELL, 300, 99, limit_price=98, name="sl")
    book.submit(order)
    events = book.submit(limit(SELL, 50, 99))  # trades at 99: reaches the stop
    assert [type(e) for e in events] == [Fill, Triggered, Fill]
    assert events[2].aggressor is order and events[2].quantity == 50  # rest of bid99; 97 is below the limit
    assert order.resting and order.triggered and order.leaves_quantity == 250
    assert book.top() == (97, 100, 98, 250)


def test_stop_cascade_triggers_further_stops() -> None:
    book = OrderBook("AAA")
    for price in (99, 98, 97):
        book.submit(limit(BUY, 100, price, name=f"bid{price}"))
    first = stop(SELL, 100, 99, name="first")
    second = stop(SELL, 100, 98, name="second")
    book.submit(first)
    book.submit(second)
    events = book.submit(limit(SELL, 50, 99))
    triggered = [e.order for e in events if isinstance(e, Triggered)]
    assert triggered == [first, second]
    assert first.filled_quantity == 100 and second.filled_quantity == 100
    assert book.last_price == 97


def test_stop_already_reached_on_arrival_triggers_at_once() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 200, 100))
    book.submit(limit(BUY, 100, 100))  # last 100
    order = stop(BUY, 100, 99)
    events = book.submit(order)
    assert [type(e) for e in events] == [Triggered, Fill]
    assert order.done and order.filled_quantity == 100


def test_canceled_order_is_skipped_and_its_level_disappears() -> None:
    book = OrderBook("AAA")
    first = limit(SELL, 100, 100, name="first")
    second = limit(SELL, 100, 100, name="second")
    book.submit(first)
    book.submit(second)
    assert book.cancel(first) is True
    assert book.cancel(first) is False
    assert book.top() == (0, 0, 100, 100)
    events = book.submit(limit(BUY, 100, 100))
    assert fills(events) == [("second", 100, 100)]
    assert book.top() == (0, 0, 0, 0)
    assert book.level_quantities(SELL) == {}


def test_canceled_stop_never_triggers() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 300, 100))
    order = stop(BUY, 100, 100)
    book.submit(order)
    assert book.cancel(order)
    events = book.submit(limit(BUY, 100, 100))
    assert not any(isinstance(e, Triggered) for e in events)
    assert order.filled_quantity == 0


def test_replace_down_in_quantity_at_same_price_keeps_time_priority() -> None:
    book = OrderBook("AAA")
    first = limit(SELL, 300, 100, name="first")
    book.submit(first)
    book.submit(limit(SELL, 100, 100, name="second"))
    assert book.replace(first, 200, None) == []
    assert book.level_quantities(SELL) == {100: 300}
    assert fills(book.submit(limit(BUY, 100, 100))) == [("first", 100, 100)]


def test_replace_up_in_quantity_loses_time_priority() -> None:
    book = OrderBook("AAA")
    first = limit(SELL, 100, 100, name="first")
    book.submit(first)
    book.submit(limit(SELL, 100, 100, name="second"))
    book.replace(first, 200, None)
    assert book.level_quantities(SELL) == {100: 300}
    assert fills(book.submit(limit(BUY, 100, 100))) == [("second", 100, 100)]


def test_replace_of_price_loses_priority_and_trades_if_it_now_crosses() -> None:
    book = OrderBook("AAA")
    book.submit(limit(SELL, 100, 101, name="ask"))
    bid = limit(BUY, 100, 99, name="bid")
    other = limit(BUY, 100, 100, name="other")
    book.submit(bid)
    book.submit(other)
    book.replace(bid, 100, 100)  # same level as "other", behind it
    assert book.top() == (100, 200, 101, 100)
    assert fills(book.submit(limit(SELL, 100, 100))) == [("other", 100, 100)]
    events = book.replace(bid, 100, 101)  # now crosses the ask
    assert [(e.aggressor.client_order_id, e.resting.client_order_id, e.price) for e in events] == [("bid", "ask", 101)]
    assert bid.done and book.top() == (0, 0, 0, 0)


def test_replace_to_or_below_filled_quantity_is_refused_and_changes_nothing() -> None:
    book = OrderBook("AAA")
    order = limit(SELL, 300, 100, name="s")
    book.submit(order)
    book.submit(limit(BUY, 200, 100))
    with pytest.raises(ValueError, match="filled quantity 200"):
        book.replace(order, 200, None)
    assert order.quantity == 300 and book.level_quantities(SELL) == {100: 100}


def test_depth_lists_levels_best_first() -> None:
    book = OrderBook("AAA")
    for price in (97, 99, 98):
        book.submit(limit(BUY, price, price))
    for price in (103, 101, 102):
        book.submit(limit(SELL, price, price))
    assert book.depth(BUY, 2) == [(99, 99), (98, 98)]
    assert book.depth(SELL, 5) == [(101, 101), (102, 102), (103, 103)]


# --- invariants under random order flow --------------------------------------------------------------------------

order_strategy = st.tuples(
    st.sampled_from(["limit", "market", "ioc", "fok", "stop", "stop_limit", "cancel", "replace"]),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 5),  # lots of 10
    st.integers(95, 105),  # price
    st.integers(0, 10_000),  # which resting order to cancel or replace
)


@settings(max_examples=200, deadline=None)
@given(st.lists(order_strategy, min_size=1, max_size=80))
def test_random_flow_keeps_the_book_consistent(operations: list[tuple[str, Side, int, int, int]]) -> None:
    book = OrderBook("AAA")
    orders: list[BookOrder] = []
    filled_by_fills: dict[int, int] = {}
    traded = 0
    for kind, side, lots, price, pick in operations:
        quantity = lots * 10
        events: list = []
        if kind in ("cancel", "replace"):
            live = [o for o in orders if o.resting]
            if not live:
                continue
            target = live[pick % len(live)]
            if kind == "cancel":
                assert book.cancel(target)
                assert target.done and not target.resting
                continue
            new_quantity = target.filled_quantity + quantity
            new_price = None if target.limit_price is None else price
            if target.order_type is OrderType.STOP:
                new_price = None
            events = book.replace(target, new_quantity, new_price)
        else:
            tif = {"ioc": TimeInForce.IOC, "fok": TimeInForce.FOK}.get(kind, TimeInForce.DAY)
            if kind == "market":
                order = BookOrder(side, OrderType.MARKET, tif, quantity)
            elif kind == "stop":
                order = BookOrder(side, OrderType.STOP, tif, quantity, None, price)
            elif kind == "stop_limit":
                order = BookOrder(side, OrderType.STOP_LIMIT, tif, quantity, price, price)
            else:
                order = BookOrder(side, OrderType.LIMIT, tif, quantity, price)
            orders.append(order)
            events = book.submit(order)
            if tif is TimeInForce.FOK:
                assert order.filled_quantity in (0, quantity)
        for event in events:
            if isinstance(event, Fill):
                assert event.aggressor.side is not event.resting.side
                traded += event.quantity
                for o in (event.aggressor, event.resting):
                    filled_by_fills[id(o)] = filled_by_fills.get(id(o), 0) + event.quantity
                buyer = event.aggressor if event.aggressor.side is BUY else event.resting
                seller = event.resting if buyer is event.aggressor else event.aggressor
                assert event.price == event.resting.limit_price  # trades happen at the resting price
                if buyer.limit_price is not None:
                    assert event.price <= buyer.limit_price
                if seller.limit_price is not None:
                    assert event.price >= seller.limit_price
        bid, _, ask, _ = book.top()
        assert not (bid and ask and bid >= ask), "the book is crossed"
        resting = book.resting_orders()
        for o in orders:
            assert 0 <= o.filled_quantity <= o.quantity
            assert o.filled_quantity == filled_by_fills.get(id(o), 0)
            assert not (o.resting and o.done)
            assert o.resting == any(r is o for r in resting)
            executing = o.triggered or o.order_type in (OrderType.LIMIT, OrderType.MARKET)
            if executing and (o.limit_price is None or o.time_in_force in (TimeInForce.IOC, TimeInForce.FOK)):
                assert not o.resting  # market orders, triggered stops, IOC and FOK never rest
        for side in (BUY, SELL):
            expected: dict[int, int] = {}
            for o in resting:
                if o.side is side and not o.is_waiting_stop:
                    expected[o.limit_price] = expected.get(o.limit_price, 0) + o.open_quantity  # type: ignore[index]
            assert book.level_quantities(side) == expected
        assert book.traded_volume == traded


def test_many_cancels_behind_a_long_lived_order_do_not_pile_up() -> None:
    book = OrderBook("AAA")
    head = limit(BUY, 100, 100, name="head")
    book.submit(head)
    for _ in range(10_000):
        other = limit(BUY, 100, 100)
        book.submit(other)
        book.cancel(other)
    level = book._bids.levels[100]
    assert len(level.entries) <= 128
    assert book.level_quantities(BUY) == {100: 100}
    last = limit(BUY, 100, 100, name="last")
    book.submit(last)
    assert fills(book.submit(limit(SELL, 200, 100))) == [("head", 100, 100), ("last", 100, 100)]
