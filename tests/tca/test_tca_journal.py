"""TCA straight from a gateway's journal: a real gateway on the simulated clock trades plain orders, an algorithm and
a mandatory liquidation; the costs read from its journal match what the engine itself says happened."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from gateway.app import Gateway, build_gateway
from gateway.clock import SimClock, TimerQueue
from gateway.config import Principal, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.journal import FsyncPolicy, Journal, JournalConfig, read_records
from gateway.model import (
    AmendOrder,
    CancelOrder,
    ExecType,
    ExecutionReport,
    Order,
    OrderType,
    RefusalError,
    Side,
    SubmitOrder,
    TimeInForce,
)
from gateway.tca import cli
from gateway.tca.analysis import analyse
from gateway.tca.journal_source import read_journal_tca, records_from_journal
from gateway.tca.readers import load_journal

START_NS = 1_795_000_000_000_000_000
SECOND = 1_000_000_000
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "gateway.toml"
HOLD_FOR_REVIEW = {"review": {"max_cost_bps": 0.5}}  # every plan waits for a person: the market moves meanwhile


@dataclass
class Session:
    gateway: Gateway
    journal: Journal
    directory: Path
    events: list[Any]
    arrivals: dict[str, int]  # order id -> the engine's reference price read just before submitting it
    plan_lines: dict[str, dict[str, Any]]  # "L1-ACME" -> the line of the LiquidationPlanned event
    line_quantities: dict[str, int]  # "L1-ACME" -> its quantity after the review (LiquidationReviewed event)

    @property
    def engine(self) -> Any:
        return self.gateway.engine

    def precisions(self) -> dict[str, int]:
        return {symbol: instrument.price_precision for symbol, instrument in self.engine.instruments.items()}


def principal(gateway: Gateway, name: str) -> Principal:
    return gateway.config.principals[DEMO_KEYS[name]]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """One journaled trading session, shared by the tests below (they only read it)."""
    directory = tmp_path_factory.mktemp("tca-journal") / "journal"
    data = demo_config_data()
    data["venues"][0]["open_market"] = False
    data["liquidation"] = {"max_participation": 0.05, **HOLD_FOR_REVIEW}
    config = parse_config(data)
    clock = SimClock(START_NS)
    timers = TimerQueue(clock)
    journal = Journal(directory, JournalConfig(fsync=FsyncPolicy.NEVER), clock)
    gateway = build_gateway(config, clock, timers, journal=journal)
    venue = gateway.adapters["SIM"]
    venue.connect()
    venue.open_market()
    engine = gateway.engine
    events: list[Any] = []
    engine.subscribe(principal(gateway, "risk"), events.append)
    timers.advance_by(20 * SECOND)  # the market opens, quotes and prints
    arrivals: dict[str, int] = {}
    sequence = iter(range(1, 1_000))

    def submit(trader: str, account: str, symbol: str, side: Side, quantity: int, order_type: OrderType,
               price: int | None = None) -> Order:
        reference = engine.reference_price(symbol)
        order = engine.submit_order(principal(gateway, trader), SubmitOrder(
            account, symbol, side, order_type, quantity, f"c{next(sequence)}", TimeInForce.DAY, price))
        arrivals[order.order_id] = reference
        return order

    submit("alice", "ALICE-1", "ACME", Side.BUY, 400, OrderType.MARKET)
    timers.advance_by(2 * SECOND)
    submit("alice", "ALICE-1", "ACME", Side.SELL, 1_500, OrderType.MARKET)
    timers.advance_by(2 * SECOND)
    submit("alice", "ALICE-2", "DYNA", Side.BUY, 3_000, OrderType.MARKET)
    # a passive order far from the market, amended up, then canceled: all of it is opportunity cost
    bolt = engine.instruments["BOLT"]
    resting = submit("bob", "BOB-1", "BOLT", Side.BUY, 500, OrderType.LIMIT,
                     engine.reference_price("BOLT") * 97 // 100 // bolt.tick_size * bolt.tick_size)
    timers.advance_by(1 * SECOND)
    engine.amend_order(principal(gateway, "bob"), AmendOrder(resting.order_id, quantity=700))
    timers.advance_by(1 * SECOND)
    engine.cancel_order(principal(gateway, "bob"), CancelOrder(resting.order_id))
    gateway.commands.dispatch(principal(gateway, "alice"), "submit_parent", {
        "account": "ALICE-2", "symbol": "ACME", "side": "BUY", "quantity": 1_000, "algo": "TWAP",
        "client_order_id": "twap-1", "params": {"duration_s": 20}})
    timers.advance_by(5 * SECOND)
    answer = gateway.commands.dispatch(principal(gateway, "risk"), "liquidate", {
        "instruction_id": "RISK-1", "account": "M-002", "tier": "mandatory", "reason": "margin call",
        "target": {"positions": {"ACME": 3_000, "DYNA": 20_000}}, "deadline": clock.now_ns() + 120 * SECOND})
    assert answer["status"] == "held"
    timers.advance_by(15 * SECOND)
    gateway.commands.dispatch(principal(gateway, "admin"), "review_modify", {
        "liquidation_id": answer["liquidation_id"], "lines": {"ACME": 2_000}})
    timers.advance_by(150 * SECOND)
    [planned] = [e for e in events if e.event == "LiquidationPlanned"]
    [reviewed] = [e for e in events if e.event == "LiquidationReviewed"]
    prefix = answer["liquidation_id"]
    plan_lines = {f"{prefix}-{line['symbol']}": line for line in planned.lines}
    line_quantities = {f"{prefix}-{line['symbol']}": int(line["quantity"]) for line in reviewed.lines}
    yield Session(gateway, journal, directory, events, arrivals, plan_lines, line_quantities)
    journal.close()


def children_of(session: Session, key: str) -> list[Order]:
    return sorted((o for o in session.engine.orders.by_id.values() if (o.parent_id or o.order_id) == key),
                  key=lambda o: o.ts_created)


def last_fill_prices(session: Session) -> dict[str, int]:
    """The last fill price of each symbol, from the engine's published fill events; never traded: the last arrival."""
    prices: dict[str, int] = {}
    for order in sorted(session.engine.orders.by_id.values(), key=lambda o: o.ts_created):
        prices[order.symbol] = order.arrival_price
    for event in session.events:
        if event.event == "OrderFilled":
            prices[event.symbol] = session.engine.instruments[event.symbol].parse_price(event.last_price)
    return prices


def test_every_order_and_fill_comes_from_the_journal_as_the_engine_has_it(session: Session) -> None:
    engine = session.engine
    source = read_journal_tca(session.directory, session.precisions())
    orders = {record["order_id"]: record for record in source.orders}
    keys = {o.parent_id or o.order_id for o in engine.orders.by_id.values()}
    assert set(orders) == keys
    assert {"L1-ACME", "L1-DYNA", "P1"} <= keys and len(keys) == 7  # four plain orders, a TWAP, two lines
    fills_by_order: dict[str, list[dict[str, Any]]] = {}
    for fill in source.fills:
        fills_by_order.setdefault(fill["order_id"], []).append(fill)
    for key, record in orders.items():
        children = children_of(session, key)
        instrument = engine.instruments[children[0].symbol]
        fills = fills_by_order.get(key, [])
        assert sum(f["quantity"] for f in fills) == sum(c.filled_quantity for c in children), key
        assert sum(f["quantity"] * instrument.parse_price(f["price"]) for f in fills) == \
            sum(c.filled_cost for c in children), key
        parent = session.gateway.extras["parents"].get(key)
        # an algorithm's parent carries its own arrival price (the mid when it came in); an order is its own parent
        arrival = parent.arrival_price if parent is not None else children[0].arrival_price
        assert record["arrival_price"] == instrument.format_price(arrival)
        assert record["side"] == children[0].side.value and record["account"] == children[0].account
    # the engine's arrival price is its reference price when the order came in
    for order_id, reference in session.arrivals.items():
        assert engine.orders.by_id[order_id].arrival_price == reference
        assert orders[order_id]["arrival_price"] == engine.instruments[orders[order_id]["symbol"]].format_price(
            reference)
        assert orders[order_id]["decision_price"] == orders[order_id]["arrival_price"]
        assert orders[order_id]["strategy"] == "DIRECT"
    # liquidation lines: decided at the plan's reference price (the instruction's moment), for the reviewed quantity
    for key, line in session.plan_lines.items():
        assert orders[key]["strategy"] == "LIQUIDATION" and orders[key]["liquidation"] == "true"
        assert orders[key]["decision_price"] == line["reference_price"]
        assert orders[key]["quantity"] == session.line_quantities[key]
        assert orders[key]["client"] == children_of(session, key)[0].principal
    assert session.line_quantities["L1-ACME"] == 2_000 != session.plan_lines["L1-ACME"]["quantity"]
    assert any(orders[key]["decision_price"] != orders[key]["arrival_price"] for key in session.plan_lines)
    amended = next(o for o in engine.orders.by_id.values() if o.symbol == "BOLT" and o.parent_id is None)
    assert orders[amended.order_id]["quantity"] == amended.quantity == 700 and amended.filled_quantity == 0
    assert source.fills_refused == 0 and source.reports_unmatched == 0
    assert list(records_from_journal(session.directory, session.precisions())) == source.orders + source.fills


def test_shortfall_from_the_journal_matches_the_engines_own_orders(session: Session) -> None:
    engine = session.engine
    source = read_journal_tca(session.directory, session.precisions())
    result = analyse(load_journal(source.records()))
    costs = result.orders
    parent_records = [r for r in read_records(session.directory) if r.kind.startswith("parent.")]
    end_prices = last_fill_prices(session)
    checked = 0
    for row, key in enumerate(costs.order_id):
        children = children_of(session, key)
        first = children[0]
        instrument = engine.instruments[first.symbol]
        scale = instrument.price_scale
        sign = first.side.sign
        filled = sum(c.filled_quantity for c in children)
        cost = sum(c.filled_cost for c in children)
        if key in session.plan_lines:
            quantity = session.line_quantities[key]
            decision = instrument.parse_price(session.plan_lines[key]["reference_price"])
        elif first.parent_id is None:
            quantity, decision = first.quantity, first.arrival_price
        else:  # the TWAP: without the parent manager's records, its filled quantity stands in for X
            quantity, decision = twap_expectations(session, key, parent_records, source.notes, filled)
        arrival = decision if key not in session.plan_lines else first.arrival_price
        end = end_prices.get(first.symbol, 0)
        delay = Fraction(sign * quantity * (arrival - decision), scale)
        trading = Fraction(sign * (cost - filled * arrival), scale)
        opportunity = Fraction(sign * (quantity - filled) * (end - arrival), scale)
        assert costs.included[row], (key, costs.exclusion[row])
        assert costs.quantity[row] == quantity and costs.filled_quantity[row] == filled, key
        if filled:
            assert costs.average_price[row] == pytest.approx(float(Fraction(cost, filled * scale)), rel=1e-12)
        assert costs.paper_notional[row] == pytest.approx(float(Fraction(quantity * decision, scale)), rel=1e-12)
        for name, expected in (("delay", delay), ("trading", trading), ("opportunity", opportunity),
                               ("fees", Fraction(0)), ("total", delay + trading + opportunity)):
            assert costs.currency[name][row] == pytest.approx(float(expected), rel=1e-9, abs=1e-6), (key, name)
        parts = sum(costs.currency[name][row] for name in ("delay", "trading", "opportunity", "fees"))
        assert parts == pytest.approx(costs.currency["total"][row], rel=1e-12, abs=1e-9)
        checked += 1
    assert checked == 7
    # the session did what it was meant to: fills on both sides, a liquidation that reacted after its decision
    assert any(costs.filled_quantity > 0) and any(costs.filled_quantity == 0)
    lines = [row for row, key in enumerate(costs.order_id) if key in session.plan_lines]
    assert lines and all(costs.filled_quantity[row] > 0 for row in lines)
    assert any(costs.currency["delay"][row] != 0 for row in lines)  # the review kept the market waiting


def twap_expectations(session: Session, key: str, parent_records: list[Any], notes: list[str],
                      filled: int) -> tuple[int, int]:
    """X and the arrival (= decision) price of an algorithm parent, by what the journal holds about it."""
    first = children_of(session, key)[0]
    if not parent_records:
        assert any(key in note for note in notes)  # the stand-in is said out loud
        return filled, first.arrival_price
    parent = session.gateway.extras["parents"].get(key)
    carries_arrival = any(isinstance(r.payload, dict) and r.payload.get("parent_id") == key
                          and isinstance(r.payload.get("arrival_price"), int) for r in parent_records)
    return parent.quantity, parent.arrival_price if carries_arrival else first.arrival_price


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args(argv))


def test_unwind_tca_reads_the_journal_and_needs_the_precisions(session: Session, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_html = tmp_path / "tca.json", tmp_path / "tca.html"
    before = sorted((p.name, p.stat().st_size) for p in session.directory.iterdir())
    assert run_cli(["--journal", str(session.directory), "--config", str(EXAMPLE_CONFIG), "--group-by",
                    "strategy", "--json", str(out_json), "--html", str(out_html)]) == 0
    printed = capsys.readouterr().out
    assert "LIQUIDATION" in printed and "DIRECT" in printed
    document = json.loads(out_json.read_text())
    assert document["diagnostics"]["orders"] == 7 and document["inputs"] == [f"journal:{session.directory}"]
    by_strategy = {row["strategy"]: row for row in document["groupings"][0]["rows"]}
    expected = read_journal_tca(session.directory, session.precisions())
    liquidation_filled = sum(f["quantity"] for f in expected.fills if f["order_id"].startswith("L1-"))
    assert by_strategy["LIQUIDATION"]["filled_quantity"] == liquidation_filled > 0
    assert sorted((p.name, p.stat().st_size) for p in session.directory.iterdir()) == before  # read, not changed

    # without the configuration, only the liquidated symbols' precision is in the journal: refused, naming the rest
    assert run_cli(["--journal", str(session.directory), "--json", str(out_json), "--html", str(out_html)]) == 2
    error = capsys.readouterr().err
    assert "VALIDATION_FIELD" in error and "BOLT" in error and "--config" in error and "ACME," not in error


def test_files_and_a_journal_together(session: Session, tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    fills = tmp_path / "fills.csv"
    orders.write_text("order_id,side,quantity,arrival_price,strategy,symbol\nX1,BUY,100,10.00,FILE,ACME\n")
    fills.write_text("order_id,quantity,price,ts\nX1,100,10.05,1795000000000000000\n")
    out_json = tmp_path / "tca.json"
    assert run_cli([str(orders), str(fills), "--journal", str(session.directory), "--config", str(EXAMPLE_CONFIG),
                    "--json", str(out_json), "--html", str(tmp_path / "tca.html")]) == 0
    document = json.loads(out_json.read_text())
    ids = {order["order_id"]: order for order in document["orders"]}
    assert len(ids) == 8 and ids["X1"]["trading_cost"] == pytest.approx(5.0)


def test_corrections_busts_duplicates_amends_and_parent_records(tmp_path: Path) -> None:
    """A hand-written journal: each rule on its own, with hand-computed figures."""
    clock = SimClock(START_NS)
    journal = Journal(tmp_path, JournalConfig(fsync=FsyncPolicy.NEVER), clock)

    def order(order_id: str, side: Side, quantity: int, arrival: int, parent_id: str | None = None) -> Order:
        return Order(order_id, order_id, "ACC", "alice", "ACME", side, OrderType.LIMIT, TimeInForce.DAY, quantity,
                     arrival, None, None, "SIM", clock.now_ns(), parent_id, venue_client_order_id=order_id,
                     arrival_price=arrival)

    def trade(client_order_id: str, exec_id: str, quantity: int, price: int, kind: ExecType = ExecType.TRADE,
              ref: str | None = None) -> None:
        clock.set_ns(clock.now_ns() + SECOND)
        journal.append("report", ExecutionReport("SIM", kind, client_order_id, exec_id=exec_id, last_quantity=quantity,
                                                 last_price=price, ref_exec_id=ref, ts_event=clock.now_ns()))

    journal.append("order", order("U1", Side.BUY, 100, 10_000))
    journal.append("replace", {"order_id": "U1", "client_order_id": "U1.R1", "quantity": 300, "limit_price": 10_000,
                               "ts": clock.now_ns()})
    journal.append("report", ExecutionReport("SIM", ExecType.REPLACED, "U1.R1", "U1", ts_event=clock.now_ns()))
    trade("U1.R1", "E1", 100, 10_010)
    trade("U1.R1", "E1", 100, 10_010)  # a resent duplicate
    trade("U1.R1", "E2", 100, 10_030)
    trade("U1.R1", "E3", 50, 10_000, ExecType.TRADE_CORRECT, ref="E2")  # E2 was really 50 @ 100.00
    journal.append("order", order("P9-E1", Side.SELL, 200, 10_100, parent_id="P9"))
    journal.append("order", order("P9-E2", Side.SELL, 200, 10_050, parent_id="P9"))
    trade("P9-E1", "E4", 200, 10_090)
    trade("P9-E2", "E5", 100, 10_040)
    trade("P9-E2", "E6", 100, 9_990, ExecType.TRADE_CANCEL, ref="E5")  # busted
    trade("P9-E2", "E7", 300, 10_040)  # more than the child's 200: the engine refuses it, so do we
    journal.append("parent.submitted", {"parent_id": "P9", "quantity": 1_000, "algo": "twap", "arrival_price": 10_120})
    journal.close()

    source = read_journal_tca(tmp_path, {"ACME": 2})
    orders = {o["order_id"]: o for o in source.orders}
    assert orders["U1"]["quantity"] == 300 and orders["U1"]["arrival_price"] == "100.00"
    assert orders["P9"]["quantity"] == 1_000 and orders["P9"]["strategy"] == "TWAP"
    assert orders["P9"]["arrival_price"] == "101.20"  # the parent's own arrival beats its first child's
    fills = sorted((f["order_id"], f["quantity"], f["price"]) for f in source.fills)
    assert fills == [("P9", 200, "100.90"), ("U1", 50, "100.00"), ("U1", 100, "100.10")]
    assert source.fills_refused == 2  # the duplicate and the overfill
    # the end price is the last price that stands: E4's, since the bust took E5's 100.40 away
    assert {o["end_price"] for o in source.orders} == {"100.90"}
    costs = analyse(load_journal(source.records())).orders
    row = {key: index for index, key in enumerate(costs.order_id)}
    # U1: buy X=300 at arrival 100.00, fills 100 @ 100.10 + 50 @ 100.00, rest 150 marked at 100.90
    assert costs.currency["delay"][row["U1"]] == 0
    assert costs.currency["trading"][row["U1"]] == pytest.approx(100 * 0.10)
    assert costs.currency["opportunity"][row["U1"]] == pytest.approx(150 * 0.90)
    # P9: sell X=1000 at arrival 101.20, fill 200 @ 100.90 (paid 0.30 a share), rest 800 marked at 100.90
    assert costs.currency["trading"][row["P9"]] == pytest.approx(200 * 0.30)
    assert costs.currency["opportunity"][row["P9"]] == pytest.approx(800 * 0.30)
    assert costs.currency["total"][row["P9"]] == pytest.approx(1_000 * 0.30)


def test_a_missing_journal_or_precision_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RefusalError) as missing:
        read_journal_tca(tmp_path / "nowhere")
    assert missing.value.refusal.code.value == "VALIDATION_FIELD" and "nowhere" in missing.value.refusal.message
    journal = Journal(tmp_path / "j", JournalConfig(fsync=FsyncPolicy.NEVER), SimClock(START_NS))
    journal.append("order", Order("U1", "c1", "ACC", "alice", "DYNA", Side.BUY, OrderType.MARKET, TimeInForce.DAY,
                                  10, None, None, None, "SIM", START_NS, arrival_price=8_125))
    journal.close()
    with pytest.raises(RefusalError) as unknown:
        read_journal_tca(tmp_path / "j")
    assert "DYNA" in unknown.value.refusal.message
    [record] = [r for r in read_journal_tca(tmp_path / "j", {"DYNA": 3}).orders]
    assert record["arrival_price"] == "8.125" and record["end_price"] == "8.125"  # never traded: the last arrival
