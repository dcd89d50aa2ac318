"""The planner's choices and the ladder's behaviour on the simulated market: escalation on a falling market, halts,
limit down, the deadline, the participation cap, and the manual review path."""

from __future__ import annotations

from fractions import Fraction

import pytest

from gateway.liquidation.model import Instruction, Ordering, Target, TargetKind, Tier
from gateway.liquidation.planner import Planner, SymbolView
from gateway.liquidation.policy import LiquidationPolicy, parse_policy
from gateway.model import ErrorCode, Instrument, OrderType, RefusalError

NO_REVIEW = {"review": {"on_halted": False, "max_cost_bps": 0, "max_adv_fraction": 0, "on_no_quote": False}}


def liquidation_children(world, account: str):
    return [o for o in world.engine.orders.by_id.values() if o.liquidation and o.account == account]


def test_escalates_down_the_ladder_on_a_falling_market_and_never_below_limit_down(market_world) -> None:
    world, desk = market_world(liquidation={"reprice_interval_s": 2.0, "max_participation": 0.05,
                                            "final_window_s": 20, **NO_REVIEW})
    bolt = world.engine.instruments["BOLT"]
    deadline = world.clock.now_ns() + 240 * 10**9  # too soon for the cap: it falls behind and must climb
    answer = desk.instruct("M-003", "mandatory", {"positions": {"BOLT": 60_000}}, deadline=deadline)
    liquidation = desk.manager.liquidations[answer["liquidation_id"]]
    ladder = liquidation.lines["BOLT"]
    mid = world.venue.fair_price("BOLT")
    rungs = []
    for _ in range(40):  # the market falls 0.2% every 5 seconds, down to the limit
        mid = max(bolt.limit_down, mid - max(bolt.tick_size, mid // 500 // bolt.tick_size * bolt.tick_size))
        world.venue.gap("BOLT", mid)
        world.advance(5)
        rungs.append(ladder.rung)
    before_final = rungs[: (220 - 0) // 5 - 1]
    assert max(before_final) >= 3, rungs  # it climbed the ladder as it fell behind
    assert all(b - a <= 2 * 3 for a, b in zip(rungs, rungs[1:])), rungs  # step by step: at most 2 a tick, 3 ticks
    children = liquidation_children(world, "M-003")
    prices = [o.limit_price for o in children if o.limit_price is not None]
    assert prices and min(prices) >= bolt.limit_down
    fills = _fill_prices(world, children, bolt)
    assert fills and min(fills) >= bolt.limit_down
    assert prices[-1] < prices[0]  # it followed the market down
    assert any(o.order_type is OrderType.MARKET for o in children)  # and went to market in the final window


def _fill_prices(world, orders, instrument) -> list[int]:
    ids = {o.order_id for o in orders}
    return [instrument.parse_price(e.last_price) for e in world.events if e.event == "OrderFilled" and e.order_id in ids]


def test_goes_to_market_near_the_deadline(market_world) -> None:
    world, desk = market_world(liquidation={"final_window_s": 30, "max_participation": 0.01, **NO_REVIEW})
    desk.instruct("M-002", "mandatory", {"positions": {"ACME": 8_000}}, deadline=world.clock.now_ns() + 60 * 10**9)
    world.advance(25)
    assert all(o.order_type is OrderType.LIMIT for o in liquidation_children(world, "M-002"))
    world.advance(60)
    children = liquidation_children(world, "M-002")
    assert any(o.order_type is OrderType.MARKET for o in children)
    # before the final window the cap held each child near 1% of recent volume; in it, the rest went at once
    early = [o.quantity for o in children if o.ts_created < desk.manager.liquidations["L1"].instruction.deadline_ns
             - 30 * 10**9]
    assert early and max(early) < 8_000 // 4


def test_a_halted_symbol_is_skipped_and_reported(market_world) -> None:
    world, desk = market_world(liquidation=NO_REVIEW)
    world.venue.halt("ACME")
    world.advance(0.01)
    answer = desk.instruct("M-001", "mandatory", {"notional": "200000"})
    [planned] = desk.events("LiquidationPlanned", "M-001")
    assert {"symbol": "ACME", "position": 20_000, "reason": "halted"} in planned.skipped
    assert "ACME" not in [line["symbol"] for line in planned.lines] and planned.lines
    world.advance(300)
    assert all(o.symbol != "ACME" for o in liquidation_children(world, "M-001"))
    assert desk.manager.liquidations[answer["liquidation_id"]].outcome == "target_met"


def test_a_limit_locked_symbol_is_skipped(market_world) -> None:
    world, desk = market_world(liquidation=NO_REVIEW)
    bolt = world.engine.instruments["BOLT"]
    world.venue.gap("BOLT", bolt.limit_down)
    world.advance(0.01)
    assert world.venue.limit_lock("BOLT").value == "LIMIT_DOWN"
    desk.instruct("M-003", "mandatory", {"notional": "100000"})
    [planned] = desk.events("LiquidationPlanned", "M-003")
    assert {"symbol": "BOLT", "position": 100_000, "reason": "limit_locked"} in planned.skipped
    assert [line["symbol"] for line in planned.lines] == ["CRUX"]
    world.advance(120)
    for order in liquidation_children(world, "M-003"):
        assert order.symbol != "BOLT" or order.limit_price is None or order.limit_price >= bolt.limit_down


def test_review_holds_then_approve(market_world) -> None:
    world, desk = market_world(liquidation={"review": {"max_cost_bps": 0.5}})
    answer = desk.instruct("M-002", "mandatory", {"notional": "100000"})
    assert answer["status"] == "held"
    [planned] = desk.events("LiquidationPlanned", "M-002")
    assert planned.held_for_review and any("expected cost" in r for r in planned.review_reasons)
    world.advance(10)
    assert not liquidation_children(world, "M-002")  # nothing is sent while it waits for a human
    held = desk.command("reviews")["held"]
    assert [h["liquidation_id"] for h in held] == [answer["liquidation_id"]]
    with pytest.raises(RefusalError) as caught:
        desk.command("review_approve", principal="bob", liquidation_id=answer["liquidation_id"])
    assert caught.value.refusal.code is ErrorCode.AUTH_FORBIDDEN
    desk.command("review_approve", principal="admin", liquidation_id=answer["liquidation_id"])
    world.advance(300)
    assert desk.manager.liquidations[answer["liquidation_id"]].outcome == "target_met"
    assert desk.events("LiquidationReviewed")[0].decision == "approved"


def test_review_modify_changes_the_lines(market_world) -> None:
    world, desk = market_world(liquidation={"review": {"max_cost_bps": 0.5}})
    answer = desk.instruct("M-002", "mandatory", {"notional": "100000"})
    view = desk.command("review_modify", liquidation_id=answer["liquidation_id"], lines={"DYNA": 5_000, "ACME": 0})
    assert {line["symbol"]: line["quantity"] for line in view["lines"]} == {"DYNA": 5_000}
    with pytest.raises(RefusalError) as caught:  # it is no longer held
        desk.command("review_modify", liquidation_id=answer["liquidation_id"], lines={"DYNA": 10})
    assert caught.value.refusal.code is ErrorCode.ORDER_NOT_AMENDABLE
    world.advance(600)
    children = liquidation_children(world, "M-002")
    assert children and {o.symbol for o in children} == {"DYNA"}
    assert sum(o.filled_quantity for o in children) == 5_000  # as modified: not topped up towards the target
    finished = desk.events("LiquidationFinished", "M-002")[0]
    assert finished.outcome == "completed" and float(finished.remaining_shortfall) > 0


def test_review_modify_refuses_more_than_the_position(market_world) -> None:
    world, desk = market_world(liquidation={"review": {"max_cost_bps": 0.5}})
    answer = desk.instruct("M-002", "mandatory", {"notional": "100000"})
    with pytest.raises(RefusalError) as caught:
        desk.command("review_modify", liquidation_id=answer["liquidation_id"], lines={"ACME": 9_000})
    assert caught.value.refusal.field == "lines" and "exceeds the position 8000" in caught.value.refusal.message
    assert desk.manager.liquidations[answer["liquidation_id"]].status.value == "held"


def test_review_reject_sends_nothing(market_world) -> None:
    world, desk = market_world(liquidation={"review": {"max_cost_bps": 0.5}})
    answer = desk.instruct("M-002", "mandatory", {"notional": "100000"})
    desk.command("review_reject", liquidation_id=answer["liquidation_id"])
    world.advance(60)
    assert desk.manager.liquidations[answer["liquidation_id"]].outcome == "rejected"
    assert not liquidation_children(world, "M-002")
    assert "M-002" in world.engine.risk.locked_accounts  # rejecting the plan does not lift the tier


# --- the planner on its own ----------------------------------------------------------------------------------------


def _view(symbol: str, adv: int, price: int = 10_000, spread_bps: float = 2.0, lot: int = 1) -> SymbolView:
    instrument = Instrument(symbol, 1, lot, 2, price, 0, 0, adv)
    return SymbolView(instrument, price, True, spread_bps, False, False, False)


def _instruction(target: Target, order: tuple[str, ...] = ()) -> Instruction:
    return Instruction("I", "A", Tier.MANDATORY, "", target, 10**18, None, order)


VIEWS = {"LIQ": _view("LIQ", 50_000_000), "MID": _view("MID", 2_000_000), "THIN": _view("THIN", 100_000)}
POSITIONS = {"LIQ": 10_000, "MID": 10_000, "THIN": 10_000}


@pytest.mark.parametrize(("ordering", "expected"), [
    (Ordering.RELIEF_PER_COST, ["LIQ", "MID", "THIN"]),
    (Ordering.MOST_LIQUID, ["LIQ", "MID", "THIN"]),
])
def test_ordering_policies(ordering, expected) -> None:
    planner = Planner(LiquidationPolicy(ordering=ordering))
    plan = planner.plan(_instruction(Target(TargetKind.NOTIONAL, notional=Fraction(3_000_000))), POSITIONS, VIEWS,
                        frozenset())
    assert [line.symbol for line in plan.lines] == expected
    assert sum(line.value for line in plan.lines) == 3_000_000 and plan.shortfall == 0


def test_the_risk_engines_order_and_liquidate_last() -> None:
    planner = Planner(LiquidationPolicy(ordering=Ordering.RISK_ENGINE))
    plan = planner.plan(_instruction(Target(TargetKind.NOTIONAL, notional=Fraction(1_500_000)), ("THIN", "LIQ")),
                        POSITIONS, VIEWS, frozenset({"THIN"}))
    # THIN is first in the risk engine's order but tagged liquidate-last: it goes last, and only if needed
    assert [(line.symbol, line.quantity) for line in plan.lines] == [("LIQ", 10_000), ("MID", 5_000)]


def test_sizes_to_the_minimum_whole_lots_that_cover_the_sale() -> None:
    views = {"LOT": _view("LOT", 1_000_000, price=2_550, lot=100)}
    planner = Planner(LiquidationPolicy())
    plan = planner.plan(_instruction(Target(TargetKind.NOTIONAL, notional=Fraction(10_000))), {"LOT": 50_000}, views,
                        frozenset())
    [line] = plan.lines
    assert line.quantity == 400  # 10,000 / 25.50 = 392.2 shares -> 4 lots
    assert line.expected_impact_bps > 0 and line.expected_duration_s > 0


def test_ratio_target_with_estimated_costs_sells_a_little_more_than_with_none() -> None:
    planner = Planner(LiquidationPolicy())
    exact = planner.plan(_instruction(Target(TargetKind.RATIO, assets=Fraction(1_300_000), loan=Fraction(1_000_000),
                                             target_ratio=Fraction(3, 2), cost_rate=Fraction(0))),
                         POSITIONS, VIEWS, frozenset())
    assert exact.required_sale == 400_000
    estimated = planner.plan(_instruction(Target(TargetKind.RATIO, assets=Fraction(1_300_000),
                                                 loan=Fraction(1_000_000), target_ratio=Fraction(3, 2))),
                             POSITIONS, VIEWS, frozenset())
    assert 400_000 < estimated.required_sale < 420_000 and estimated.cost_rate > 0


def test_policy_configuration_errors_name_the_key() -> None:
    from gateway.config import ConfigError

    for table, key in [({"ordering": "random"}, "liquidation.ordering"),
                       ({"max_participation": 2}, "liquidation.max_participation"),
                       ({"band_max_bps": 1, "band_start_bps": 5}, "liquidation.band_max_bps"),
                       ({"review": {"bogus": 1}}, "liquidation.review.bogus"),
                       ({"tiers": {"warning": {"reduce_only": "yes"}}}, "liquidation.tiers.warning.reduce_only")]:
        with pytest.raises(ConfigError) as caught:
            parse_policy(table)
        assert str(caught.value).startswith(key), caught.value


def test_a_shortfall_from_fills_below_the_mark_is_planned_over_other_positions(market_world) -> None:
    world, desk = market_world(liquidation={"ordering": "risk_engine", **NO_REVIEW})
    acme = world.engine.instruments["ACME"]
    answer = desk.instruct("M-002", "mandatory", {"notional": "800000"}, order=["ACME", "DYNA"])
    [planned] = desk.events("LiquidationPlanned", "M-002")
    mark = acme.parse_price(planned.lines[0]["reference_price"])
    assert [(line["symbol"], line["quantity"]) for line in planned.lines][0][0] == "ACME"
    world.venue.gap("ACME", mark - 40 * acme.tick_size)  # the market slips: ACME's fills come in below its mark
    world.advance(900)
    liquidation = desk.manager.liquidations[answer["liquidation_id"]]
    assert liquidation.outcome == "target_met", desk.events("LiquidationFinished")
    symbols = {o.symbol for o in liquidation_children(world, "M-002")}
    assert "DYNA" in symbols  # the rest was planned over the next position
    sold = sum(Fraction(o.filled_cost, world.engine.instruments[o.symbol].price_scale)
               for o in liquidation_children(world, "M-002"))
    assert sold >= 800_000


def test_a_venue_outage_pauses_the_ladder_and_it_finishes_when_the_venue_returns(market_world) -> None:
    world, desk = market_world(liquidation=NO_REVIEW)
    world.venue.disconnect()
    answer = desk.instruct("M-002", "mandatory", {"notional": "100000"})
    world.advance(120)  # two minutes down: far more than twenty reprice ticks
    liquidation = desk.manager.liquidations[answer["liquidation_id"]]
    assert liquidation.status.value == "running" and not liquidation_children(world, "M-002")
    world.venue.connect()
    world.advance(300)
    assert liquidation.outcome == "target_met"


def test_a_short_position_is_reported_not_sold(market_world) -> None:
    world, desk = market_world(liquidation=NO_REVIEW)
    desk.instruct("M-002", "mandatory", {"notional": "10000"}, positions={"ACME": 500, "BOLT": -2_000})
    [planned] = desk.events("LiquidationPlanned", "M-002")
    assert {"symbol": "BOLT", "position": -2_000, "reason": "short_position"} in planned.skipped
    assert [line["symbol"] for line in planned.lines] == ["ACME"]
