"""Every pre-trade check refuses with its stable code and a message naming the limit and the value; nothing changes."""

from __future__ import annotations

import pytest

from gateway.model import (
    ErrorCode,
    KillScope,
    OrderStatus,
    OrderType,
    RefusalError,
    SetKillSwitch,
    Side,
    SubmitOrder,
    TimeInForce,
)


def refused(world, trader: str, command: SubmitOrder) -> RefusalError:
    orders_before = dict(world.engine.orders.by_id)
    with pytest.raises(RefusalError) as caught:
        world.engine.submit_order(world.principal(trader), command)
    assert world.engine.orders.by_id == orders_before  # bad input changes nothing
    return caught.value


def order(account="ALICE-1", symbol="ACME", side=Side.BUY, quantity=100, price: int | None = 10_000,
          client_order_id="r1", order_type=OrderType.LIMIT, stop=None) -> SubmitOrder:
    return SubmitOrder(account, symbol, side, order_type, quantity, client_order_id, TimeInForce.DAY, price, stop)


@pytest.mark.parametrize(
    ("command", "code", "words"),
    [
        (order(quantity=100_001), ErrorCode.RISK_MAX_QUANTITY, ["100001", "account ALICE-1 limit of 100000"]),
        (order(symbol="CRUX", quantity=2_001, price=170_010), ErrorCode.RISK_MAX_QUANTITY,
         ["2001", "instrument CRUX limit of 2000"]),
        (order(quantity=60_000), ErrorCode.RISK_MAX_NOTIONAL, ["6000000.00", "limit of 5000000"]),
        (order(price=10_600), ErrorCode.RISK_PRICE_COLLAR, ["106.00", "500 bps", "100.00"]),
        (order(price=11_100), ErrorCode.RISK_PRICE_LIMIT, ["111.00", "[90.00, 110.00]"]),
        (order(symbol="CRUX", price=170_012), ErrorCode.VALIDATION_PRICE_TICK, ["1700.12", "0.05"]),
        (order(symbol="BOLT", quantity=150, price=2_550), ErrorCode.VALIDATION_LOT_SIZE, ["150", "lot size 100"]),
        (order(quantity=0), ErrorCode.VALIDATION_QUANTITY, ["quantity", "0"]),
        (order(quantity=-5), ErrorCode.VALIDATION_QUANTITY, ["-5"]),
        (order(symbol="NOPE"), ErrorCode.VALIDATION_UNKNOWN_SYMBOL, ["NOPE"]),
        (order(account="BOB-1"), ErrorCode.AUTH_FORBIDDEN, ["alice", "BOB-1"]),
        (order(price=None), ErrorCode.VALIDATION_FIELD, ["price is required"]),
        (order(order_type=OrderType.STOP, price=None), ErrorCode.VALIDATION_FIELD, ["stop_price"]),
    ],
)
def test_each_check_refuses_with_its_code(sim_world, command, code, words) -> None:
    world = sim_world()
    error = refused(world, "alice", command)
    assert error.refusal.code is code
    for word in words:
        assert word in error.refusal.message


def test_duplicate_client_order_id(sim_world) -> None:
    world = sim_world()
    world.engine.submit_order(world.principal("alice"), order(client_order_id="same"))
    error = refused(world, "alice", order(client_order_id="same", price=9_990))
    assert error.refusal.code is ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID and "same" in error.refusal.message


def test_restricted_symbol(sim_world) -> None:
    world = sim_world(risk={"restricted_symbols": ["DYNA"]})
    error = refused(world, "alice", order(symbol="DYNA", quantity=10, price=8_125))
    assert error.refusal.code is ErrorCode.RISK_RESTRICTED_SYMBOL and "DYNA" in error.refusal.message


def test_max_open_orders_per_account(sim_world) -> None:
    world = sim_world(risk={"accounts": {"ALICE-1": {"max_open_orders": 3}}})
    for n in range(3):
        world.engine.submit_order(world.principal("alice"), order(client_order_id=f"o{n}", price=9_900 - n))
    error = refused(world, "alice", order(client_order_id="o4", price=9_800))
    assert error.refusal.code is ErrorCode.RISK_MAX_OPEN_ORDERS and "limit is 3" in error.refusal.message
    world.engine.submit_order(world.principal("alice"), order(account="ALICE-2", client_order_id="other"))


def test_principal_throttle_refuses_past_the_rate_and_recovers_with_time(sim_world) -> None:
    world = sim_world(risk={"principal_messages_per_second": 5})
    alice = world.principal("alice")
    for n in range(5):
        world.engine.submit_order(alice, order(client_order_id=f"o{n}", price=9_900))
    error = refused(world, "alice", order(client_order_id="o5", price=9_900))
    assert error.refusal.code is ErrorCode.RISK_THROTTLE_PRINCIPAL and "5 per second" in error.refusal.message
    world.engine.submit_order(world.principal("bob"), order(account="BOB-1", client_order_id="b1", price=9_900))
    world.advance(0.2)  # one message's worth of tokens back
    world.engine.submit_order(alice, order(client_order_id="o6", price=9_900))


def test_venue_throttle_keeps_a_reserved_share_for_liquidation(sim_world) -> None:
    world = sim_world(risk={"venue_messages_per_second": 10, "liquidation_reserved_share": 0.3})
    alice = world.principal("alice")
    sent = 0
    with pytest.raises(RefusalError) as caught:
        for n in range(20):
            world.engine.submit_order(alice, order(client_order_id=f"o{n}", price=9_900))
            sent += 1
    assert sent == 7  # 10 per second less the 30% reserved
    assert caught.value.refusal.code is ErrorCode.RISK_THROTTLE_VENUE
    assert "reserved for liquidation" in caught.value.refusal.message

    class LiquidationParent:
        parent_id, account, symbol, principal, liquidation = "L1", "M-002", "ACME", "risk", True

    refusal = world.engine.send_child(LiquidationParent(), "L1-E1", Side.SELL, OrderType.LIMIT, 100, 9_950,
                                      TimeInForce.DAY)
    assert refusal is None and world.engine.orders.by_id["L1-E1"].liquidation


@pytest.mark.parametrize(
    ("scope", "target", "blocked", "free"),
    [
        (KillScope.GLOBAL, "*", [("alice", "ALICE-1"), ("bob", "BOB-1")], []),
        (KillScope.ACCOUNT, "ALICE-1", [("alice", "ALICE-1")], [("alice", "ALICE-2"), ("bob", "BOB-1")]),
        (KillScope.TRADER, "alice", [("alice", "ALICE-1"), ("alice", "ALICE-2")], [("bob", "BOB-1")]),
    ],
)
def test_kill_switch_cancels_working_orders_and_refuses_new_ones_until_lifted(sim_world, scope, target, blocked,
                                                                              free) -> None:
    world = sim_world()
    working = {}
    for trader, account in blocked + free:
        working[account] = world.submit(trader, account, Side.BUY, 10, price=9_900)
    world.advance(0.01)
    admin = world.principal("admin")
    event = world.engine.set_kill_switch(admin, SetKillSwitch(scope, target, True, "test"))
    world.advance(0.01)
    assert event.canceled_orders == len(blocked)
    for trader, account in blocked:
        assert working[account].status is OrderStatus.CANCELED
        error = refused(world, trader, order(account=account, client_order_id=f"k-{account}", price=9_900))
        assert error.refusal.code is ErrorCode.RISK_KILL_SWITCH
    for trader, account in free:
        assert working[account].status is OrderStatus.NEW
        world.engine.submit_order(world.principal(trader), order(account=account, client_order_id=f"f-{account}"))
    world.engine.set_kill_switch(admin, SetKillSwitch(scope, target, False, "lifted"))
    for trader, account in blocked:
        world.engine.submit_order(world.principal(trader), order(account=account, client_order_id=f"a-{account}"))


def test_only_admin_may_use_the_kill_switch(sim_world) -> None:
    world = sim_world()
    for name in ("alice", "risk"):
        with pytest.raises(RefusalError) as caught:
            world.engine.set_kill_switch(world.principal(name), SetKillSwitch(KillScope.GLOBAL, "*", True))
        assert caught.value.refusal.code is ErrorCode.AUTH_FORBIDDEN
    assert not world.engine.risk.kill_switch.global_engaged
