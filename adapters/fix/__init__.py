"""FIX 4.4 broker adapter: codec, session layer, durable store, order mapping, and the simulated venue as acceptor.

The common case, one broker::

    config = FixAdapterConfig(name="BROKER-A", host="10.0.0.5", port=9878, sender_comp_id="UNWIND",
                              target_comp_id="BROKERA", instruments=instruments, store_dir="var/fix")
    adapter = FixVenueAdapter(config, timers=timers)  # the engine's TimerQueue; omit it to get a private one
    adapter.bind(engine)                              # a VenueListener
    await adapter.start()                             # returns at once; on_venue_connected(name, True) on logon
    adapter.send_new(order)                           # ClOrdID = order.venue_client_order_id; never awaits

Modules: ``codec`` (framing, split decoding, template encoding, exact prices and timestamps), ``session`` (the
deterministic session state machine), ``store`` (sequence numbers and sent messages on disk), ``transport`` (asyncio
connect/accept, reconnect backoff, schedule), ``schedule``, ``mapping`` (Order <-> FIX), ``adapter`` (the
VenueAdapter), ``acceptor`` (``unwind sim-venue --fix-port N``).
"""

from adapters.fix.adapter import FixAdapterConfig, FixVenueAdapter, fix_adapter_from_options
from adapters.fix.schedule import SessionSchedule

__all__ = ["FixAdapterConfig", "FixVenueAdapter", "SessionSchedule", "fix_adapter_from_options"]
