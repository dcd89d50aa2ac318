"""A liquidation survives a gateway crash: tiers, the plan, sales so far and child ids come back from the journal,
and the ladder finishes the job without selling twice or reusing a ClOrdID."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from journal_helpers import journal_config_data

SECOND = 1_000_000_000
NO_REVIEW = {"review": {"on_halted": False, "max_cost_bps": 0, "max_adv_fraction": 0, "on_no_quote": False}}


def liquidation_world(journaled_world, review: dict | None = None):
    data = journal_config_data(session_s=3_600)
    data["liquidation"] = {"max_participation": 0.05, **(review or NO_REVIEW)}
    world = journaled_world(config_data=data)
    world.venue.open_market()
    world.advance_ns(20 * SECOND)
    return world


def instruct(world, **payload):
    return world.gateway.commands.dispatch(world.principal("risk"), "liquidate", {
        "instruction_id": "RISK-1", "account": "M-002", "tier": "mandatory", "reason": "test",
        "target": {"notional": "400000"}, **payload})


def sold(world, liquidation_id: str) -> Fraction:
    """Currency value sold by the liquidation's children, at their fill prices."""
    return sum((Fraction(o.filled_cost, world.engine.instruments[o.symbol].price_scale)
                for o in world.engine.orders.by_id.values()
                if o.liquidation and o.order_id.startswith(f"{liquidation_id}-")), Fraction(0))


def test_a_running_liquidation_resumes_after_a_crash_and_meets_its_target(journaled_world) -> None:
    world = liquidation_world(journaled_world)
    answer = instruct(world)
    world.advance_ns(30 * SECOND)
    manager = world.gateway.extras["liquidation"]
    before = manager.liquidations[answer["liquidation_id"]]
    assert before.status.value == "running" and 0 < sold(world, answer["liquidation_id"])
    sold_before = sold(world, answer["liquidation_id"])

    world.crash()
    world.restart()
    manager = world.gateway.extras["liquidation"]
    recovered = manager.liquidations[answer["liquidation_id"]]
    assert recovered.status.value == "running"
    assert "M-002" in world.engine.risk.locked_accounts  # the tier's lock came back with it
    assert sold(world, answer["liquidation_id"]) >= sold_before  # fills made while down were reconciled
    assert instruct(world)["duplicate"] is True  # the same instruction id still acts once

    world.advance_ns(900 * SECOND)
    assert recovered.outcome == "target_met"
    assert sold(world, answer["liquidation_id"]) >= 400_000
    requests = Counter(client_order_id for kind, client_order_id in world.venue.received_requests() if kind == "new")
    assert requests and max(requests.values()) == 1  # no child ClOrdID reached the venue twice
    positions = world.expected_positions()
    for (account, symbol), quantity in positions.items():
        assert world.engine.position(account, symbol).quantity == quantity


def test_a_plan_held_for_review_is_still_held_after_a_crash_and_can_be_approved(journaled_world) -> None:
    world = liquidation_world(journaled_world, review={"review": {"max_cost_bps": 0.5}})
    answer = instruct(world)
    assert answer["status"] == "held"
    world.crash()
    world.restart()
    manager = world.gateway.extras["liquidation"]
    assert [liq.liquidation_id for liq in manager.held()] == [answer["liquidation_id"]]
    world.gateway.commands.dispatch(world.principal("admin"), "review_approve",
                                    {"liquidation_id": answer["liquidation_id"]})
    world.advance_ns(900 * SECOND)
    assert manager.liquidations[answer["liquidation_id"]].outcome == "target_met"
