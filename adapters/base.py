"""The contract between the engine and a venue: the engine sends orders, the adapter reports back.

An adapter translates, nothing more: it knows its wire format (FIX tags, the simulator's calls) and never the engine's
algorithms or risk. Sends never block and never await: they hand bytes to a transport or an event to the simulator.
"""

from __future__ import annotations

from typing import Protocol

from gateway.model import ExecutionReport, Order, Quote, SymbolStatus, TradePrint


class VenueListener(Protocol):
    """What the engine offers an adapter; every call happens on the engine's loop."""

    def on_execution(self, report: ExecutionReport) -> None: ...

    def on_quote(self, quote: Quote) -> None: ...

    def on_trade(self, trade: TradePrint) -> None: ...

    def on_symbol_status(self, status: SymbolStatus) -> None: ...

    def on_venue_connected(self, venue: str, connected: bool) -> None: ...


class IgnoringListener:
    """A VenueListener that drops every message: subclass it and override only the messages you want."""

    def on_execution(self, report: ExecutionReport) -> None:
        return None

    def on_quote(self, quote: Quote) -> None:
        return None

    def on_trade(self, trade: TradePrint) -> None:
        return None

    def on_symbol_status(self, status: SymbolStatus) -> None:
        return None

    def on_venue_connected(self, venue: str, connected: bool) -> None:
        return None


class VenueAdapter(Protocol):
    name: str

    def bind(self, listener: VenueListener) -> None:
        """Say where reports go. Called once, before start."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    @property
    def connected(self) -> bool: ...

    def send_new(self, order: Order) -> None:
        """Send ``order`` as a new order with ClOrdID ``order.venue_client_order_id``."""

    def send_cancel(self, order: Order, cancel_client_order_id: str) -> None:
        """Ask to cancel the live version ``order.venue_client_order_id`` under the new id ``cancel_client_order_id``."""

    def send_replace(self, order: Order, replace_client_order_id: str, quantity: int, limit_price: int | None) -> None:
        """Ask to change total quantity and/or limit price of the live version, under ``replace_client_order_id``."""

    def request_status(self, orders: list[Order]) -> None:
        """Ask the venue for the current state of ``orders`` (reconciliation); answers arrive as execution reports."""
