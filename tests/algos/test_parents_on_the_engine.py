"""Parent orders through the real engine (gateway.app wiring): children pass its risk checks and order store, fills
move its positions, parent events reach its subscribers, and its kill switch stops them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.model import KillScope, SetKillSwitch, Side, SubmitParent
from gateway.parents import ParentOrderManager


def test_a_twap_parent_trades_through_the_engine_and_reports_to_subscribers(sim_world: Callable[..., Any]) -> None:
    world = sim_world(open_market=True)
    manager: ParentOrderManager = world.gateway.extras["parents"]
    world.advance(30)
    position_before = world.engine.position("ALICE-1", "ACME").quantity
    command = SubmitParent("ALICE-1", "ACME", Side.BUY, 2_000, "TWAP",
                           {"duration_s": 300, "slice_interval_s": 30, "end_behavior": "complete"}, "twap-1")
    parent = manager.submit(command, "alice")
    world.advance(301)
    finished = world.events_named("ParentFinished")
    assert [(e.parent_id, e.reason, e.filled_quantity) for e in finished] == [(parent.parent_id, "filled", 2_000)]
    assert world.engine.position("ALICE-1", "ACME").quantity == position_before + 2_000
    children = [o for o in world.engine.orders.by_id.values() if o.parent_id == parent.parent_id]
    assert children and all(o.order_id.startswith(f"{parent.parent_id}-E") for o in children)
    assert sum(o.filled_quantity for o in children) == 2_000 and not any(o.is_working for o in children)
    progress = world.events_named("ParentProgressed")
    assert progress and progress[-1].filled_quantity == 2_000 and progress[-1].tca is not None
    assert world.events_named("ParentAccepted")[0].client_order_id == "twap-1"


def test_the_engine_kill_switch_stops_working_parents(sim_world: Callable[..., Any]) -> None:
    world = sim_world(open_market=True)
    manager: ParentOrderManager = world.gateway.extras["parents"]
    world.advance(30)
    parent = manager.submit(SubmitParent("ALICE-1", "ACME", Side.SELL, 3_000, "POV", {"participation": 0.1}, "pov-1"),
                            "alice")
    world.advance(60)
    world.engine.set_kill_switch(world.principal("admin"), SetKillSwitch(KillScope.ACCOUNT, "ALICE-1", True, "test"))
    world.advance(5)
    finished = world.events_named("ParentFinished")
    assert [(e.parent_id, e.reason) for e in finished] == [(parent.parent_id, "kill_switch")]
    assert not any(o.is_working for o in world.engine.orders.by_id.values() if o.parent_id == parent.parent_id)
