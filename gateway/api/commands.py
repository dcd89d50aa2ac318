"""One table of commands shared by the WebSocket and HTTP fronts: name -> handler(principal, payload) -> result dict.

A handler runs synchronously on the engine's loop: decode, authorise, act. It raises RefusalError to refuse.
Other modules (parent orders, liquidation) add their commands with ``register``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.config import Principal
from gateway.engine import Engine
from gateway.model import ErrorCode, Order, Position, Role, refuse
from gateway.api.schemas import decode_amend, decode_cancel, decode_kill_switch, decode_submit, text_field

Handler = Callable[[Principal, dict[str, Any]], dict[str, Any]]


def order_view(engine: Engine, order: Order) -> dict[str, Any]:
    instrument = engine.instruments[order.symbol]
    fmt = instrument.format_price
    filled = order.filled_quantity
    return {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "account": order.account,
        "symbol": order.symbol,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "time_in_force": order.time_in_force.value,
        "status": order.status.value,
        "quantity": order.quantity,
        "filled_quantity": filled,
        "leaves_quantity": order.leaves_quantity,
        "price": fmt(order.limit_price) if order.limit_price is not None else None,
        "stop_price": fmt(order.stop_price) if order.stop_price is not None else None,
        "average_price": instrument.format_average(order.filled_cost, filled) if filled else None,
        "venue": order.venue,
        "parent_id": order.parent_id,
        "liquidation": order.liquidation,
        "reject_reason": order.reject_reason,
        "ts_created": order.ts_created,
        "ts_updated": order.ts_updated,
    }


def position_view(engine: Engine, position: Position) -> dict[str, Any]:
    instrument = engine.instruments[position.symbol]
    return {
        "account": position.account,
        "symbol": position.symbol,
        "quantity": position.quantity,
        "average_price": instrument.format_average(position.cost, position.quantity) if position.quantity else None,
        "realized_pnl": instrument.format_price(position.realized_pnl),
    }


class CommandTable:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handlers: dict[str, Handler] = {}
        self.register("submit", self.submit)
        self.register("cancel", self.cancel)
        self.register("amend", self.amend)
        self.register("kill_switch", self.kill_switch)
        self.register("orders", self.list_orders)
        self.register("order", self.get_order)
        self.register("positions", self.list_positions)
        self.register("market", self.market)
        self.register("ping", lambda principal, payload: {"ts": engine.clock.now_ns()})

    def register(self, name: str, handler: Handler) -> None:
        self.handlers[name] = handler

    def dispatch(self, principal: Principal, name: Any, payload: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            raise refuse(ErrorCode.VALIDATION_FIELD,
                         f"type {name!r} is not a command; commands are {', '.join(sorted(self.handlers))}", "type")
        return handler(principal, payload)

    # --- order commands -----------------------------------------------------------------------------------------

    def submit(self, principal: Principal, payload: dict[str, Any], t_decoded_ns: int = 0) -> dict[str, Any]:
        command = decode_submit(payload, self.engine.instruments)
        order = self.engine.submit_order(principal, command, t_decoded_ns or time.perf_counter_ns())
        return {"order_id": order.order_id, "client_order_id": order.client_order_id, "status": order.status.value}

    def cancel(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        order = self.engine.cancel_order(principal, decode_cancel(payload))
        return {"order_id": order.order_id, "status": order.status.value}

    def amend(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        order = self.engine.visible_order(principal, text_field(payload, "order_id"))
        order = self.engine.amend_order(principal, decode_amend(payload, order.symbol, self.engine.instruments))
        return {"order_id": order.order_id, "status": order.status.value}

    def kill_switch(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        event = self.engine.set_kill_switch(principal, decode_kill_switch(payload))
        return {"canceled_orders": event.canceled_orders, "state": self.engine.risk.kill_switch.state()}

    # --- queries ------------------------------------------------------------------------------------------------

    def _accounts_filter(self, principal: Principal, payload: dict[str, Any]) -> str | None:
        account = text_field(payload, "account", required=False)
        if account is not None:
            self.engine.authorize_account(principal, account)
        elif principal.role is Role.TRADER and len(principal.accounts) != 1:
            return None
        return account

    def list_orders(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        account = self._accounts_filter(principal, payload)
        open_only = payload.get("open", False) is True
        orders = [
            order_view(self.engine, order)
            for order in self.engine.orders.by_id.values()
            if principal.can_trade(order.account)
            and (account is None or order.account == account)
            and (not open_only or order.is_working)
        ]
        return {"orders": orders}

    def get_order(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        return {"order": order_view(self.engine, self.engine.visible_order(principal, text_field(payload, "order_id")))}

    def market(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        """Top of book, last trade and status for each symbol (or the one asked for), as the gateway last saw them."""
        symbol = text_field(payload, "symbol", required=False)
        if symbol is not None and symbol not in self.engine.instruments:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"symbol {symbol!r} is not known", "symbol")
        view = {}
        for name in [symbol] if symbol else sorted(self.engine.instruments):
            fmt = self.engine.instruments[name].format_price
            state = self.engine.market[name]
            quote = state.quote
            view[name] = {
                "bid": fmt(quote.bid_price) if quote and quote.bid_size else None,
                "bid_size": quote.bid_size if quote else 0,
                "ask": fmt(quote.ask_price) if quote and quote.ask_size else None,
                "ask_size": quote.ask_size if quote else 0,
                "last": fmt(state.last_trade_price) if state.last_trade_price else None,
                "status": state.status.value,
            }
        return {"market": view}

    def list_positions(self, principal: Principal, payload: dict[str, Any]) -> dict[str, Any]:
        account = self._accounts_filter(principal, payload)
        positions = [
            position_view(self.engine, position)
            for position in self.engine.positions.values()
            if principal.can_trade(position.account) and (account is None or position.account == account)
        ]
        return {"positions": positions}
