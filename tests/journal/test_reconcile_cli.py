"""``unwind reconcile`` lists every difference between the journal's fills and the venue's; and ``unwind serve`` with a
journal_dir journals, exports the venue's tape at a clean stop, and recovers at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import orjson
from journal_helpers import MS

from gateway.app import serve
from gateway.cli import main
from gateway.config import parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.model import OrderType, Side, SubmitOrder, TimeInForce
from gateway.reconcile import read_executions, write_executions


def trade_some(world) -> None:
    world.venue.open_market()
    world.advance_ns(200 * MS)
    engine = world.engine
    for number in range(40):
        quote = world.venue.quote("ACME")
        side = Side.BUY if number % 2 else Side.SELL
        price = quote.ask_price if side is Side.BUY else quote.bid_price
        engine.submit_order(world.principal("alice"), SubmitOrder("ALICE-1", "ACME", side, OrderType.LIMIT, 50,
                                                                  f"x{number}", TimeInForce.DAY, price))
        world.advance_ns(50 * MS)


def test_reconcile_agrees_then_lists_every_kind_of_difference(journaled_world, tmp_path: Path, capsys) -> None:
    world = journaled_world()
    trade_some(world)
    tape = tmp_path / "venue-SIM-executions.jsonl"
    write_executions(tape, world.venue.executions())
    assert main(["reconcile", "--journal", str(world.directory), "--venue-executions", str(tape)]) == 0
    out = capsys.readouterr().out
    fills = len(world.venue_fills())
    assert fills >= 5 and f"{fills} fills" in out and "no differences" in out

    rows = list(read_executions(tape))
    trades = [index for index, row in enumerate(rows) if row["exec_type"] == "TRADE"]
    dropped = rows[trades[0]]
    rows[trades[1]]["last_price"] += 1
    rows[trades[2]]["last_quantity"] += 10
    invented = {**rows[trades[3]], "exec_id": "SIM-E999999"}
    kept = [row for index, row in enumerate(rows) if index != trades[0]] + [invented]
    tape.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in kept))
    assert main(["reconcile", "--journal", str(world.directory), "--venue-executions", str(tape), "--json"]) == 1
    report = orjson.loads(capsys.readouterr().out)
    found = {(d["kind"], d["exec_id"]) for d in report["differences"]}
    assert found == {("MISSING_AT_VENUE", dropped["exec_id"]), ("PRICE_MISMATCH", rows[trades[1]]["exec_id"]),
                     ("QUANTITY_MISMATCH", rows[trades[2]]["exec_id"]), ("MISSING_IN_JOURNAL", "SIM-E999999")}


def test_reconcile_refuses_a_missing_journal_or_file(tmp_path: Path, capsys) -> None:
    assert main(["reconcile", "--journal", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["reconcile", "--journal", str(tmp_path)]) == 2
    assert "no venue executions" in capsys.readouterr().err


async def run_gateway_once(config, orders: int) -> object:
    stop = asyncio.Event()
    ready: asyncio.Future = asyncio.get_running_loop().create_future()
    task = asyncio.get_running_loop().create_task(serve(config, stop, ready))
    gateway = await asyncio.wait_for(ready, 20)
    base = f"http://127.0.0.1:{gateway.extras['server'].port}"
    async with aiohttp.ClientSession(headers={"X-API-Key": DEMO_KEYS["alice"]}) as http:
        for number in range(orders):
            body = {"account": "ALICE-1", "symbol": "ACME", "side": "BUY", "quantity": 10, "price": "99.00",
                    "client_order_id": f"s{len(gateway.engine.orders.by_id)}-{number}"}
            async with http.post(f"{base}/v1/orders", json=body) as response:
                assert response.status == 200, await response.text()
    stop.set()
    await asyncio.wait_for(task, 20)
    return gateway


async def test_serve_with_a_journal_dir_journals_recovers_and_reconciles(tmp_path: Path) -> None:
    data = demo_config_data()
    data["gateway"]["journal_dir"] = str(tmp_path / "journal")
    data["venues"][0].update({"open_market": False, "latency_ns": 0})
    config = parse_config(data)
    first = await run_gateway_once(config, orders=3)
    assert (tmp_path / "journal" / "venue-SIM-executions.jsonl").exists()  # the tape, written at the clean stop
    assert list((tmp_path / "journal").glob("snapshot-*.snap"))  # and a last snapshot for a fast start
    assert main(["reconcile", "--journal", str(tmp_path / "journal")]) == 0
    second = await run_gateway_once(config, orders=1)  # a new process: its in-process venue starts empty
    recovery = second.extras["recovery"]  # type: ignore[attr-defined]
    assert recovery.summary.orders_rebuilt == 3 and recovery.summary.orders_resolved == 3
    assert sorted(second.engine.orders.by_id) == ["U1", "U2", "U3", "U4"]  # type: ignore[attr-defined]
    assert first.engine.order_sequence == 3  # type: ignore[attr-defined]
