"""A thousand accounts reach mandatory within one simulated second: every instruction is planned and started, in
priority order (most underwater first among those waiting for the venue), none dropped."""

from __future__ import annotations

import random

from gateway.app import build_gateway
from gateway.clock import SimClock, TimerQueue
from gateway.config import parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data

ACCOUNTS = 1_000
START_NS = 1_795_000_000_000_000_000


def burst_world(venue_rate: int):
    rng = random.Random(11)
    data = demo_config_data()
    data["venues"][0].update({"latency_ns": 200_000})
    data["risk"].update({"venue_messages_per_second": venue_rate, "liquidation_reserved_share": 0.2})
    data["liquidation"] = {"review": {"on_halted": False, "max_cost_bps": 0, "max_adv_fraction": 0,
                                      "on_no_quote": False}}
    for n in range(ACCOUNTS):
        data["accounts"].append({"id": f"B{n:04d}", "positions": {"ACME": rng.randrange(100, 5_000),
                                                                 "DYNA": rng.randrange(1, 500) * 10}})
    config = parse_config(data)
    clock = SimClock(START_NS)
    gateway = build_gateway(config, clock, TimerQueue(clock))
    gateway.adapters["SIM"].connect()
    gateway.adapters["SIM"].open_market()
    gateway.timers.advance_by(20 * 10**9)
    return gateway, rng


def test_a_thousand_mandatory_instructions_in_one_second(sim_world) -> None:
    gateway, rng = burst_world(venue_rate=400)
    risk = gateway.config.principals[DEMO_KEYS["risk"]]
    log: list[tuple[str, str]] = []  # (event, account) in the order things happened
    gateway.engine.subscribe(risk, lambda e: log.append((e.event, e.account)) if e.event in (
        "LiquidationPlanned", "OrderSubmitted") else None)
    arrivals = sorted((rng.randrange(0, 10**9), f"B{n:04d}") for n in range(ACCOUNTS))
    underwater = {}
    for offset, account in arrivals:
        gateway.timers.advance_to(START_NS + 20 * 10**9 + offset)
        loan = 400_000
        ratio_now = rng.randrange(1_050, 1_290) / 1_000  # all below the 130% line, some far below
        underwater[account] = 1.3 - ratio_now
        ack = gateway.commands.dispatch(risk, "liquidate", {
            "instruction_id": f"burst-{account}", "account": account, "tier": "mandatory", "reason": "burst",
            "target": {"ratio": {"assets": str(int(loan * ratio_now)), "loan": str(loan), "target": "1.3"}}})
        assert ack["status"] == "running"
    gateway.timers.advance_by(8 * 10**9)

    planned = [account for event, account in log if event == "LiquidationPlanned"]
    assert sorted(planned) == sorted(underwater)  # every instruction planned once, none dropped
    first_child: dict[str, int] = {}
    planned_at: dict[str, int] = {}
    for index, (event, account) in enumerate(log):
        if event == "LiquidationPlanned":
            planned_at[account] = index
        elif account in underwater and account not in first_child:
            first_child[account] = index
    assert set(first_child) == set(underwater)  # every one started: a child went to the venue for each account

    # the venue throttle (400/s) cannot start a thousand at once, so many waited; among those waiting together,
    # the more underwater always went first
    waited = sum(1 for account in underwater if first_child[account] > planned_at[account] + 1)
    assert waited > ACCOUNTS // 2
    by_start = sorted(underwater, key=first_child.get)
    inversions = 0
    for position, later in enumerate(by_start):
        for earlier in by_start[:position]:
            # `later` was already waiting when `earlier` was sent, and is more underwater: that would be wrong
            if planned_at[later] < first_child[earlier] and underwater[later] > underwater[earlier]:
                inversions += 1
    assert inversions == 0
