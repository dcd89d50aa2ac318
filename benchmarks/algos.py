"""Parent orders at scale: 10,000 concurrent TWAP / VWAP / POV parents on the simulated venue, on one timer heap.

    python benchmarks/algos.py                   # 10,000 parents (about two minutes on 2 cores)
    python benchmarks/algos.py --parents 2000    # a quick look

Two phases, each against a baseline measured in the same run:

1. **Throughput, simulated time.** ``--parents`` parents (TWAP, VWAP and POV in turn, buys and sells, sized to about
   15% of their symbols' volume together) over ``--symbols`` liquid symbols trade ``--sim-seconds`` of simulated
   market on a SimClock, as fast as the machine goes: child orders per second. CPU time is measured beside wall time
   (on a shared machine the process often waits for a core), and the CPU spent inside the manager's entry points
   (algorithms included) is added up per entry point. The same market with no parents is timed too, so the cost per
   child shows apart from the background market's; 100 parents on the same market are the small baseline.
2. **Scheduler lateness, live time.** The same manager, venue and TimerQueue on a LiveClock, driven by
   ``gateway.clock.LiveTimerDriver`` on a uvloop loop: TWAP parents with ``--live-interval`` slices, their starts
   spread over the first interval, on a market that ticks every ``--live-tick-ms`` (at the default 1 s tick every
   symbol's second of prints and fills lands on the loop as one burst). Every wake's lateness (actual minus intended
   slice time) goes into an HDR histogram. 100 parents are the baseline; 10,000 parents run twice, with the garbage
   collector as it comes and with it held off during the measured window, so GC pauses show apart from the loop.

The port over the venue is ``tests/algos/algo_harness.py``, the one the scenario tests use. Prints Markdown tables
and writes benchmarks/out/algos.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests" / "algos"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import uvloop
from algo_harness import SimHarness, make_instrument

from adapters.sim.config import SimVenueConfig
from benchmarks.common import LatencyHistogram, command_line, latency_table, machine, write_json
from gateway.clock import NANOS_PER_SECOND, LiveClock, LiveTimerDriver, TimerQueue
from gateway.logging import configure_logging
from gateway.model import Side

BASELINE_PARENTS = 100
WARM_UP_S = 30


ADV = 50_000_000  # liquid names: about 2,100 shares a second each, a deep book of makers


def instruments(count: int) -> list[Any]:
    return [make_instrument(f"S{index:04d}", average_daily_volume=ADV) for index in range(count)]


def parent_spec(index: int, duration_s: float, slice_s: float) -> tuple[str, Side, int, dict[str, Any]]:
    """TWAP, VWAP and POV in turn, buys and sells in turn, sized so that 50 parents on a symbol are a fair share of
    its volume (about 15%), not a multiple of it: a crowd that cannot fill only measures its own catch-up storm."""
    side = Side.BUY if index % 2 == 0 else Side.SELL
    kind = index % 3
    if kind == 0:
        return "TWAP", side, 1_000, {"duration_s": duration_s, "slice_interval_s": slice_s}
    if kind == 1:
        return "VWAP", side, 1_000, {"duration_s": duration_s, "slice_interval_s": slice_s}
    return "POV", side, 1_000_000, {"participation": 0.005, "duration_s": duration_s}


# --- phase 1: throughput on simulated time -----------------------------------------------------------------------


ENTRY_POINTS = ("submit", "on_child_update", "on_quote", "on_trade", "_on_wake")


def time_entry_points(manager: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Wrap the manager's entry points to add up the CPU nanoseconds spent inside them (algorithms included) and
    count the calls. CPU time, not wall time: on a shared machine the process is often waiting for a core."""
    spent = dict.fromkeys(ENTRY_POINTS, 0)
    calls = dict.fromkeys(ENTRY_POINTS, 0)
    clock = time.thread_time_ns
    for name in ENTRY_POINTS:
        inner = getattr(manager, name)

        def timed(*args: Any, _inner: Any = inner, _name: str = name) -> Any:
            started = clock()
            try:
                return _inner(*args)
            finally:
                spent[_name] += clock() - started
                calls[_name] += 1

        setattr(manager, name, timed)
    return spent, calls


def settle() -> None:
    """Collect the previous run's garbage now, and keep what exists out of later collections."""
    gc.collect()
    gc.freeze()


def throughput_run(parents: int, symbols: int, sim_seconds: int, slice_s: float) -> dict[str, Any]:
    settle()
    harness = SimHarness(instruments(symbols), keep_events=False)
    spent, calls = time_entry_points(harness.manager)
    harness.advance(WARM_UP_S)
    names = list(harness.instruments)
    started = time.perf_counter()
    for index in range(parents):
        algo, side, quantity, params = parent_spec(index, sim_seconds, slice_s)
        harness.submit(algo, side, quantity, params, symbol=names[index % symbols], account=f"A{index % 50}")
    submitted = time.perf_counter()
    cpu_before = time.process_time()
    harness.advance(sim_seconds + 1)
    finished = time.perf_counter()
    manager = harness.manager
    wall = finished - submitted
    cpu = time.process_time() - cpu_before
    inside_ns = sum(ns for name, ns in spent.items() if name != "submit")
    return {
        "parents": parents,
        "symbols": symbols,
        "sim_seconds": sim_seconds,
        "submit_wall_s": round(submitted - started, 4),
        "submit_us_per_parent": round((submitted - started) / parents * 1e6, 2) if parents else None,
        "run_wall_s": round(wall, 4),
        "run_cpu_s": round(cpu, 4),
        "children": manager.children_sent,
        "fills": len(harness.fills),
        "children_per_s": round(manager.children_sent / wall, 1),
        "children_per_cpu_s": round(manager.children_sent / cpu, 1) if cpu else None,
        "manager_cpu_s": round(inside_ns / 1e9, 4),
        "manager_cpu_us_per_child": round(inside_ns / manager.children_sent / 1e3, 2) if manager.children_sent else None,
        "manager_share_of_cpu": round(inside_ns / 1e9 / cpu, 3) if cpu else None,
        "entry_points": {name: {"calls": calls[name], "cpu_us_per_call": round(spent[name] / calls[name] / 1e3, 2)}
                         for name in ENTRY_POINTS if calls[name]},
        "still_working": manager.active_count,
    }


def throughput_phase(args: argparse.Namespace) -> dict[str, Any]:
    market = throughput_run(0, args.symbols, args.sim_seconds, args.slice_s)
    baseline = throughput_run(min(BASELINE_PARENTS, args.parents), args.symbols, args.sim_seconds, args.slice_s)
    full = throughput_run(args.parents, args.symbols, args.sim_seconds, args.slice_s)
    for run in (baseline, full):
        extra = run["run_cpu_s"] - market["run_cpu_s"]
        run["cpu_us_per_child_over_market"] = round(extra / run["children"] * 1e6, 2) if run["children"] else None
    return {"market_only": market, "baseline": baseline, "full": full}


def throughput_table(phase: dict[str, Any]) -> str:
    lines = [
        "**Throughput on simulated time** (SimClock: the market runs as fast as the machine goes)",
        "",
        ("| run | parents | symbols | simulated s | wall s | CPU s | child orders | fills | child orders / wall s | "
         "child orders / CPU s | CPU µs / child beyond the market | of it in manager + algorithms |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("market_only", "baseline", "full"):
        run = phase[name]
        lines.append(
            f"| {name.replace('_', ' ')} | {run['parents']:,} | {run['symbols']} | {run['sim_seconds']} | "
            f"{run['run_wall_s']:.2f} | {run['run_cpu_s']:.2f} | {run['children']:,} | {run['fills']:,} | "
            f"{run['children_per_s']:,.0f} | {run['children_per_cpu_s'] or 0:,.0f} | "
            f"{run.get('cpu_us_per_child_over_market') or '-'} | {run['manager_cpu_us_per_child'] or '-'} |"
        )
    lines += ["", "| run | submit µs / parent (wall) | " + " | ".join(f"{n} calls, CPU µs each" for n in ENTRY_POINTS[1:])
              + " |", "|---|---:|" + "---:|" * (len(ENTRY_POINTS) - 1)]
    for name in ("baseline", "full"):
        run = phase[name]
        cells = []
        for entry in ENTRY_POINTS[1:]:
            stats = run["entry_points"].get(entry)
            cells.append(f"{stats['calls']:,} × {stats['cpu_us_per_call']}" if stats else "-")
        lines.append(f"| {name} | {run['submit_us_per_parent']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- phase 2: scheduler lateness on live time ----------------------------------------------------------------------


async def live_run(parents: int, symbols: int, interval_s: float, duration_s: float, tick_ms: int,
                   submit_us_per_parent: float, hold_gc: bool = False) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    clock = LiveClock()
    timers = TimerQueue(clock)
    settle()
    label = f"{parents:,} parents" + (", collector held off" if hold_gc else "")
    lateness = LatencyHistogram(f"{label}: wake lateness")
    wakes = [0]

    def observe(intended_ns: int, actual_ns: int) -> None:
        wakes[0] += 1
        lateness.record(actual_ns - intended_ns)

    driver = LiveTimerDriver(timers, loop)
    # the market ticks every tick_ms: at 1 s every symbol's second of prints and fills would land as one burst
    venue = SimVenueConfig(seed=7, interval_ns=tick_ms * 1_000_000)
    harness = SimHarness(instruments(symbols), venue_config=venue, clock=clock, timers=timers, wake_observer=observe,
                         keep_events=False)
    await asyncio.sleep(0.2)  # the first market tick: quotes on every symbol
    names = list(harness.instruments)
    interval_ns = int(interval_s * NANOS_PER_SECOND)
    # submitting runs on the loop too: the first slice starts once every parent is in, so no wake waits for it
    lead_ns = NANOS_PER_SECOND + int(4 * submit_us_per_parent * 1_000 * parents)
    first_start = clock.now_ns() + lead_ns
    for index in range(parents):
        start = first_start + interval_ns * index // parents  # spread over one interval: a steady stream of wakes
        harness.submit("TWAP", Side.BUY if index % 2 == 0 else Side.SELL, 200,
                       {"start_time": start, "duration_s": duration_s, "slice_interval_s": interval_s},
                       symbol=names[index % symbols], account=f"A{index % 50}")
    submit_overran = clock.now_ns() > first_start
    pauses: list[float] = []
    if hold_gc:
        settle()
        gc.disable()  # how a latency-minded deployment runs: collect at quiet moments, not in the middle of a slice
    else:
        gc.callbacks.append(gc_pause_recorder(pauses))
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    await asyncio.sleep((first_start - clock.now_ns()) / NANOS_PER_SECOND + duration_s + interval_s)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    if hold_gc:
        gc.enable()
    else:
        gc.callbacks.pop()
    driver.close()
    summary = lateness.summary()
    summary.update({
        "parents": parents,
        "wakes": wakes[0],
        "wakes_per_s": round(wakes[0] / wall, 1),
        "children": harness.manager.children_sent,
        "cpu_share": round(cpu / wall, 3),
        "timer_heap_entries_at_end": len(timers),
        "submit_overran_first_start": submit_overran,
        "label": label,
        "gc_held": hold_gc,
        "gc_pauses": len(pauses),
        "gc_longest_pause_ms": round(max(pauses) * 1e3, 1) if pauses else 0.0,
    })
    return summary


def lateness_phase(args: argparse.Namespace, submit_us: float) -> dict[str, Any]:
    async def both() -> dict[str, Any]:
        shape = (args.live_symbols, args.live_interval, args.live_seconds, args.live_tick_ms, submit_us)
        baseline = await live_run(min(BASELINE_PARENTS, args.parents), *shape)
        full = await live_run(args.parents, *shape)
        held = await live_run(args.parents, *shape, hold_gc=True)
        return {"baseline": baseline, "full": full, "full_gc_held": held}

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(both())


def gc_pause_recorder(pauses: list[float]) -> Any:
    """A gc callback that appends each collection's duration in seconds."""
    started = [0.0]

    def record(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])

    return record


def lateness_table(phase: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [phase["baseline"], phase["full"], phase["full_gc_held"]]
    table = latency_table(rows, f"Scheduler lateness on live time (LiveClock + LiveTimerDriver on uvloop; TWAP slices "
                                f"every {args.live_interval:g} s for {args.live_seconds:g} s, {args.live_symbols} "
                                f"symbols, market tick {args.live_tick_ms} ms)")
    extra = ["", ("| run | wakes | wakes / s | child orders | process CPU share | GC collections | longest GC ms |"),
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        gc_cells = "held off | -" if row["gc_held"] else f"{row['gc_pauses']:,} | {row['gc_longest_pause_ms']}"
        extra.append(f"| {row['label']} | {row['wakes']:,} | {row['wakes_per_s']:,.0f} | {row['children']:,} | "
                     f"{row['cpu_share']:.0%} | {gc_cells} |")
    return table + "\n" + "\n".join(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parents", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=200, help="symbols of the throughput phase")
    parser.add_argument("--sim-seconds", type=int, default=40, help="simulated seconds of the throughput phase")
    parser.add_argument("--slice-s", type=float, default=10.0, help="TWAP/VWAP slice interval, throughput phase")
    parser.add_argument("--live-symbols", type=int, default=200)
    parser.add_argument("--live-interval", type=float, default=10.0, help="slice interval of the live phase, s")
    parser.add_argument("--live-seconds", type=float, default=10.0, help="duration of each live run, s")
    parser.add_argument("--live-tick-ms", type=int, default=100, help="simulated market's tick in the live phase")
    args = parser.parse_args()
    configure_logging("error")  # the gateway's own logging set-up; errors only, as a busy production one would run

    throughput = throughput_phase(args)
    print(throughput_table(throughput), flush=True)
    print()
    lateness = lateness_phase(args, throughput["full"]["submit_us_per_parent"] or 100.0)
    print(lateness_table(lateness, args))
    load = os.getloadavg()
    print(f"\nload average during the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    document = {"benchmark": "algos", "command": command_line(), "machine": machine(), "throughput": throughput,
                "lateness": lateness, "arguments": vars(args), "load_average": load}
    path = write_json("algos", document)
    print(f"\nwrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
