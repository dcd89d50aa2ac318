"""Parent orders (TWAP, VWAP, POV) on the API: plug the ParentOrderManager into the engine and the command table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.api.schemas import enum_field, instrument_of, int_field, text_field
from gateway.config import Principal
from gateway.model import ErrorCode, Side, SubmitParent, refuse
from gateway.parents import ParentOrder, ParentOrderManager
from gateway.parents_recovery import ParentRecovery

if TYPE_CHECKING:
    from gateway.app import Gateway


def parent_view(parent: ParentOrder) -> dict[str, Any]:
    fmt = parent.instrument.format_price
    filled = parent.filled_quantity
    view = {
        "parent_id": parent.parent_id, "client_order_id": parent.client_order_id, "account": parent.account,
        "symbol": parent.symbol, "side": parent.side.value, "algo": parent.algo, "status": parent.status.value,
        "quantity": parent.quantity, "filled_quantity": filled, "leaves_quantity": parent.leaves_quantity,
        "average_price": parent.instrument.format_average(parent.filled_cost, filled) if filled else None,
        "arrival_price": fmt(parent.arrival_price), "params": parent.params,
        "finish_reason": parent.finish_reason.value if parent.finish_reason else None,
    }
    view["tca"] = parent.tca.snapshot() if parent.tca is not None else None
    return view


def decode_submit_parent(payload: dict[str, Any], instruments: dict[str, Any]) -> SubmitParent:
    instrument = instrument_of(payload, instruments)
    quantity = int_field(payload, "quantity", required=False)
    cash_amount = int_field(payload, "cash_amount", required=False)
    if (quantity is None) == (cash_amount is None):
        raise refuse(ErrorCode.VALIDATION_FIELD, "give exactly one of quantity (shares) and cash_amount (currency)",
                     "quantity")
    for name, value in (("quantity", quantity), ("cash_amount", cash_amount)):
        if value is not None and value <= 0:
            raise refuse(ErrorCode.VALIDATION_QUANTITY, f"{name} must be positive, got {value}", name)
    params = payload.get("params", {})
    if not isinstance(params, dict):
        raise refuse(ErrorCode.VALIDATION_FIELD, "params must be an object", "params")
    return SubmitParent(text_field(payload, "account"), instrument.symbol, enum_field(payload, "side", Side), quantity,
                        text_field(payload, "algo"), params, text_field(payload, "client_order_id"), cash_amount)


def attach_parents(gateway: Gateway) -> ParentOrderManager:
    engine = gateway.engine
    manager = ParentOrderManager(engine, gateway.timers, engine.instruments)
    engine.add_observer(manager)  # type: ignore[arg-type]  # it has the observer's four methods
    # journals parent.* records before the manager acts, and rebuilds parents from them after a crash
    engine.register_recoverable("parent.", ParentRecovery(manager, engine))
    gateway.extras["parents"] = manager

    def visible(principal: Principal, payload: dict[str, Any]) -> ParentOrder:
        parent_id = text_field(payload, "parent_id")
        parent = manager.get(parent_id)
        if parent is None or not principal.can_trade(parent.account):
            raise refuse(ErrorCode.ORDER_NOT_FOUND, f"parent_id {parent_id} not found", "parent_id")
        return parent

    def submit_parent(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        command = decode_submit_parent(payload, engine.instruments)
        engine.authorize_account(principal, command.account)
        if command.account in engine.risk.locked_accounts:
            raise refuse(ErrorCode.RISK_ACCOUNT_LIQUIDATING, f"account {command.account} is under mandatory "
                         "liquidation: only the liquidation may trade it", "account")
        refusal = engine.risk.kill_switch.blocks(command.account, principal.name)
        if refusal is not None:
            raise refuse(refusal.code, refusal.message, refusal.field)
        return parent_view(manager.submit(command, principal.name))

    def control(action: str) -> Any:
        def handle(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
            parent = visible(principal, payload)
            if action == "pause":
                manager.pause(parent.parent_id)
            elif action == "resume":
                manager.resume(parent.parent_id)
            elif action == "cancel":
                manager.cancel(parent.parent_id)
            else:
                changes = payload.get("changes")
                if not isinstance(changes, dict) or not changes:
                    raise refuse(ErrorCode.VALIDATION_FIELD, "changes must be a non-empty object", "changes")
                manager.amend(parent.parent_id, changes)
            return parent_view(parent)

        return handle

    def parents(principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        account = text_field(payload, "account", required=False)
        return {"parents": [parent_view(p) for p in manager.all_parents()
                            if principal.can_trade(p.account) and (account is None or p.account == account)]}

    commands = gateway.commands
    commands.register("submit_parent", submit_parent)
    for action in ("pause", "resume", "amend", "cancel"):
        commands.register(f"parent_{action}", control(action))
    commands.register("parent", lambda principal, payload: parent_view(visible(principal, payload)))
    commands.register("parents", parents)
    return manager
