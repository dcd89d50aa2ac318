"""Each order type's life on the simulated venue, through the engine, with liquidity placed by another trader."""

from __future__ import annotations

from gateway.model import AmendOrder, CancelOrder, OrderStatus, OrderType, Side, TimeInForce

SECOND = 1_000_000_000


def test_limit_order_rests_then_fills_in_parts(sim_world) -> None:
    world = sim_world()
    buy = world.submit("alice", "ALICE-1", Side.BUY, 300, price=10_000)
    world.advance(0.01)
    assert buy.status is OrderStatus.NEW
    world.submit("bob", "BOB-1", Side.SELL, 100, price=10_000, symbol="ACME")
    world.advance(0.01)
    assert buy.status is OrderStatus.PARTIALLY_FILLED and buy.filled_quantity == 100
    world.submit("bob", "BOB-1", Side.SELL, 200, price=9_990)
    world.advance(0.01)
    assert buy.status is OrderStatus.FILLED and buy.filled_quantity == 300
    assert buy.filled_cost == 300 * 10_000  # the resting buy trades at its own price
    fills = world.events_named("OrderFilled", buy.order_id)
    assert [e.last_quantity for e in fills] == [100, 200] and fills[-1].average_price == "100.000000"
    assert world.engine.positions[("ALICE-1", "ACME")].quantity == 5_000 + 300
    assert world.engine.positions[("BOB-1", "ACME")].quantity == -300


def test_market_order_takes_the_book_and_the_remainder_is_canceled(sim_world) -> None:
    world = sim_world()
    world.submit("bob", "BOB-1", Side.SELL, 100, price=10_010)
    world.submit("bob", "BOB-1", Side.SELL, 100, price=10_020)
    world.advance(0.01)
    market = world.submit("alice", "ALICE-1", Side.BUY, 250, OrderType.MARKET)
    world.advance(0.01)
    assert market.filled_quantity == 200 and market.filled_cost == 100 * 10_010 + 100 * 10_020
    assert market.status is OrderStatus.CANCELED


def test_ioc_fills_what_it_can_and_cancels_the_rest(sim_world) -> None:
    world = sim_world()
    world.submit("bob", "BOB-1", Side.SELL, 100, price=10_000)
    world.advance(0.01)
    ioc = world.submit("alice", "ALICE-1", Side.BUY, 150, price=10_000, tif=TimeInForce.IOC)
    world.advance(0.01)
    assert (ioc.status, ioc.filled_quantity) == (OrderStatus.CANCELED, 100)


def test_fok_that_cannot_fill_whole_does_not_fill_at_all(sim_world) -> None:
    world = sim_world()
    resting = world.submit("bob", "BOB-1", Side.SELL, 100, price=10_000)
    world.advance(0.01)
    fok = world.submit("alice", "ALICE-1", Side.BUY, 150, price=10_000, tif=TimeInForce.FOK)
    world.advance(0.01)
    assert (fok.status, fok.filled_quantity) == (OrderStatus.CANCELED, 0)
    assert resting.filled_quantity == 0
    fok_small = world.submit("alice", "ALICE-1", Side.BUY, 100, price=10_000, tif=TimeInForce.FOK)
    world.advance(0.01)
    assert (fok_small.status, fok_small.filled_quantity) == (OrderStatus.FILLED, 100)


def test_stop_order_triggers_on_a_trade_through_its_stop(sim_world) -> None:
    world = sim_world()
    stop = world.submit("alice", "ALICE-1", Side.BUY, 50, OrderType.STOP, stop=10_050)
    world.submit("bob", "BOB-1", Side.SELL, 100, price=10_060)
    world.advance(0.01)
    assert stop.status is OrderStatus.NEW and stop.filled_quantity == 0
    # a trade at the stop price between two other participants sets it off
    world.submit("bob", "BOB-1", Side.SELL, 10, price=10_050)
    world.submit("alice", "ALICE-2", Side.BUY, 10, price=10_050)
    world.advance(0.01)
    assert world.events_named("OrderTriggered", stop.order_id)
    assert stop.status is OrderStatus.FILLED and stop.filled_cost == 50 * 10_060


def test_stop_limit_order_rests_at_its_limit_after_triggering(sim_world) -> None:
    world = sim_world()
    stop_limit = world.submit("alice", "ALICE-1", Side.SELL, 40, OrderType.STOP_LIMIT, price=9_940, stop=9_950)
    world.submit("bob", "BOB-1", Side.BUY, 10, price=9_950)
    world.submit("alice", "ALICE-2", Side.SELL, 10, price=9_950)
    world.advance(0.01)
    assert world.events_named("OrderTriggered", stop_limit.order_id)
    assert stop_limit.status is OrderStatus.NEW and stop_limit.filled_quantity == 0
    world.submit("bob", "BOB-1", Side.BUY, 40, price=9_945)
    world.advance(0.01)
    assert stop_limit.status is OrderStatus.FILLED and stop_limit.filled_cost == 40 * 9_940  # at its own resting price


def test_gtd_order_expires_at_its_time(sim_world) -> None:
    world = sim_world()
    gtd = world.submit("alice", "ALICE-1", Side.BUY, 10, price=9_900, tif=TimeInForce.GTD,
                 expire_ns=world.clock.now_ns() + 5 * SECOND)
    world.advance(4)
    assert gtd.status is OrderStatus.NEW
    world.advance(2)
    assert gtd.status is OrderStatus.EXPIRED and world.events_named("OrderExpired", gtd.order_id)


def test_cancel_and_amend(sim_world) -> None:
    world = sim_world()
    alice = world.principal("alice")
    order = world.submit("alice", "ALICE-1", Side.BUY, 100, price=9_900)
    world.advance(0.01)
    world.engine.amend_order(alice, AmendOrder(order.order_id, quantity=150, limit_price=9_910))
    assert order.status is OrderStatus.PENDING_REPLACE
    world.advance(0.01)
    assert (order.status, order.quantity, order.limit_price) == (OrderStatus.NEW, 150, 9_910)
    assert order.venue_client_order_id == f"{order.order_id}.R1"
    world.submit("bob", "BOB-1", Side.SELL, 50, price=9_910)
    world.advance(0.01)
    assert order.filled_quantity == 50
    world.engine.cancel_order(alice, CancelOrder(order.order_id))
    world.advance(0.01)
    assert order.status is OrderStatus.CANCELED and order.filled_quantity == 50
    assert world.engine.orders.open_count("ALICE-1") == 0


def test_venue_rejects_an_order_on_a_halted_symbol(sim_world) -> None:
    world = sim_world()
    world.venue.halt("ACME")
    order = world.submit("alice", "ALICE-1", Side.BUY, 10, price=10_000)
    world.advance(0.01)
    assert order.status is OrderStatus.REJECTED
    rejected = world.events_named("OrderRejected", order.order_id)[0]
    assert rejected.code.value == "VENUE_REJECTED" and "halt" in rejected.reason.lower()


def test_a_duplicate_fill_from_the_venue_is_ignored(sim_world) -> None:
    world = sim_world()
    buy = world.submit("alice", "ALICE-1", Side.BUY, 100, price=10_000)
    world.submit("bob", "BOB-1", Side.SELL, 60, price=10_000)
    world.advance(0.01)
    fill = next(r for r in world.venue.executions() if r.client_order_id == buy.order_id and r.last_quantity)
    world.engine.on_execution(fill)  # the venue says it again (a resend after a reconnect)
    assert buy.filled_quantity == 60
    assert world.engine.positions[("ALICE-1", "ACME")].quantity == 5_060
    assert len(world.events_named("OrderFilled", buy.order_id)) == 1
