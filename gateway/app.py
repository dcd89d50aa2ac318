"""Assemble a gateway from its configuration: clock, timers, venue adapters, engine, command table, API server.

``build_gateway`` is what ``unwind serve``, the demo, the benchmarks and the tests all use, so they run the same
wiring. With a SimClock the whole thing is deterministic and runs without a loop (drive it with ``timers.advance_to``).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from dataclasses import dataclass, field
from typing import Any

import structlog

from adapters.base import VenueAdapter
from gateway.api.commands import CommandTable
from gateway.clock import Clock, LiveClock, LiveTimerDriver, TimerQueue
from gateway.config import ConfigError, GatewayConfig, VenueConfig
from gateway.engine import Engine
from gateway.journal_protocol import JournalWriter
from gateway.logging import configure_logging

log = structlog.get_logger(__name__)


def make_adapter(venue: VenueConfig, config: GatewayConfig, timers: TimerQueue) -> VenueAdapter:
    if venue.kind == "sim":
        from adapters.sim.config import SimVenueConfig
        from adapters.sim.venue import SimVenue

        allowed = set(SimVenueConfig.__dataclass_fields__) - {"name"}
        unknown = set(venue.options) - allowed - {"open_market"}
        if unknown:
            raise ConfigError(f"venues.{venue.name}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        options = {k: v for k, v in venue.options.items() if k in allowed}
        try:
            return SimVenue(timers, config.instruments, SimVenueConfig(name=venue.name, **options))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"venues.{venue.name}: {error}") from None
    from adapters.fix.adapter import fix_adapter_from_options

    return fix_adapter_from_options(venue.name, venue.options, config.instruments, timers)


@dataclass
class Gateway:
    config: GatewayConfig
    clock: Clock
    timers: TimerQueue
    engine: Engine
    commands: CommandTable
    adapters: dict[str, VenueAdapter]
    extras: dict[str, Any] = field(default_factory=dict)  # plug-ins by name: parents, liquidation, journal

    async def start_venues(self) -> None:
        for name, adapter in self.adapters.items():
            await adapter.start()
            venue = next(v for v in self.config.venues if v.name == name)
            if venue.kind == "sim" and venue.options.get("open_market", True):
                adapter.open_market()  # type: ignore[attr-defined]

    async def stop_venues(self) -> None:
        for adapter in self.adapters.values():
            await adapter.stop()


def build_gateway(config: GatewayConfig, clock: Clock | None = None, timers: TimerQueue | None = None,
                  journal: JournalWriter | None = None, adapters: dict[str, VenueAdapter] | None = None) -> Gateway:
    """Wire a gateway; ``adapters`` reuses venues that outlived a crashed gateway (tests restart against them)."""
    clock = clock or LiveClock()
    timers = timers if timers is not None else TimerQueue(clock)  # an empty TimerQueue is falsy
    if adapters is None:
        adapters = {venue.name: make_adapter(venue, config, timers) for venue in config.venues}
    # --- journal (gateway/journal.py): opened from journal_dir unless one is given --------------------------------
    opened_journal = None
    if journal is None and config.journal_dir:
        from gateway.journal import Journal, JournalConfig

        opened_journal = Journal(config.journal_dir, JournalConfig.from_options(config.options.get("journal", {})),
                                 clock)
        journal = opened_journal
    engine = Engine(config, clock, timers, adapters, journal)
    commands = CommandTable(engine)
    gateway = Gateway(config, clock, timers, engine, commands, adapters)
    for plug in PLUG_INS:
        plug(gateway)
    if opened_journal is not None:  # plug-ins registered their recoverables above: rebuild everything now
        from gateway.recovery import Recovery

        recovery = Recovery(engine, opened_journal, timers)
        recovery.replay()
        recovery.schedule_snapshots()
        gateway.extras["journal"] = opened_journal
        gateway.extras["recovery"] = recovery
    return gateway


def _plug_parents(gateway: Gateway) -> None:
    from gateway.parents_api import attach_parents

    attach_parents(gateway)


def _plug_liquidation(gateway: Gateway) -> None:
    from gateway.liquidation.api import attach_liquidation

    attach_liquidation(gateway)


PLUG_INS = [_plug_parents, _plug_liquidation]  # liquidation after parents: it pre-empts their algorithms


async def serve(config: GatewayConfig, stop: asyncio.Event | None = None, ready: asyncio.Future[Gateway] | None = None,
                ) -> Gateway:
    """Run the gateway on the running loop until ``stop`` is set (or SIGINT/SIGTERM)."""
    from gateway.api.server import ApiServer

    loop = asyncio.get_running_loop()
    gateway = build_gateway(config)
    if "recovery" not in gateway.extras:
        # no journal to carry the id sequence over a restart: give this run's order ids a prefix of their own, so a
        # broker never sees a ClOrdID twice in a day
        gateway.engine.id_prefix = f"U{_base36(gateway.clock.now_ns() // 1_000_000_000 % 36**6)}-"
    driver = LiveTimerDriver(gateway.timers, loop)
    server = ApiServer(gateway.engine, gateway.commands)
    gateway.extras["server"] = server
    await gateway.start_venues()
    recovery = gateway.extras.get("recovery")
    if recovery is not None:  # settle with the venues before anyone can trade on the rebuilt state
        await recovery.reconcile()
    await server.start(config.host, config.port)
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    log.info("gateway_started", venues=list(gateway.adapters), instruments=len(config.instruments))
    tune_garbage_collection()
    if ready is not None and not ready.done():
        ready.set_result(gateway)
    await stop.wait()
    log.info("gateway_stopping")
    await server.stop()
    await gateway.stop_venues()
    driver.close()
    if recovery is not None:
        from gateway.reconcile import export_sim_executions

        export_sim_executions(gateway, config.journal_dir)
        recovery.close()
    return gateway


def _base36(number: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def tune_garbage_collection() -> None:
    """Keep the cyclic collector off the hot path: start-up objects are frozen out of it, and the thresholds are
    raised so full collections (which walk every live order, 300+ ms at 10,000 parents) stay rare. Our state holds
    few reference cycles; reference counting frees almost everything."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def run_server(config: GatewayConfig) -> int:
    import uvloop

    configure_logging(config.log_level, config.log_file)
    uvloop.run(serve(config))
    return 0
