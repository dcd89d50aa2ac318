"""Liquidation latency and burst capacity.

1. Instruction received -> first child order handed to the venue, in process (decode, tier policy, cancel of the
   account's orders, plan, first ladder tick, risk checks, send), beside a plain limit order's submit -> venue on the
   same engine as the baseline.
2. The burst: 1,000 accounts reach mandatory within one simulated second; the wall time to plan and start them all
   (no venue throttle), and the simulated time until every account has a child working with a 400/s venue throttle.

    python benchmarks/liquidation.py [--instructions 5000] [--accounts 1000]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import LatencyHistogram, command_line, latency_table, machine, write_json  # noqa: E402

from gateway.app import build_gateway  # noqa: E402
from gateway.clock import SimClock, TimerQueue  # noqa: E402
from gateway.config import parse_config  # noqa: E402
from gateway.demo_config import DEMO_KEYS, demo_config_data  # noqa: E402
from gateway.logging import configure_logging  # noqa: E402

START_NS = 1_795_000_000_000_000_000
NO_REVIEW = {"review": {"on_halted": False, "max_cost_bps": 0, "max_adv_fraction": 0, "on_no_quote": False}}


def world(accounts: int, venue_rate: int = 0) -> Any:
    rng = random.Random(5)
    data = demo_config_data()
    data["gateway"]["log_level"] = "error"
    data["venues"][0].update({"latency_ns": 100_000, "record_executions": False})
    data["risk"].update({"venue_messages_per_second": venue_rate, "max_open_orders": 1_000_000,
                         "principal_messages_per_second": 0})
    data["liquidation"] = NO_REVIEW
    for n in range(accounts):
        data["accounts"].append({"id": f"B{n:05d}", "positions": {"ACME": rng.randrange(100, 5_000),
                                                                  "DYNA": rng.randrange(1, 500) * 10}})
    clock = SimClock(START_NS)
    gateway = build_gateway(parse_config(data), clock, TimerQueue(clock))
    gateway.adapters["SIM"].connect()
    gateway.adapters["SIM"].open_market()
    gateway.timers.advance_by(20 * 10**9)
    return gateway, rng


def instrument_venue(gateway: Any) -> list[int]:
    """Record the perf counter at every hand-off to the venue (the send call), by wrapping send_new."""
    stamps: list[int] = []
    venue = gateway.adapters["SIM"]
    original = venue.send_new

    def send_new(order: Any) -> None:
        stamps.append(time.perf_counter_ns())
        original(order)

    venue.send_new = send_new
    return stamps


def instruction_latency(count: int) -> list[dict[str, Any]]:
    gateway, rng = world(count)
    stamps = instrument_venue(gateway)
    risk = gateway.config.principals[DEMO_KEYS["risk"]]
    alice = gateway.config.principals[DEMO_KEYS["alice"]]
    dispatch = gateway.commands.dispatch
    liquidation = LatencyHistogram("instruction received -> first liquidation child handed to the venue")
    baseline = LatencyHistogram("baseline: limit order submit -> handed to the venue (same engine)")
    gc.collect()
    gc.freeze()
    for n in range(count):
        # interleaved, so both see the same machine at the same moments
        order = {"account": "ALICE-1", "symbol": "ACME", "side": "BUY", "quantity": 1, "price": "97.00",
                 "client_order_id": f"b{n}"}
        del stamps[:]
        started = time.perf_counter_ns()
        dispatch(alice, "submit", order)
        baseline.record(stamps[0] - started)
        payload = {"instruction_id": f"bench-{n}", "account": f"B{n:05d}", "tier": "mandatory", "reason": "bench",
                   "target": {"ratio": {"assets": "400000", "loan": str(rng.randrange(310_000, 380_000)),
                                        "target": "1.3"}}}
        del stamps[:]
        started = time.perf_counter_ns()
        dispatch(risk, "liquidate", payload)
        liquidation.record(stamps[0] - started)
        if n % 500 == 499:
            gateway.timers.advance_by(10_000_000)  # let the venue answer now and then, as it would
    return [liquidation.summary(), baseline.summary()]


def burst(accounts: int, venue_rate: int) -> dict[str, Any]:
    gateway, rng = world(accounts, venue_rate)
    risk = gateway.config.principals[DEMO_KEYS["risk"]]
    manager = gateway.extras["liquidation"]
    arrivals = sorted(rng.randrange(0, 10**9) for _ in range(accounts))
    begin_ns = gateway.clock.now_ns()
    wall_started = time.perf_counter()
    for n, offset in enumerate(arrivals):
        gateway.timers.advance_to(begin_ns + offset)
        gateway.commands.dispatch(risk, "liquidate", {
            "instruction_id": f"burst-{n}", "account": f"B{n:05d}", "tier": "mandatory", "reason": "burst",
            "target": {"ratio": {"assets": "400000", "loan": str(rng.randrange(310_000, 380_000)), "target": "1.3"}}})
    wall_instructions_s = time.perf_counter() - wall_started
    while any(liq.ts_first_child is None for liq in manager.liquidations.values()):
        gateway.timers.advance_by(10_000_000)
        if gateway.clock.now_ns() - begin_ns > 600 * 10**9:
            break
    started = [liq.ts_first_child for liq in manager.liquidations.values() if liq.ts_first_child is not None]
    return {
        "accounts": accounts,
        "venue_messages_per_second": venue_rate or "unlimited",
        "planned": len(manager.liquidations),
        "started": len(started),
        "wall_s_to_plan_and_start_all_instructions": round(wall_instructions_s, 3),
        "wall_us_per_instruction": round(wall_instructions_s / accounts * 1e6, 1),
        "sim_s_until_every_account_has_a_child": round((max(started) - begin_ns) / 1e9, 3) if started else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instructions", type=int, default=5_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    args = parser.parse_args()
    (Path(__file__).resolve().parent / "out").mkdir(exist_ok=True)
    # the gateway's own logging, as in production: JSON lines handed to the writer thread
    configure_logging("info", file=str(Path(__file__).resolve().parent / "out" / "liquidation.log"))
    summaries = instruction_latency(args.instructions)
    bursts = [burst(args.accounts, 0), burst(args.accounts, 400)]
    ratio = summaries[0]["p50_us"] / summaries[1]["p50_us"]
    print(latency_table(summaries, "Liquidation: instruction -> first child at the venue (in process)"))
    print(f"\nratio to a plain order's submit -> venue at p50: {ratio:.1f}x\n")
    print("| burst | planned | started | wall s to plan+start | wall µs / instruction | sim s until all have a child |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in bursts:
        print(f"| {row['accounts']} accounts, venue {row['venue_messages_per_second']}/s | {row['planned']} | "
              f"{row['started']} | {row['wall_s_to_plan_and_start_all_instructions']} | "
              f"{row['wall_us_per_instruction']} | {row['sim_s_until_every_account_has_a_child']} |")
    path = write_json("liquidation", {"machine": machine(), "command": command_line(), "latency": summaries,
                                      "ratio_p50": ratio, "bursts": bursts})
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
