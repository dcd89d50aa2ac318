"""The engine: the single owner of trading state, on one event loop.

Commands arrive from the API (already decoded and authenticated), are checked, journaled and sent; venue reports come
back through the VenueListener methods, move orders through the state machine, update positions and fan out as events
to every subscriber allowed to see them. Nothing here awaits: a command's path from decode to the venue's send call is
straight-line code.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from adapters.base import VenueAdapter
from gateway.clock import Clock, TimerQueue
from gateway.config import GatewayConfig, Principal
from gateway.journal_protocol import JournalUnavailable, JournalWriter, NullJournal
from gateway.metrics import LatencyRecorder
from gateway.model import (
    AmendOrder,
    CancelOrder,
    ErrorCode,
    ExecType,
    ExecutionReport,
    Instrument,
    KillScope,
    KillSwitchChanged,
    Order,
    OrderEvent,
    OrderStatus,
    OrderType,
    Position,
    PositionChanged,
    Quote,
    Refusal,
    RefusalError,
    Role,
    SetKillSwitch,
    Side,
    SubmitOrder,
    SymbolStatus,
    TimeInForce,
    TradePrint,
    VenueStatus,
    refuse,
)
from gateway.orders import OrderStore, Transition
from gateway.risk import OrderCheck, RiskGate
from gateway.router import VenueRouter

log = structlog.get_logger(__name__)

EventSink = Callable[[Any], None]


@dataclass(slots=True)
class Subscription:
    principal: Principal
    sink: EventSink
    sees_all: bool = field(init=False)

    def __post_init__(self) -> None:
        self.sees_all = self.principal.role is not Role.TRADER


@dataclass(slots=True)
class MarketState:
    last_trade_price: int = 0
    quote: Quote | None = None
    status: VenueStatus = VenueStatus.OPEN


class Engine:
    def __init__(
        self,
        config: GatewayConfig,
        clock: Clock,
        timers: TimerQueue,
        adapters: dict[str, VenueAdapter],
        journal: JournalWriter | None = None,
        id_prefix: str = "U",
    ) -> None:
        self.config = config
        self.clock = clock
        self.timers = timers
        self.instruments: dict[str, Instrument] = config.instruments
        self.accounts = config.accounts
        self.adapters = adapters
        self.router = VenueRouter(config.routing, adapters)
        self.risk = RiskGate(config.risk)
        self.orders = OrderStore()
        self.journal: JournalWriter = journal or NullJournal()
        self.latency = LatencyRecorder()
        self.id_prefix = id_prefix
        self.order_sequence = 0
        self.market: dict[str, MarketState] = {symbol: MarketState() for symbol in self.instruments}
        self.positions: dict[tuple[str, str], Position] = {}
        self._positions_by_account: dict[str, dict[str, Position]] = {}
        self._subscriptions: list[Subscription] = []
        self._venues_connected_before: set[str] = set()  # the first connection is start-up: recovery owns it
        self._principals_by_name = {principal.name: principal for principal in config.principals.values()}
        self._observers: list[EngineObserver] = []
        # journal kind prefix ("parent.", "liquidation.") -> plug-in that rebuilds itself from its records (recovery.py)
        self.recoverables: dict[str, Any] = {}
        for account in self.accounts.values():
            for symbol, quantity in account.start_positions.items():
                position = self.position(account.account_id, symbol)
                position.quantity = quantity
                position.cost = quantity * self.instruments[symbol].reference_price
                position.tags = frozenset({"liquidate_last"}) if symbol in account.liquidate_last else frozenset()
        for adapter in adapters.values():
            adapter.bind(self)

    # --- subscriptions ------------------------------------------------------------------------------------------

    def subscribe(self, principal: Principal, sink: EventSink) -> Subscription:
        subscription = Subscription(principal, sink)
        self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    def register_recoverable(self, prefix: str, handler: Any) -> None:
        """Let a plug-in replay its own journal records (kinds starting with ``prefix``); see docs/journal.md."""
        self.recoverables[prefix] = handler

    def add_observer(self, observer: EngineObserver) -> None:
        """Register an in-process component (parents, liquidation) that follows orders and market data."""
        self._observers.append(observer)

    def publish(self, event: Any) -> None:
        account = getattr(event, "account", None)
        for subscription in self._subscriptions:
            if subscription.sees_all or account in subscription.principal.accounts:
                subscription.sink(event)

    # --- queries ------------------------------------------------------------------------------------------------

    def position(self, account: str, symbol: str) -> Position:
        key = (account, symbol)
        position = self.positions.get(key)
        if position is None:
            position = Position(account, symbol)
            self.set_position(position)
        return position

    def set_position(self, position: Position) -> None:
        self.positions[(position.account, position.symbol)] = position
        self._positions_by_account.setdefault(position.account, {})[position.symbol] = position

    def clear_positions(self) -> None:
        self.positions.clear()
        self._positions_by_account.clear()

    def account_positions(self, account: str) -> dict[str, Position]:
        """The account's positions by symbol (a live view: do not change it)."""
        return self._positions_by_account.get(account, {})

    def reference_price(self, symbol: str) -> int:
        state = self.market[symbol]
        if state.last_trade_price:
            return state.last_trade_price
        if state.quote is not None and state.quote.bid_price and state.quote.ask_price:
            return state.quote.mid_price
        return self.instruments[symbol].reference_price

    def last_quote(self, symbol: str) -> Quote | None:
        state = self.market.get(symbol)
        return state.quote if state is not None else None

    def visible_order(self, principal: Principal, order_id: str) -> Order:
        order = self.orders.by_id.get(order_id)
        if order is None or not principal.can_trade(order.account):
            # the same answer for "not there" and "not yours": a trader learns nothing of other accounts
            raise refuse(ErrorCode.ORDER_NOT_FOUND, f"order_id {order_id} not found", "order_id")
        return order

    def authorize_account(self, principal: Principal, account: str) -> None:
        if account not in self.accounts:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_ACCOUNT, f"account {account!r} is not known", "account")
        if not principal.can_trade(account):
            raise refuse(ErrorCode.AUTH_FORBIDDEN, f"principal {principal.name} may not act on account {account}",
                         "account")

    # --- commands -----------------------------------------------------------------------------------------------

    def submit_order(self, principal: Principal, command: SubmitOrder, t_decoded_ns: int = 0) -> Order:
        """Check, journal and send a trader's order; raise RefusalError with the reason if it is refused."""
        now_ns = self.clock.now_ns()
        self.authorize_account(principal, command.account)
        refusal = self.risk.check_principal_rate(principal.name, now_ns)
        if refusal is not None:
            raise RefusalError(refusal)
        if self.orders.has_client_order_id(command.account, command.client_order_id):
            raise refuse(ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID,
                         f"client_order_id {command.client_order_id!r} already used today on account {command.account}",
                         "client_order_id")
        order_id = f"{self.id_prefix}{self.order_sequence + 1}"  # taken only if the order goes out
        order = self._send_new(principal, order_id, command.client_order_id, command.account, command.symbol,
                               command.side, command.order_type, command.time_in_force, command.quantity,
                               command.limit_price, command.stop_price, command.expire_ns, None, False, now_ns,
                               t_decoded_ns)
        self.order_sequence += 1
        return order

    def send_child(self, parent: Any, child_id: str, side: Side, order_type: OrderType, quantity: int,
                   limit_price: int | None, time_in_force: TimeInForce) -> Refusal | None:
        """Send a child of a parent order or a liquidation (the ChildOrderPort of gateway/parents.py)."""
        if child_id in self.orders.by_venue_id:  # after a restart, a plug-in that lost its id sequence must not resend
            return Refusal(ErrorCode.RISK_DUPLICATE_CLIENT_ORDER_ID,
                           f"child order id {child_id} was already used today", "client_order_id")
        liquidation = bool(getattr(parent, "liquidation", False))
        principal = self._principal_named(parent.principal)
        try:
            self._send_new(principal, child_id, child_id, parent.account, parent.symbol, side, order_type,
                           time_in_force, quantity, limit_price, None, None, parent.parent_id, liquidation,
                           self.clock.now_ns())
        except RefusalError as error:
            return error.refusal
        return None

    def _send_new(self, principal: Principal, order_id: str, client_order_id: str, account: str, symbol: str,
                  side: Side, order_type: OrderType, time_in_force: TimeInForce, quantity: int,
                  limit_price: int | None, stop_price: int | None, expire_ns: int | None, parent_id: str | None,
                  liquidation: bool, now_ns: int, t_decoded_ns: int = 0) -> Order:
        instrument = self.instruments.get(symbol)
        if instrument is None:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_SYMBOL, f"symbol {symbol!r} is not known", "symbol")
        _validate_shape(instrument, order_type, time_in_force, quantity, limit_price, stop_price, expire_ns, now_ns)
        if account in self.risk.locked_accounts and not liquidation:
            raise refuse(ErrorCode.RISK_ACCOUNT_LIQUIDATING,
                         f"account {account} is under mandatory liquidation: only the liquidation may trade it",
                         "account")
        if account in self.risk.reduce_only_accounts and not liquidation:
            position = self.position(account, symbol).quantity
            working = sum(o.leaves_quantity for o in self.orders.open_orders(account)
                          if o.symbol == symbol and o.side is side)
            if self.risk.increases_exposure(side, quantity, position, working):
                raise refuse(ErrorCode.RISK_INCREASES_EXPOSURE,
                             f"account {account} is reduce-only (warning tier): {side.value} {quantity} {symbol} "
                             f"would increase exposure of position {position}", "side")
        arrival_price = self.reference_price(symbol)  # the one value the risk check and TCA's arrival both use
        refusal = self.risk.check_order(OrderCheck(
            principal, account, instrument, side, order_type, quantity, limit_price, stop_price,
            arrival_price, self.orders.open_count(account), liquidation))
        if refusal is None:
            adapter = self.router.venue_for(account, symbol)
            if not adapter.connected:
                refusal = Refusal(ErrorCode.VENUE_UNAVAILABLE, f"venue {adapter.name} is not connected", "venue")
            else:
                refusal = self.risk.check_venue_rate(adapter.name, now_ns, liquidation)
        if refusal is not None:
            log.info("order_refused", account=account, symbol=symbol, code=refusal.code.value, reason=refusal.message,
                     principal=principal.name, parent_id=parent_id)
            raise RefusalError(refusal)
        order = Order(order_id, client_order_id, account, principal.name, symbol, side, order_type, time_in_force,
                      quantity, limit_price, stop_price, expire_ns, adapter.name, now_ns, parent_id, liquidation,
                      venue_client_order_id=order_id, ts_updated=now_ns, arrival_price=arrival_price)
        self.journal_record("order", order)
        self.orders.add(order)
        adapter.send_new(order)
        if t_decoded_ns:  # submit-to-venue: the command's decode to the venue's send, before any event goes out
            self.latency.record(time.perf_counter_ns() - t_decoded_ns)
        self.publish(self._order_event("OrderSubmitted", order, now_ns))
        return order

    def cancel_order(self, principal: Principal, command: CancelOrder) -> Order:
        order = self.visible_order(principal, command.order_id)
        if order.parent_id is not None:  # its parent (an algorithm or a liquidation) owns it and would fight back
            raise refuse(ErrorCode.ORDER_NOT_CANCELABLE, f"order {order.order_id} is a child of {order.parent_id}; "
                         "cancel the parent instead", "order_id")
        refusal = self.risk.check_principal_rate(principal.name, self.clock.now_ns(), priority=True)
        if refusal is not None:
            raise RefusalError(refusal)
        refusal = self.request_cancel(order)
        if refusal is not None:
            raise RefusalError(refusal)
        return order

    def request_cancel(self, order: Order) -> Refusal | None:
        """Ask the venue to cancel ``order``; cancels are never throttled away, they only reduce risk."""
        if not order.is_working:
            return Refusal(ErrorCode.ORDER_NOT_CANCELABLE,
                           f"order {order.order_id} is {order.status.value}, nothing to cancel", "order_id")
        if order.status is OrderStatus.PENDING_CANCEL:
            return Refusal(ErrorCode.ORDER_NOT_CANCELABLE, f"order {order.order_id} already has a cancel pending",
                           "order_id")
        if order.status is OrderStatus.PENDING_REPLACE:
            return Refusal(ErrorCode.ORDER_NOT_CANCELABLE,
                           f"order {order.order_id} has a replace pending; cancel when it is answered", "order_id")
        now_ns = self.clock.now_ns()
        order.cancel_count += 1
        cancel_id = f"{order.order_id}.C{order.cancel_count}"
        self.journal_record("cancel", {"order_id": order.order_id, "client_order_id": cancel_id, "ts": now_ns},
                            required=False)
        self.orders.mark_pending(order, cancel_id, OrderStatus.PENDING_CANCEL)
        self.risk.check_venue_rate(order.venue, now_ns, True)  # uses capacity; never refused
        self.adapters[order.venue].send_cancel(order, cancel_id)
        self.publish(self._order_event("OrderPendingCancel", order, now_ns))
        return None

    def cancel_child(self, child_id: str) -> Refusal | None:
        order = self.orders.by_id.get(child_id)
        if order is None:
            return Refusal(ErrorCode.ORDER_NOT_FOUND, f"child {child_id} not found", "order_id")
        return self.request_cancel(order)

    def amend_order(self, principal: Principal, command: AmendOrder) -> Order:
        order = self.visible_order(principal, command.order_id)
        if order.parent_id is not None:
            raise refuse(ErrorCode.ORDER_NOT_AMENDABLE, f"order {order.order_id} is a child of {order.parent_id}; "
                         "amend the parent instead", "order_id")
        now_ns = self.clock.now_ns()
        refusal = self.risk.check_principal_rate(principal.name, now_ns)
        if refusal is None:
            refusal = self.request_replace(order, command.quantity, command.limit_price, principal)
        if refusal is not None:
            raise RefusalError(refusal)
        return order

    def replace_child(self, child_id: str, quantity: int, limit_price: int | None) -> Refusal | None:
        order = self.orders.by_id.get(child_id)
        if order is None:
            return Refusal(ErrorCode.ORDER_NOT_FOUND, f"child {child_id} not found", "order_id")
        return self.request_replace(order, quantity, limit_price, self._principal_named(order.principal))

    def request_replace(self, order: Order, quantity: int | None, limit_price: int | None,
                        principal: Principal) -> Refusal | None:
        if order.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            return Refusal(ErrorCode.ORDER_NOT_AMENDABLE,
                           f"order {order.order_id} is {order.status.value}; only NEW or PARTIALLY_FILLED can be amended",
                           "order_id")
        new_quantity = order.quantity if quantity is None else quantity
        new_price = order.limit_price if limit_price is None else limit_price
        if quantity is None and limit_price is None:
            return Refusal(ErrorCode.VALIDATION_FIELD, "amend needs quantity or price", "quantity")
        if limit_price is not None and order.order_type in (OrderType.MARKET, OrderType.STOP):
            return Refusal(ErrorCode.ORDER_NOT_AMENDABLE,
                           f"order {order.order_id} is {order.order_type.value} and has no limit price", "price")
        if new_quantity <= order.filled_quantity:
            return Refusal(ErrorCode.VALIDATION_QUANTITY,
                           f"quantity {new_quantity} must exceed the filled quantity {order.filled_quantity}", "quantity")
        instrument = self.instruments[order.symbol]
        if new_quantity % instrument.lot_size:
            return Refusal(ErrorCode.VALIDATION_LOT_SIZE,
                           f"quantity {new_quantity} is not a multiple of the lot size {instrument.lot_size}", "quantity")
        now_ns = self.clock.now_ns()
        refusal = self.risk.check_order(OrderCheck(
            principal, order.account, instrument, order.side, order.order_type, new_quantity, new_price,
            order.stop_price, self.reference_price(order.symbol), 0, order.liquidation))
        if refusal is None:
            refusal = self.risk.check_venue_rate(order.venue, now_ns, order.liquidation)
        if refusal is not None:
            return refusal
        order.replace_count += 1
        replace_id = f"{order.order_id}.R{order.replace_count}"
        try:
            self.journal_record("replace", {"order_id": order.order_id, "client_order_id": replace_id,
                                            "quantity": new_quantity, "limit_price": new_price, "ts": now_ns})
        except RefusalError as error:  # not journaled, so not sent: the id was never used
            order.replace_count -= 1
            return error.refusal
        order.pending_quantity = new_quantity
        order.pending_limit_price = new_price
        self.orders.mark_pending(order, replace_id, OrderStatus.PENDING_REPLACE)
        self.adapters[order.venue].send_replace(order, replace_id, new_quantity, new_price)
        self.publish(self._order_event("OrderPendingReplace", order, now_ns))
        return None

    def set_kill_switch(self, principal: Principal, command: SetKillSwitch) -> KillSwitchChanged:
        if principal.role is not Role.ADMIN:
            raise refuse(ErrorCode.AUTH_FORBIDDEN, f"principal {principal.name} (role {principal.role.value}) may not "
                         "use the kill switch; role admin is required", "scope")
        if command.scope is KillScope.ACCOUNT and command.target not in self.accounts:
            raise refuse(ErrorCode.VALIDATION_UNKNOWN_ACCOUNT, f"account {command.target!r} is not known", "target")
        self.journal_record("kill_switch", command, required=False)
        self.risk.kill_switch.set(command.scope, command.target, command.engaged)
        canceled = 0
        if command.engaged:
            for order in self.orders.open_orders():
                if order.liquidation or not _in_scope(order, command):
                    continue
                if self.request_cancel(order) is None:
                    canceled += 1
            for observer in self._observers:
                canceled += observer.on_kill_switch(command)
        event = KillSwitchChanged(self.clock.now_ns(), command.scope, command.target, command.engaged, command.reason,
                                  principal.name, canceled,
                                  account=command.target if command.scope is KillScope.ACCOUNT else None)
        log.warning("kill_switch_changed", scope=command.scope.value, target=command.target, engaged=command.engaged,
                    principal=principal.name, canceled_orders=canceled, reason=command.reason)
        self.publish(event)
        return event

    # --- venue reports (VenueListener) --------------------------------------------------------------------------

    def on_execution(self, report: ExecutionReport) -> None:
        order = self.orders.find(report)
        if order is None:
            log.warning("execution_for_unknown_order", venue=report.venue, client_order_id=report.client_order_id,
                        exec_type=report.exec_type.value, exec_id=report.exec_id)
            return
        if report.exec_type is ExecType.TRADE and (report.venue, report.exec_id or "") in self.orders.fills:
            log.info("fill_duplicate_ignored", order_id=order.order_id, exec_id=report.exec_id)
            return
        self.journal_record("report", report, required=False)
        if report.exec_type is ExecType.ORDER_STATUS and report.cumulative_quantity is not None \
                and report.cumulative_quantity != order.filled_quantity:
            # the venue's count differs from ours: fills it made are missing here (or it counts ones we busted);
            # a FIX resend or reconciliation brings them, and this line says it happened
            log.warning("venue_status_mismatch", venue=report.venue, order_id=order.order_id,
                        venue_cumulative=report.cumulative_quantity, our_filled=order.filled_quantity)
        transition = self.orders.apply_report(order, report)
        if transition is None:
            return
        if transition.fill_quantity or transition.reversed_quantity:
            self._apply_to_position(order, transition, report.ts_event)
        event = self._order_event(transition.event, order, report.ts_event, transition, report)
        self.publish(event)
        for observer in self._observers:
            observer.on_order_update(order, transition.event, transition.fill_quantity, transition.fill_price or None)

    def on_quote(self, quote: Quote) -> None:
        state = self.market.get(quote.symbol)
        if state is None:
            return
        state.quote = quote
        for observer in self._observers:
            observer.on_quote(quote)

    def on_trade(self, trade: TradePrint) -> None:
        state = self.market.get(trade.symbol)
        if state is None:
            return
        state.last_trade_price = trade.price
        for observer in self._observers:
            observer.on_trade(trade)

    def on_symbol_status(self, status: SymbolStatus) -> None:
        state = self.market.get(status.symbol)
        if state is not None:
            state.status = status.status
            log.info("symbol_status_changed", venue=status.venue, symbol=status.symbol, status=status.status.value)

    def on_venue_connected(self, venue: str, connected: bool) -> None:
        """Note the change; on a reconnect, ask the venue for the status of every order still open there.

        The first connection of each venue in this engine's life is start-up: recovery (gateway/recovery.py) owns it
        and reconciles the journal's open orders itself, and without a journal nothing can be open at a venue that
        never connected (sends are refused while it is down). Answers arrive as ORDER_STATUS reports, after whatever
        the venue resends (a FIX session's resend brings the reports missed while down; fills dedupe on ExecID).
        """
        log.info("venue_connection_changed", venue=venue, connected=connected)
        connected_before = self._venues_connected_before
        if not connected:
            return
        if venue not in connected_before:
            connected_before.add(venue)
            return
        adapter = self.adapters.get(venue)
        open_orders = [order for order in self.orders.open_orders() if order.venue == venue]
        if adapter is None or not open_orders:
            log.info("venue_reconnected", venue=venue, open_orders=0)
            return
        log.info("venue_reconnected_status_requested", venue=venue, open_orders=len(open_orders),
                 order_ids=[order.order_id for order in open_orders[:20]])
        adapter.request_status(open_orders)

    # --- helpers ------------------------------------------------------------------------------------------------

    def journal_record(self, kind: str, payload: object, required: bool = True) -> None:
        try:
            self.journal.append(kind, payload)
        except JournalUnavailable as exc:
            if not required:
                # a cancel or kill switch only reduces risk and a venue report already happened: act, say so loudly;
                # reconciliation with the venue after a restart recovers what the journal missed
                log.error("journal_unavailable_acting_anyway", kind=kind, error=str(exc))
                return
            log.error("journal_unavailable", kind=kind, error=str(exc))
            raise refuse(ErrorCode.JOURNAL_UNAVAILABLE,
                         f"the journal cannot record ({exc}); refusing to act unjournaled") from None

    def _principal_named(self, name: str) -> Principal:
        principal = self._principals_by_name.get(name)
        if principal is None:  # internal actors (the liquidation) act with risk authority
            principal = self._principals_by_name[name] = Principal(name, Role.RISK, "", frozenset())
        return principal

    def _apply_to_position(self, order: Order, transition: Transition, ts_event: int) -> None:
        position = self.position(order.account, order.symbol)
        if transition.reversed_quantity:
            position.apply_fill(order.side.opposite, transition.reversed_quantity, transition.reversed_price)
        if transition.fill_quantity:
            position.apply_fill(order.side, transition.fill_quantity, transition.fill_price)
        instrument = self.instruments[order.symbol]
        average = instrument.format_average(position.cost, position.quantity) if position.quantity else None
        self.publish(PositionChanged(ts_event, order.account, order.symbol, position.quantity, average,
                                     instrument.format_price(position.realized_pnl)))

    def _order_event(self, name: str, order: Order, ts_ns: int, transition: Transition | None = None,
                     report: ExecutionReport | None = None) -> OrderEvent:
        instrument = self.instruments[order.symbol]
        fmt = instrument.format_price
        filled = order.filled_quantity
        reject = order.status is OrderStatus.REJECTED or name == "OrderCancelRejected"
        return OrderEvent(
            name, ts_ns, order.account, order.order_id, order.client_order_id, order.symbol, order.side,
            order.order_type, order.status, order.quantity, filled, order.leaves_quantity,
            fmt(order.limit_price) if order.limit_price is not None else None,
            instrument.format_average(order.filled_cost, filled) if filled else None,
            order.parent_id,
            transition.fill_quantity if transition is not None else 0,
            fmt(transition.fill_price) if transition is not None and transition.fill_quantity else None,
            report.exec_id if report is not None else None,
            ErrorCode.VENUE_REJECTED if reject else None,
            report.reject_reason if report is not None and reject else None,
        )


class EngineObserver:
    """Base for in-process followers of the engine (parent orders, liquidation); override what you need."""

    def on_order_update(self, order: Order, event: str, last_quantity: int, last_price: int | None) -> None:
        return None

    def on_quote(self, quote: Quote) -> None:
        return None

    def on_trade(self, trade: TradePrint) -> None:
        return None

    def on_kill_switch(self, command: SetKillSwitch) -> int:
        """Stop what the engaged scope covers; return how many orders or parents were canceled."""
        return 0


def _in_scope(order: Order, command: SetKillSwitch) -> bool:
    if command.scope is KillScope.GLOBAL:
        return True
    if command.scope is KillScope.ACCOUNT:
        return order.account == command.target
    return order.principal == command.target


def _validate_shape(instrument: Instrument, order_type: OrderType, time_in_force: TimeInForce, quantity: int,
                    limit_price: int | None, stop_price: int | None, expire_ns: int | None, now_ns: int) -> None:
    if quantity <= 0:
        raise refuse(ErrorCode.VALIDATION_QUANTITY, f"quantity must be positive, got {quantity}", "quantity")
    if quantity % instrument.lot_size:
        raise refuse(ErrorCode.VALIDATION_LOT_SIZE,
                     f"quantity {quantity} is not a multiple of the lot size {instrument.lot_size} of "
                     f"{instrument.symbol}", "quantity")
    needs_limit = order_type is OrderType.LIMIT or order_type is OrderType.STOP_LIMIT
    if needs_limit and limit_price is None:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"price is required for a {order_type.value} order", "price")
    if not needs_limit and limit_price is not None:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"price is not allowed on a {order_type.value} order", "price")
    needs_stop = order_type is OrderType.STOP or order_type is OrderType.STOP_LIMIT
    if needs_stop and stop_price is None:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"stop_price is required for a {order_type.value} order",
                     "stop_price")
    if not needs_stop and stop_price is not None:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"stop_price is not allowed on a {order_type.value} order",
                     "stop_price")
    for field_name, price in (("price", limit_price), ("stop_price", stop_price)):
        if price is not None and (price <= 0 or price % instrument.tick_size):
            raise refuse(ErrorCode.VALIDATION_PRICE_TICK,
                         f"{field_name} {instrument.format_price(price)} is off the tick "
                         f"{instrument.format_price(instrument.tick_size)} of {instrument.symbol}", field_name)
    if time_in_force is TimeInForce.GTD:
        if expire_ns is None:
            raise refuse(ErrorCode.VALIDATION_FIELD, "expire_time is required for time_in_force GTD", "expire_time")
        if expire_ns <= now_ns:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"expire_time {expire_ns} is not in the future", "expire_time")
    elif expire_ns is not None:
        raise refuse(ErrorCode.VALIDATION_FIELD, "expire_time is only allowed with time_in_force GTD", "expire_time")
