"""Venue selection: by account, then by symbol, then the default venue, as configured."""

from __future__ import annotations

from adapters.base import VenueAdapter
from gateway.config import ConfigError, RoutingConfig


class VenueRouter:
    """Pick the venue adapter for an order: the account's venue beats the symbol's, which beats the default."""

    def __init__(self, routing: RoutingConfig, adapters: dict[str, VenueAdapter]) -> None:
        # parse_config checks names against [[venues]]; this catches a RoutingConfig built in code for other adapters
        for key, venue in [("default_venue", routing.default_venue),
                           *[(f"accounts.{k}", v) for k, v in routing.by_account.items()],
                           *[(f"symbols.{k}", v) for k, v in routing.by_symbol.items()]]:
            if venue not in adapters:
                raise ConfigError(f"routing.{key}: unknown venue {venue!r}; venues are {sorted(adapters)}")
        self.routing = routing
        self.adapters = adapters

    def venue_name_for(self, account: str, symbol: str) -> str:
        """Name the venue an order of ``account`` in ``symbol`` goes to."""
        routing = self.routing
        return routing.by_account.get(account) or routing.by_symbol.get(symbol) or routing.default_venue

    def venue_for(self, account: str, symbol: str) -> VenueAdapter:
        """Return the adapter ``venue_name_for`` names (inlined: every order passes here)."""
        routing = self.routing
        return self.adapters[routing.by_account.get(account) or routing.by_symbol.get(symbol)
                             or routing.default_venue]
