"""``unwind demo --scenario crash``: the market gaps down, a scripted risk engine watches three leveraged accounts
against its lines and sends tiered instructions, and the gateway pre-empts, plans and liquidates, live.

The risk engine here is a script that speaks to the gateway through the public API only, as a real one would: it
reads positions and prices, computes each account's maintenance ratio A / D, and instructs by tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from gateway.api.client import UnwindClient, UnwindError
from gateway.config import GatewayConfig, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data

# the risk engine's lines on the maintenance ratio A / D, and the ratio a liquidation restores
OBSERVATION_LINE = Decimal("1.35")
WARNING_LINE = Decimal("1.28")
MANDATORY_LINE = Decimal("1.22")
RESTORE_TO = Decimal("1.30")
# each account's loan, set so the accounts start healthy (about 1.31 to 1.42)
LOANS = {"M-001": Decimal(2_750_000), "M-002": Decimal(1_710_000), "M-003": Decimal(2_900_000)}
FIRST_LEG = {"ACME": Decimal("0.905"), "BOLT": Decimal("0.91"), "CRUX": Decimal("0.92"), "DYNA": Decimal("0.93")}
SECOND_LEG = {"BOLT": Decimal("0.96"), "CRUX": Decimal("0.98")}  # BOLT hits its limit down and locks there


def crash_config() -> GatewayConfig:
    """The demo world with busier markets, so a liquidation at a 25% participation cap finishes while you watch."""
    data = demo_config_data()
    for instrument in data["instruments"]:
        instrument["average_daily_volume"] *= 40
    data["venues"][0]["level_size_factor"] = 20.0
    data["liquidation"] = {"max_participation": 0.25, "reprice_interval_s": 1.0, "final_window_s": 10,
                           "review": {"max_adv_fraction": 0.5, "max_cost_bps": 300}}
    return parse_config(data)


def tier_for(ratio: Decimal) -> str:
    if ratio < MANDATORY_LINE:
        return "mandatory"
    if ratio < WARNING_LINE:
        return "warning"
    if ratio < OBSERVATION_LINE:
        return "observation"
    return "recovered"


async def account_ratios(risk: UnwindClient) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """Assets at mid, loan and maintenance ratio per margin account, as the risk engine computes them: the proceeds
    of the gateway's liquidations repay the loan."""
    loans = dict(LOANS)
    for liquidation in (await risk.request("liquidations"))["liquidations"]:
        if liquidation["account"] in loans:
            loans[liquidation["account"]] -= Decimal(liquidation["sold_value"])
    market = (await risk.request("market"))["market"]
    mids = {symbol: (Decimal(view["bid"]) + Decimal(view["ask"])) / 2 if view["bid"] and view["ask"]
            else Decimal(view["last"] or view["ask"] or view["bid"]) for symbol, view in market.items()}
    assets = {account: Decimal(0) for account in LOANS}
    for position in await risk.positions():
        if position["account"] in assets:
            assets[position["account"]] += position["quantity"] * mids[position["symbol"]]
    return {account: (assets[account], loans[account], assets[account] / loans[account]) for account in LOANS}


async def crash_script(base_url: str, display: Any, pause: Callable[[float], Awaitable[None]], gateway: Any) -> int:
    url = base_url.replace("http://", "ws://") + "/v1/stream"
    venue = gateway.adapters["SIM"]
    tiers: dict[str, str] = {account: "recovered" for account in LOANS}
    sequence = 0

    async def instruct(risk: UnwindClient, account: str, tier: str, assets: Decimal, loan: Decimal,
                       ratio: Decimal) -> None:
        nonlocal sequence
        sequence += 1
        payload: dict[str, Any] = {"instruction_id": f"RISK-{sequence:03d}", "account": account, "tier": tier,
                                   "reason": f"maintenance ratio {ratio:.3f} against line {tier}"}
        if tier == "mandatory":
            payload["target"] = {"ratio": {"assets": f"{assets:.2f}", "loan": f"{loan:.2f}",
                                           "target": str(RESTORE_TO)}}
            payload["deadline"] = gateway.clock.now_ns() + 90 * 1_000_000_000
        try:
            answer = await risk.request("liquidate", **payload)
        except UnwindError as error:
            display.line("refused", f"  x  {account}: {error.code} {error.message}")
            return
        tiers[account] = tier
        display.line("ok", f"  -> {account} {tier.upper()}: " + ", ".join(
            f"{k}={v}" for k, v in answer.items() if k not in ("type", "req_id", "account")))

    async def survey(risk: UnwindClient, act: bool) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
        ratios = await account_ratios(risk)
        for account, (assets, loan, ratio) in ratios.items():
            tier = tier_for(ratio)
            display.line("event", f"     {account}: assets {assets:,.0f}  loan {loan:,.0f}  ratio {ratio:.3f}  -> {tier}")
            if tiers[account] == "mandatory" and ratio < RESTORE_TO:
                continue  # hysteresis: a liquidation runs until it restores the ratio, not just until it clears a line
            if act and tier != tiers[account]:
                await instruct(risk, account, tier, assets, loan, ratio)
        return ratios

    async with UnwindClient(url, DEMO_KEYS["risk"]) as risk, UnwindClient(url, DEMO_KEYS["bob"]) as bob:
        watcher = asyncio.get_running_loop().create_task(_watch_liquidation(risk, display))
        await pause(1.5)

        display.step(1, "Before the crash: the risk engine's view of three leveraged accounts")
        display.line("dim", f"     lines: observation < {OBSERVATION_LINE}, warning < {WARNING_LINE}, "
                            f"mandatory < {MANDATORY_LINE}; a liquidation restores {RESTORE_TO}")
        before = await survey(risk, act=False)

        display.step(2, "bob works a TWAP buy of 30,000 ACME on margin account M-001")
        twap = await bob.request("submit_parent", account="M-001", symbol="ACME", side="BUY", quantity=30_000,
                                 algo="TWAP", client_order_id="bob-twap-1", params={"duration_s": 600})
        display.line("ok", f"  -> TWAP {twap['parent_id']} working")
        await pause(2.0)

        display.step(3, "The market gaps down: ACME -9.5%, BOLT -9%, CRUX -8%, DYNA -7%")
        _gap(venue, gateway, FIRST_LEG)
        await pause(1.0)

        display.step(4, "The risk engine re-marks the accounts and instructs by tier")
        await survey(risk, act=True)
        await pause(8.0)

        display.step(5, "A second leg down: BOLT to its limit down, CRUX -2%; M-003 falls through the mandatory line")
        _gap(venue, gateway, SECOND_LEG)
        await pause(1.0)
        await survey(risk, act=True)
        await pause(1.0)
        held = (await risk.request("reviews"))["held"]
        if held:
            display.step(6, "A plan is held for review; the risk desk approves it")
            for plan in held:
                display.line("warn", f"     {plan['liquidation_id']} {plan['account']}: " + "; ".join(plan["review_reasons"]))
                answer = await risk.request("review_approve", liquidation_id=plan["liquidation_id"])
                display.line("ok", f"  -> approved {answer['liquidation_id']}: lines "
                                   + ", ".join(f"{line['symbol']} {line['quantity']:,}" for line in answer["lines"]))

        display.step(7, "The gateway liquidates: cancel first, a participation-capped price ladder, stop at target")
        await _wait_finished(risk, pause)

        display.step(8, "After: the risk engine's view again")
        after = await survey(risk, act=False)
        summary = (await risk.request("liquidations"))["liquidations"]
        for liquidation in summary:
            account = liquidation["account"]
            display.line("ok", f"     {liquidation['liquidation_id']} {account}: {liquidation['outcome']}, sold "
                               f"{liquidation['sold_value']} (required {liquidation['required_sale']}); ratio "
                               f"{before[account][2]:.3f} -> {after[account][2]:.3f}")
        parent = await bob.request("parent", parent_id=twap["parent_id"])
        display.line("event", f"     bob's TWAP {twap['parent_id']}: {parent['status']} ({parent['finish_reason']}), "
                              f"filled {parent['filled_quantity']:,} of 30,000")
        watcher.cancel()
    print()
    display.line("ok", "crash demo complete")
    return 0


def _gap(venue: Any, gateway: Any, moves: dict[str, Decimal]) -> None:
    for symbol, factor in moves.items():
        instrument = gateway.engine.instruments[symbol]
        target = int(venue.fair_price(symbol) * factor) // instrument.tick_size * instrument.tick_size
        venue.gap(symbol, target)


async def _wait_finished(risk: UnwindClient, pause: Callable[[float], Awaitable[None]]) -> None:
    """Until every liquidation is done, as the risk engine sees it through the API (about two minutes at most)."""
    for _ in range(240):
        liquidations = (await risk.request("liquidations"))["liquidations"]
        if all(liquidation["status"] == "done" for liquidation in liquidations):
            return
        await pause(0.5)


async def _watch_liquidation(risk: UnwindClient, display: Any) -> None:
    fills: dict[str, int] = {}
    async for event in risk.stream():
        name = event.get("event", "")
        if name == "LiquidationTierChanged":
            display.line("warn", f"  <- {name:<22} {event['account']} {event['previous_tier']} -> {event['tier']}"
                                 f"  canceled orders {event['canceled_orders']}, pre-empted algos "
                                 f"{event['preempted_parents']}")
        elif name == "LiquidationPlanned":
            held = "  HELD FOR REVIEW: " + "; ".join(event["review_reasons"]) if event["held_for_review"] else ""
            display.line("warn", f"  <- {name:<22} {event['liquidation_id']} {event['account']} sell "
                                 f"{event['required_sale']} at expected cost {event['expected_cost_rate_bps']} bps"
                                 f"{held}")
            for line in event["lines"]:
                display.line("event", f"       {line['symbol']:<5} {line['side']} {line['quantity']:>7,} of "
                                      f"{line['position']:>7,} @ ~{line['reference_price']}  impact "
                                      f"{line['expected_impact_bps']} bps  ~{line['expected_duration_s']} s")
            for skipped in event["skipped"]:
                display.line("event", f"       {skipped['symbol']:<5} skipped: {skipped['reason']}")
        elif name == "LiquidationProgressed":
            key = f"{event['liquidation_id']}-{event['symbol']}"
            fills[key] = fills.get(key, 0) + 1
            if fills[key] % 10 == 1 or event["remaining_shortfall"] == "0.00":
                ratio = f"  ratio {event['ratio_now']}" if event.get("ratio_now") else ""
                display.line("fill", f"  <- {name:<22} {event['liquidation_id']} {event['symbol']:<5} "
                                     f"{event['filled_quantity']:>7,}/{event['line_quantity']:<7,} last "
                                     f"{event['last_quantity']} @ {event['last_price']} rung {event['rung']}  "
                                     f"sold {event['sold_value']}  still to sell {event['remaining_shortfall']}{ratio}")
        elif name == "LiquidationFinished":
            display.line("ok", f"  <- {name:<22} {event['liquidation_id']} {event['account']} {event['outcome']}: "
                               f"{event['reason']} (sold {event['sold_value']})")
        elif name == "ParentFinished":
            display.line("warn", f"  <- {name:<22} {event.get('parent_id')} {event.get('account')} "
                                 f"{event.get('reason')}")
