"""Turn a gateway journal into TCA records: one order per top-level parent, and the fills that stand.

The journal holds every order as sent (with its ``arrival_price``), every amend and cancel request, every venue
report, and the plug-ins' own records (``liquidation.*``, ``parent.*``). This module reads it without changing it
(``gateway.journal.read_records``) and gives ``gateway.tca.readers`` the dicts it takes: ``record`` = "order" or
"fill" and the columns of docs/tca.md, prices as decimal text at each instrument's precision.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from gateway.model import ErrorCode, ExecType, refuse

log = structlog.get_logger(__name__)

STRATEGY_DIRECT = "DIRECT"  # a trader's own order, no algorithm
STRATEGY_LIQUIDATION = "LIQUIDATION"
STRATEGY_ALGORITHM_UNKNOWN = "ALGO"  # a parent's child when the journal has no parent.* record naming the algorithm

DIRECT, ALGORITHM, LIQUIDATION = "direct", "algorithm", "liquidation"
PARENT_QUANTITY_KINDS = frozenset({"parent.submitted", "parent.amended"})  # the parent.* records that set X
_REQUEST_SUFFIX = re.compile(r"\.[RC]\d+$")  # "U7.R2", "U7.C1": the engine's amend and cancel ClOrdIDs of U7


@dataclass(slots=True)
class _Child:
    """One order the engine sent, as far as fills need it."""

    order_id: str
    parent_key: str
    quantity: int  # moves with each confirmed amend, as the engine's order does
    filled: int = 0


@dataclass(slots=True)
class _Parent:
    """What TCA calls an order: a plain order, an algorithm parent or a liquidation line."""

    key: str
    kind: str
    account: str
    client: str
    symbol: str
    side: str
    venue: str
    arrival_price: int  # price units; 0 when the journal predates Order.arrival_price
    arrival_ts: int
    quantity: int  # a plain order's own quantity; the others take theirs from their plug-in's records
    end_ts: int
    filled: int = 0


@dataclass(slots=True)
class _Fill:
    parent_key: str
    child: _Child
    venue: str
    exec_id: str
    quantity: int
    price: int
    ts: int
    sequence: int  # journal sequence of the report that set its price, for "the last known price"


@dataclass(slots=True)
class _PlanLine:
    quantity: int
    reference_price: int  # price units: the mid when the risk engine's instruction arrived
    decision_ts: int


@dataclass(slots=True)
class _ParentRecord:
    """What the parent order manager's own records say of a parent (docs/journal.md, plug-ins)."""

    quantity: int | None = None
    algo: str | None = None
    arrival_price: int | None = None
    ts: int | None = None


@dataclass(slots=True)
class JournalTca:
    """TCA order and fill records read from a journal, with notes on what had to be inferred."""

    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    reports_unmatched: int = 0  # venue reports of orders the journal does not hold
    fills_refused: int = 0  # duplicates and overfills the engine refused too

    def records(self) -> Iterator[dict[str, Any]]:
        """Yield the orders, then the fills, as ``gateway.tca.readers.load_journal`` takes them."""
        yield from self.orders
        yield from self.fills


def records_from_journal(directory: str | Path, precisions: Mapping[str, int] | None = None
                         ) -> Iterator[dict[str, Any]]:
    """Yield TCA order and fill records for everything the journal in ``directory`` traded."""
    yield from read_journal_tca(directory, precisions).records()


def read_journal_tca(directory: str | Path, precisions: Mapping[str, int] | None = None) -> JournalTca:
    """Read the journal in ``directory`` once and build TCA records; ``precisions`` maps symbol -> price precision.

    A symbol whose precision is neither given nor written in the journal (liquidation plans carry price text) is
    refused with VALIDATION_FIELD: a price in integer units cannot be turned into money without it.
    """
    from gateway.journal import read_records

    path = Path(directory)
    if not path.is_dir():
        raise refuse(ErrorCode.VALIDATION_FIELD, f"journal directory {path} does not exist", "journal")
    reader = _JournalReader()
    for record in read_records(path):
        reader.read(record.sequence, record.ts_ns, record.kind, record.payload)
    if not reader.parents:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"journal {path}: no orders in it", "journal")
    known = dict(reader.precisions)
    known.update(precisions or {})
    result = reader.build(known)
    log.info("tca_journal_read", journal=str(path), orders=len(result.orders), fills=len(result.fills),
             fills_refused=result.fills_refused, reports_unmatched=result.reports_unmatched)
    return result


def instrument_precisions(config_path: str | Path) -> dict[str, int]:
    """Read each instrument's price precision from a gateway configuration (TOML, and its instruments_csv)."""
    import csv

    path = Path(config_path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"configuration file {path} does not exist", "config") from None
    except tomllib.TOMLDecodeError as error:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{path}: not valid TOML: {error}", "config") from None
    tables = data.get("instruments", [])
    rows: list[tuple[str, Mapping[str, Any]]] = [
        (f"{path} instruments[{index}]", row if isinstance(row, dict) else {})
        for index, row in enumerate(tables if isinstance(tables, list) else [])]
    gateway = data.get("gateway")
    csv_name = gateway.get("instruments_csv") if isinstance(gateway, dict) else None
    if csv_name:
        csv_path = path.parent / csv_name
        try:
            with csv_path.open(newline="", encoding="utf-8") as handle:
                rows += [(f"{csv_path} line {line}", row) for line, row in enumerate(csv.DictReader(handle), 2)]
        except FileNotFoundError:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{path} gateway.instruments_csv: {csv_path} does not exist",
                         "config") from None
    precisions: dict[str, int] = {}
    for where, row in rows:
        symbol, precision = row.get("symbol"), row.get("price_precision")
        try:
            digits = int(precision)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            digits = -1
        if not symbol or not 0 <= digits <= 9:
            raise refuse(ErrorCode.VALIDATION_FIELD,
                         f"{where}: needs symbol and price_precision 0..9, got {symbol!r} and {precision!r}", "config")
        precisions[str(symbol)] = digits
    return precisions


class _JournalReader:
    """One pass over the journal's records, in sequence order."""

    def __init__(self) -> None:
        self.parents: dict[str, _Parent] = {}
        self.children: dict[str, _Child] = {}  # every ClOrdID the engine used -> its order
        self.replace_quantity: dict[str, int] = {}  # amend ClOrdID -> the quantity asked for
        self.fills: dict[tuple[str, str], _Fill] = {}
        self.instruction_ts: dict[str, int] = {}
        self.plan_lines: dict[str, _PlanLine] = {}  # "L1-ACME" -> its plan line (quantity after review)
        self.parent_records: dict[str, _ParentRecord] = {}
        self.last_arrival: dict[str, int] = {}  # symbol -> the last arrival (reference) price journaled
        self.precisions: dict[str, int] = {}  # learnt from price text in the journal
        self.reports_unmatched = 0
        self.fills_refused = 0

    # --- reading ---------------------------------------------------------------------------------------------------

    def read(self, sequence: int, ts_ns: int, kind: str, payload: Any) -> None:
        if not isinstance(payload, dict):
            return
        if kind == "order":
            self._order(payload)
        elif kind == "report":
            self._report(sequence, ts_ns, payload)
        elif kind == "replace" or kind == "cancel":
            child = self.children.get(payload.get("order_id", ""))
            if child is not None:
                self.children[payload["client_order_id"]] = child
                if kind == "replace":
                    self.replace_quantity[payload["client_order_id"]] = int(payload["quantity"])
        elif kind == "liquidation.instruction":
            self.instruction_ts[payload["instruction_id"]] = int(payload.get("ts_received") or ts_ns)
        elif kind == "liquidation.planned":
            self._plan(ts_ns, payload)
        elif kind == "liquidation.review":
            self._review(payload)
        elif kind.startswith("parent."):
            self._parent_record(kind, ts_ns, payload)

    def _order(self, payload: dict[str, Any]) -> None:
        order_id = payload["order_id"]
        parent_id = payload.get("parent_id")
        key = parent_id or order_id
        quantity = int(payload["quantity"])
        child = _Child(order_id, key, quantity)
        self.children[order_id] = child
        venue_id = payload.get("venue_client_order_id")
        if venue_id:
            self.children[venue_id] = child
        arrival = int(payload.get("arrival_price") or 0)
        if arrival:
            self.last_arrival[payload["symbol"]] = arrival
        if key in self.parents:
            return
        kind = DIRECT if parent_id is None else LIQUIDATION if payload.get("liquidation") else ALGORITHM
        ts = int(payload["ts_created"])
        self.parents[key] = _Parent(key, kind, payload["account"], payload["principal"], payload["symbol"],
                                    payload["side"], payload["venue"], arrival, ts, quantity, ts)

    def _report(self, sequence: int, ts_ns: int, payload: dict[str, Any]) -> None:
        child = self.children.get(payload.get("client_order_id") or "")
        if child is None and payload.get("orig_client_order_id"):
            child = self.children.get(payload["orig_client_order_id"])
        if child is None:  # the engine journals only reports it matched; this is a hand-made or foreign journal
            child = self.children.get(_REQUEST_SUFFIX.sub("", payload.get("client_order_id") or ""))
        if child is None:
            self.reports_unmatched += 1
            return
        parent = self.parents[child.parent_key]
        ts = int(payload.get("ts_event") or ts_ns)
        parent.end_ts = max(parent.end_ts, ts)
        exec_type = payload.get("exec_type")
        if exec_type == ExecType.TRADE.value:
            self._trade(sequence, ts, child, parent, payload)
        elif exec_type in (ExecType.TRADE_CANCEL.value, ExecType.TRADE_CORRECT.value):
            self._correction(sequence, exec_type, payload)
        elif exec_type == ExecType.REPLACED.value:
            quantity = self.replace_quantity.get(payload.get("client_order_id") or "")
            if quantity is not None:
                child.quantity = max(quantity, child.filled)
                if parent.kind == DIRECT:
                    parent.quantity = child.quantity

    def _trade(self, sequence: int, ts: int, child: _Child, parent: _Parent, payload: dict[str, Any]) -> None:
        exec_id = payload.get("exec_id")
        venue = payload["venue"]
        quantity = int(payload.get("last_quantity") or 0)
        # the engine's own rules (gateway/orders.py): a fill is counted once, and never past the order's quantity
        if exec_id is None or (venue, exec_id) in self.fills or quantity <= 0 or \
                child.filled + quantity > child.quantity:
            self.fills_refused += 1
            return
        fill = _Fill(child.parent_key, child, venue, exec_id, quantity, int(payload["last_price"]), ts, sequence)
        self.fills[(venue, exec_id)] = fill
        child.filled += quantity
        parent.filled += quantity

    def _correction(self, sequence: int, exec_type: str, payload: dict[str, Any]) -> None:
        fill = self.fills.get((payload["venue"], payload.get("ref_exec_id") or ""))
        if fill is None:
            self.fills_refused += 1
            return
        if exec_type == ExecType.TRADE_CANCEL.value:
            quantity, price = 0, fill.price
        else:
            quantity, price = int(payload.get("last_quantity") or 0), int(payload["last_price"])
        delta = quantity - fill.quantity
        if quantity < 0 or fill.child.filled + delta > fill.child.quantity:
            self.fills_refused += 1
            return
        fill.child.filled += delta
        self.parents[fill.parent_key].filled += delta
        fill.quantity, fill.price, fill.sequence = quantity, price, sequence

    def _plan(self, ts_ns: int, payload: dict[str, Any]) -> None:
        liquidation_id = payload["liquidation_id"]
        decision_ts = self.instruction_ts.get(payload.get("instruction_id", ""), ts_ns)
        for line in payload.get("lines", []):
            symbol, quantity, reference_price, reference_text = line[0], int(line[2]), int(line[4]), str(line[5])
            self.plan_lines[f"{liquidation_id}-{symbol}"] = _PlanLine(quantity, reference_price, decision_ts)
            self._learn_precision(symbol, reference_text)

    def _review(self, payload: dict[str, Any]) -> None:
        liquidation_id = payload["liquidation_id"]
        reviewed = {f"{liquidation_id}-{line[0]}": line for line in payload.get("lines", [])}
        for key, plan_line in self.plan_lines.items():
            if key.startswith(f"{liquidation_id}-") and key not in reviewed:
                plan_line.quantity = 0  # taken out in review
        for key, line in reviewed.items():
            plan_line = self.plan_lines.get(key)
            if plan_line is None:  # added in review: its reference is the price at the review
                self.plan_lines[key] = _PlanLine(int(line[2]), int(line[4]), 0)
            else:
                plan_line.quantity = int(line[2])  # the decision price stays the one at the instruction
            self._learn_precision(line[0], str(line[5]))

    def _parent_record(self, kind: str, ts_ns: int, payload: dict[str, Any]) -> None:
        parent_id = payload.get("parent_id")
        if not isinstance(parent_id, str):
            return
        record = self.parent_records.setdefault(parent_id, _ParentRecord())
        if record.ts is None:
            record.ts = ts_ns
        # the manager's records may hold the fields at the top or under the command or amendment they carry
        for source in (payload, payload.get("command"), payload.get("changes")):
            if not isinstance(source, dict):
                continue
            quantity = source.get("quantity")
            # only these decide X: other parent records may name a child slice's quantity
            if kind in PARENT_QUANTITY_KINDS and isinstance(quantity, int) and not isinstance(quantity, bool) \
                    and quantity > 0:
                record.quantity = quantity
            algo = source.get("algo") or source.get("algorithm")
            if isinstance(algo, str) and algo:
                record.algo = algo.upper()
            arrival = source.get("arrival_price")
            if isinstance(arrival, int) and not isinstance(arrival, bool) and arrival > 0:
                record.arrival_price = arrival

    def _learn_precision(self, symbol: str, text: str) -> None:
        whole, dot, fraction = text.partition(".")
        if whole.lstrip("-").isdigit() and (not dot or fraction.isdigit()):
            self.precisions.setdefault(symbol, len(fraction))

    # --- building ----------------------------------------------------------------------------------------------------

    def build(self, precisions: Mapping[str, int]) -> JournalTca:
        missing = sorted({parent.symbol for parent in self.parents.values()} - set(precisions))
        if missing:
            raise refuse(ErrorCode.VALIDATION_FIELD,
                         f"journal: price precision unknown for {', '.join(missing)}; give the gateway's configuration "
                         "(--config) so journal prices can become money", "config")
        end_prices = self._end_prices()
        notes: list[str] = []
        guessed_quantity: list[str] = []
        no_arrival: list[str] = []
        orders: list[dict[str, Any]] = []
        for parent in self.parents.values():
            precision = precisions[parent.symbol]
            strategy, quantity, decision_price, decision_ts = STRATEGY_DIRECT, parent.quantity, 0, parent.arrival_ts
            arrival_price, arrival_ts = parent.arrival_price, parent.arrival_ts
            if parent.kind == LIQUIDATION:
                strategy = STRATEGY_LIQUIDATION
                line = self.plan_lines.get(parent.key)
                if line is None:
                    quantity = parent.filled
                    guessed_quantity.append(parent.key)
                else:
                    quantity, decision_price = line.quantity, line.reference_price
                    decision_ts = line.decision_ts or arrival_ts
            elif parent.kind == ALGORITHM:
                record = self.parent_records.get(parent.key, _ParentRecord())
                strategy = record.algo or STRATEGY_ALGORITHM_UNKNOWN
                if record.arrival_price:  # the mid when the parent reached the gateway, as its live TCA has it
                    arrival_price = record.arrival_price
                    arrival_ts = decision_ts = record.ts or arrival_ts
                if record.quantity is None:
                    quantity = parent.filled
                    guessed_quantity.append(parent.key)
                else:
                    quantity = record.quantity
            if not arrival_price:
                no_arrival.append(parent.key)
            orders.append({
                "record": "order", "order_id": parent.key, "side": parent.side, "quantity": quantity,
                "decision_price": _price_text(decision_price or arrival_price, precision),
                "arrival_price": _price_text(arrival_price, precision),
                "end_price": _price_text(end_prices.get(parent.symbol, 0), precision),
                "decision_ts": decision_ts, "arrival_ts": arrival_ts, "end_ts": max(parent.end_ts, arrival_ts),
                "client": parent.client, "account": parent.account, "strategy": strategy, "venue": parent.venue,
                "symbol": parent.symbol, "liquidation": "true" if parent.kind == LIQUIDATION else "false",
            })
        if no_arrival:
            notes.append(f"no arrival price for {_listed(no_arrival)} (journaled before orders carried one): left out")
        if guessed_quantity:
            notes.append(f"quantity decided unknown for {_listed(guessed_quantity)} (no parent or plan record): "
                         "their filled quantity stands in, so they carry no opportunity cost")
        strategies = {order["order_id"]: order["strategy"] for order in orders}
        fills = []
        for fill in self.fills.values():
            if not fill.quantity:  # busted
                continue
            parent = self.parents[fill.parent_key]
            fills.append({
                "record": "fill", "order_id": fill.parent_key, "quantity": fill.quantity,
                "price": _price_text(fill.price, precisions[parent.symbol]), "ts": fill.ts, "venue": fill.venue,
                "symbol": parent.symbol, "side": parent.side, "client": parent.client, "account": parent.account,
                "strategy": strategies[fill.parent_key],
            })
        return JournalTca(orders, fills, notes, self.reports_unmatched, self.fills_refused)

    def _end_prices(self) -> dict[str, int]:
        """The last known price of each symbol: its last standing fill, else the last arrival price journaled."""
        latest: dict[str, tuple[int, int]] = {}
        for fill in self.fills.values():
            if fill.quantity:
                symbol = self.parents[fill.parent_key].symbol
                if fill.sequence >= latest.get(symbol, (-1, 0))[0]:
                    latest[symbol] = (fill.sequence, fill.price)
        prices = dict(self.last_arrival)
        prices.update({symbol: price for symbol, (_, price) in latest.items()})
        return prices


def _listed(keys: list[str], most: int = 10) -> str:
    """Name up to ``most`` orders, then say how many more."""
    shown = ", ".join(keys[:most])
    return shown if len(keys) <= most else f"{shown} and {len(keys) - most} more"


def _price_text(units: int, precision: int) -> str:
    """Exact decimal text of a price in units of 10**-precision; empty for an unknown (zero) price."""
    if not units:
        return ""
    if precision == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**precision)
    return f"{sign}{whole}.{fraction:0{precision}d}"
