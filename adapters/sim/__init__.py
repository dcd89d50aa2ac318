"""The simulated venue: the embedded default broker, so the whole gateway runs on one machine with no broker."""

from adapters.sim.book import BookEvent, BookOrder, Fill, OrderBook, Triggered, Unfilled
from adapters.sim.config import SimVenueConfig
from adapters.sim.market import LimitLock, SymbolMarket, volume_shape
from adapters.sim.venue import RejectCode, SimVenue

__all__ = [
    "BookEvent",
    "BookOrder",
    "Fill",
    "LimitLock",
    "OrderBook",
    "RejectCode",
    "SimVenue",
    "SimVenueConfig",
    "SymbolMarket",
    "Triggered",
    "Unfilled",
    "volume_shape",
]
