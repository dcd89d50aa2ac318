"""Liquidation commands on the API: the risk engine's instruction, queries, and the manual review path."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from gateway.api.schemas import enum_field, int_field, text_field
from gateway.config import Principal
from gateway.liquidation.manager import LiquidationManager
from gateway.liquidation.model import Instruction, Target, TargetKind, Tier
from gateway.liquidation.policy import parse_policy
from gateway.model import ErrorCode, Role, refuse

if TYPE_CHECKING:
    from gateway.app import Gateway

NANOS_PER_SECOND = 1_000_000_000
MAX_REASON_LENGTH = 512


def decimal_field(value: Any, name: str, positive: bool = True) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be a decimal string, got {value!r}", name)
    try:
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} {value!r} is not a decimal number", name) from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be {'> 0' if positive else '>= 0'}, got {value}", name)
    return Fraction(number)


def _quantities(value: Any, name: str, instruments: dict[str, Any]) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{name} must be an object of symbol -> quantity", name)
    quantities = {}
    for symbol, quantity in value.items():
        if symbol not in instruments:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"{name}.{symbol}: symbol is not known", name)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{name}.{symbol}: quantity must be an integer", name)
        quantities[symbol] = quantity
    return quantities


def decode_target(value: Any, instruments: dict[str, Any]) -> Target:
    if not isinstance(value, dict):
        raise refuse(ErrorCode.VALIDATION_FIELD, "target must be an object with one of notional, positions or ratio",
                     "target")
    forms = [key for key in ("notional", "positions", "ratio") if key in value]
    if len(forms) != 1:
        raise refuse(ErrorCode.VALIDATION_FIELD, "target must have exactly one of notional, positions or ratio",
                     "target")
    form = forms[0]
    cost_rate = value.get("cost_rate")
    rate = None if cost_rate is None else decimal_field(cost_rate, "target.cost_rate", positive=False)
    if rate is not None and rate >= 1:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"target.cost_rate must be below 1, got {cost_rate}",
                     "target.cost_rate")
    if form == "notional":
        return Target(TargetKind.NOTIONAL, notional=decimal_field(value["notional"], "target.notional"),
                      cost_rate=rate)
    if form == "positions":
        quantities = _quantities(value["positions"], "target.positions", instruments)
        for symbol, quantity in quantities.items():
            if quantity <= 0:
                raise refuse(ErrorCode.VALIDATION_QUANTITY, f"target.positions.{symbol}: quantity must be positive, "
                             f"got {quantity}", "target.positions")
        return Target(TargetKind.POSITIONS, quantities=quantities, cost_rate=rate)
    ratio = value["ratio"]
    if not isinstance(ratio, dict):
        raise refuse(ErrorCode.VALIDATION_FIELD, "target.ratio must be an object with assets, loan and target",
                     "target.ratio")
    for key in ("assets", "loan", "target"):
        if key not in ratio:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"target.ratio.{key} is required", f"target.ratio.{key}")
    target_ratio = decimal_field(ratio["target"], "target.ratio.target")
    if target_ratio <= 1:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"target.ratio.target must be above 1 (a maintenance ratio such as "
                     f"1.5 for 150%), got {ratio['target']}", "target.ratio.target")
    return Target(TargetKind.RATIO, assets=decimal_field(ratio["assets"], "target.ratio.assets", positive=False),
                  loan=decimal_field(ratio["loan"], "target.ratio.loan", positive=False), target_ratio=target_ratio,
                  cost_rate=rate)


def decode_instruction(payload: dict[str, Any], manager: LiquidationManager, principal: Principal) -> Instruction:
    engine = manager.engine
    instruments = engine.instruments
    account = text_field(payload, "account")
    if account not in engine.accounts:
        raise refuse(ErrorCode.VALIDATION_UNKNOWN_ACCOUNT, f"account {account!r} is not known", "account")
    tier = enum_field(payload, "tier", Tier)
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"reason must be a string of at most {MAX_REASON_LENGTH} characters",
                     "reason")
    now = engine.clock.now_ns()
    deadline = int_field(payload, "deadline", required=False)
    if deadline is None:
        deadline = now + int(manager.policy.default_deadline_s * NANOS_PER_SECOND)
    elif deadline <= now:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"deadline {deadline} is not in the future (now {now})", "deadline")
    target = None
    if "target" in payload and payload["target"] is not None:
        target = decode_target(payload["target"], instruments)
    elif tier is Tier.MANDATORY:
        raise refuse(ErrorCode.VALIDATION_FIELD, "target is required for tier mandatory", "target")
    positions = payload.get("positions")
    if positions is not None:
        positions = _quantities(positions, "positions", instruments)
    order = payload.get("order", [])
    if not isinstance(order, list) or any(symbol not in instruments for symbol in order):
        raise refuse(ErrorCode.VALIDATION_FIELD, "order must be a list of known symbols", "order")
    haircuts_in = payload.get("haircuts", {})
    if not isinstance(haircuts_in, dict):
        raise refuse(ErrorCode.VALIDATION_FIELD, "haircuts must be an object of symbol -> decimal", "haircuts")
    haircuts = {symbol: decimal_field(value, f"haircuts.{symbol}") for symbol, value in haircuts_in.items()}
    return Instruction(text_field(payload, "instruction_id"), account, tier, reason, target, deadline, positions,
                       tuple(order), haircuts, principal.name, now)


def attach_liquidation(gateway: Gateway) -> LiquidationManager:
    policy = parse_policy(gateway.config.options.get("liquidation"))
    manager = LiquidationManager(gateway.engine, gateway.timers, policy, gateway.extras.get("parents"))
    gateway.extras["liquidation"] = manager
    from gateway.liquidation.recovery import LiquidationRecovery

    gateway.engine.register_recoverable("liquidation.", LiquidationRecovery(manager))
    commands = gateway.commands

    def require_role(principal: Principal, roles: tuple[Role, ...], what: str) -> None:
        if principal.role not in roles:
            allowed = " or ".join(role.value for role in roles)
            raise refuse(ErrorCode.AUTH_FORBIDDEN, f"principal {principal.name} (role {principal.role.value}) may not "
                         f"{what}; role {allowed} is required", "type")

    def liquidate(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        require_role(principal, (Role.RISK,), "send liquidation instructions")
        return manager.instruct(decode_instruction(payload, manager, principal))

    def liquidations(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        account = text_field(payload, "account", required=False)
        visible = [liq for liq in manager.liquidations.values()
                   if principal.can_trade(liq.plan.account) and (account is None or liq.plan.account == account)]
        tiers = {name: state.tier.value for name, state in manager.accounts.items() if principal.can_trade(name)}
        return {"liquidations": [manager.view(liq) for liq in visible], "tiers": tiers}

    def reviews(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        require_role(principal, (Role.RISK, Role.ADMIN), "see plans held for review")
        return {"held": [manager.view(liq) for liq in manager.held()]}

    def reviewer(decision: str) -> Any:
        def handle(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
            require_role(principal, (Role.RISK, Role.ADMIN), "review liquidation plans")
            quantities = None
            if decision == "modified":
                quantities = _quantities(payload.get("lines"), "lines", gateway.engine.instruments)
            liquidation = manager.review(text_field(payload, "liquidation_id"), decision, principal.name, quantities)
            return manager.view(liquidation)

        return handle

    commands.register("liquidate", liquidate)
    commands.register("liquidations", liquidations)
    commands.register("reviews", reviews)
    commands.register("review_approve", reviewer("approved"))
    commands.register("review_modify", reviewer("modified"))
    commands.register("review_reject", reviewer("rejected"))
    return manager
