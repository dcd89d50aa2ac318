"""Each tier's behaviour, idempotency, supersession, de-escalation, pre-emption and who may instruct."""

from __future__ import annotations

import pytest

from gateway.model import ErrorCode, OrderStatus, RefusalError, Side


def test_observation_is_an_event_and_nothing_else(market_world) -> None:
    world, desk = market_world()
    working = world.submit("bob", "M-001", Side.BUY, 10, price=9_900)
    answer = desk.instruct("M-001", "observation")
    world.advance(1)
    assert answer["tier"] == "observation" and "liquidation_id" not in answer
    [changed] = desk.events("LiquidationTierChanged", "M-001")
    assert (changed.tier.value, changed.previous_tier.value) == ("observation", "recovered")
    assert working.status is OrderStatus.NEW
    world.submit("bob", "M-001", Side.BUY, 10, price=9_900)  # still free to trade


def test_warning_refuses_new_exposure_and_cancels_opening_orders_only(market_world) -> None:
    world, desk = market_world()
    opening = world.submit("bob", "M-001", Side.BUY, 100, price=9_900)  # long ACME: a buy adds exposure
    closing = world.submit("bob", "M-001", Side.SELL, 100, price=10_200)  # a sell reduces it
    world.advance(0.01)
    answer = desk.instruct("M-001", "warning")
    world.advance(1)
    assert answer["canceled_orders"] == 1
    assert opening.status is OrderStatus.CANCELED and closing.status is OrderStatus.NEW
    with pytest.raises(RefusalError) as caught:
        world.submit("bob", "M-001", Side.BUY, 10, price=9_900)
    assert caught.value.refusal.code is ErrorCode.RISK_INCREASES_EXPOSURE
    assert "reduce-only" in caught.value.refusal.message
    world.submit("bob", "M-001", Side.SELL, 100, price=10_150)  # reducing is still allowed
    with pytest.raises(RefusalError):  # but not beyond the position: that would open a short
        world.submit("bob", "M-001", Side.SELL, 20_000, price=10_150)


def test_mandatory_cancels_everything_locks_the_account_and_liquidates(market_world) -> None:
    world, desk = market_world()
    mine = world.submit("bob", "M-001", Side.SELL, 100, price=10_200)
    world.advance(0.01)
    answer = desk.instruct("M-001", "mandatory", {"notional": "300000"})
    assert answer["status"] == "running" and answer["canceled_orders"] == 1
    with pytest.raises(RefusalError) as caught:
        world.submit("bob", "M-001", Side.SELL, 100, price=10_200)
    assert caught.value.refusal.code is ErrorCode.RISK_ACCOUNT_LIQUIDATING
    world.advance(0.01)
    assert mine.status is OrderStatus.CANCELED
    world.advance(600)
    [finished] = desk.events("LiquidationFinished", "M-001")
    assert finished.outcome == "target_met"
    sold = sum(o.filled_cost for o in world.engine.orders.by_id.values() if o.liquidation) / 100
    assert sold >= 300_000
    # sized to the minimum: never a whole lot more than needed, beyond what was in flight at the moment it was met
    children = [o for o in world.engine.orders.by_id.values() if o.liquidation]
    assert all(o.status.is_terminal for o in children)


def test_the_same_instruction_id_acts_once(market_world) -> None:
    world, desk = market_world()
    first = desk.instruct("M-002", "mandatory", {"notional": "50000"}, instruction_id="RISK-7")
    again = desk.instruct("M-002", "mandatory", {"notional": "50000"}, instruction_id="RISK-7")
    assert again == {**first, "duplicate": True}
    assert len(desk.events("LiquidationPlanned")) == 1 and len(desk.manager.liquidations) == 1


def test_a_higher_tier_supersedes_and_a_lower_one_de_escalates(market_world) -> None:
    world, desk = market_world()
    desk.instruct("M-003", "warning")
    assert "M-003" in world.engine.risk.reduce_only_accounts
    started = desk.instruct("M-003", "mandatory", {"notional": "5000000"})  # large: still running a while later
    assert "M-003" in world.engine.risk.locked_accounts
    world.advance(20)
    liquidation = desk.manager.liquidations[started["liquidation_id"]]
    assert any(o.liquidation and o.account == "M-003" for o in world.engine.orders.open_orders("M-003"))
    desk.instruct("M-003", "warning")  # the risk engine sees the account recovering: back to warning
    world.advance(1)
    assert liquidation.outcome == "de-escalated"
    assert not world.engine.orders.open_orders("M-003")  # its children are canceled
    assert "M-003" not in world.engine.risk.locked_accounts and "M-003" in world.engine.risk.reduce_only_accounts
    desk.instruct("M-003", "recovered")
    assert "M-003" not in world.engine.risk.reduce_only_accounts
    tiers = [(e.previous_tier.value, e.tier.value) for e in desk.events("LiquidationTierChanged", "M-003")]
    assert tiers == [("recovered", "warning"), ("warning", "mandatory"), ("mandatory", "warning"),
                     ("warning", "recovered")]


def test_a_new_mandatory_instruction_replaces_the_running_plan(market_world) -> None:
    world, desk = market_world()
    first = desk.instruct("M-003", "mandatory", {"notional": "5000000"})
    world.advance(10)
    second = desk.instruct("M-003", "mandatory", {"positions": {"CRUX": 100}})
    world.advance(300)
    assert desk.manager.liquidations[first["liquidation_id"]].outcome == "superseded"
    replacement = desk.manager.liquidations[second["liquidation_id"]]
    assert replacement.outcome == "target_met" and replacement.lines["CRUX"].filled == 100


def test_a_trader_cannot_send_an_instruction(market_world) -> None:
    world, desk = market_world()
    for principal in ("bob", "admin"):
        with pytest.raises(RefusalError) as caught:
            desk.instruct("M-001", "mandatory", {"notional": "1000"}, principal=principal)
        assert caught.value.refusal.code is ErrorCode.AUTH_FORBIDDEN
    assert not desk.manager.accounts and "M-001" not in world.engine.risk.locked_accounts


def test_a_traders_algorithm_is_preempted_by_mandatory(market_world) -> None:
    world, desk = market_world()
    parents = world.gateway.extras["parents"]
    bob = world.principal("bob")
    ack = world.gateway.commands.dispatch(bob, "submit_parent", {
        "account": "M-001", "symbol": "ACME", "side": "BUY", "quantity": 5_000, "algo": "TWAP",
        "client_order_id": "twap-1", "params": {"duration_s": 3_600}})
    world.advance(120)
    parent = parents.get(ack["parent_id"])
    assert parent.is_working and parent.filled_quantity > 0
    answer = desk.instruct("M-001", "mandatory", {"notional": "100000"})
    world.advance(5)
    assert answer["preempted_parents"] == 1
    assert not parent.is_working and parent.finish_reason.value == "preempted"
    assert not [o for o in world.engine.orders.open_orders("M-001") if o.parent_id == parent.parent_id]
    with pytest.raises(RefusalError) as caught:
        world.gateway.commands.dispatch(bob, "submit_parent", {
            "account": "M-001", "symbol": "ACME", "side": "BUY", "quantity": 100, "algo": "TWAP",
            "client_order_id": "twap-2", "params": {"duration_s": 600}})
    assert caught.value.refusal.code is ErrorCode.RISK_ACCOUNT_LIQUIDATING


def test_bad_instructions_are_refused_with_the_field_named(market_world) -> None:
    world, desk = market_world()
    cases = [
        ({"tier": "mandatory"}, "target"),
        ({"tier": "severe"}, "tier"),
        ({"tier": "mandatory", "target": {"notional": "-5"}}, "target.notional"),
        ({"tier": "mandatory", "target": {"ratio": {"assets": "100", "loan": "80"}}}, "target.ratio.target"),
        ({"tier": "mandatory", "target": {"ratio": {"assets": "100", "loan": "80", "target": "0.9"}}},
         "target.ratio.target"),
        ({"tier": "mandatory", "target": {"notional": "5", "positions": {"ACME": 1}}}, "target"),
        ({"tier": "mandatory", "target": {"positions": {"NOPE": 1}}}, "target.positions"),
        ({"tier": "mandatory", "target": {"notional": "5"}, "deadline": 1}, "deadline"),
    ]
    for fields, field in cases:
        payload = {"instruction_id": "bad", "account": "M-001", "reason": "x", **fields}
        with pytest.raises(RefusalError) as caught:
            world.gateway.commands.dispatch(world.principal("risk"), "liquidate", payload)
        assert caught.value.refusal.field == field, (fields, caught.value.refusal)
    assert not desk.manager.accounts


def test_the_account_owner_cannot_cancel_or_amend_the_liquidations_children(market_world) -> None:
    from gateway.model import AmendOrder, CancelOrder

    world, desk = market_world()
    desk.instruct("M-001", "mandatory", {"notional": "2000000"})
    child = next(o for o in world.engine.orders.open_orders("M-001") if o.liquidation)  # sent, not yet answered
    bob = world.principal("bob")  # owns M-001 and can see its orders
    with pytest.raises(RefusalError) as caught:
        world.engine.cancel_order(bob, CancelOrder(child.order_id))
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_CANCELABLE and child.parent_id in caught.value.refusal.message
    with pytest.raises(RefusalError) as caught:
        world.engine.amend_order(bob, AmendOrder(child.order_id, quantity=child.quantity + 100))
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_AMENDABLE
    assert child.is_working
