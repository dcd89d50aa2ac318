"""Venue selection: by account, then by symbol, then the default venue, as configured."""

from __future__ import annotations

from adapters.base import VenueAdapter
from gateway.config import RoutingConfig


class VenueRouter:
    def __init__(self, routing: RoutingConfig, adapters: dict[str, VenueAdapter]) -> None:
        self.routing = routing
        self.adapters = adapters

    def venue_for(self, account: str, symbol: str) -> VenueAdapter:
        name = self.routing.by_account.get(account) or self.routing.by_symbol.get(symbol) or self.routing.default_venue
        return self.adapters[name]
