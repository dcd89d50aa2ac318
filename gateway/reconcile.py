"""``unwind reconcile``: compare the fills in the journal with the venues' own record of executions; list every difference.

The venue's record is a JSON Lines file, one execution report per line, with the fields of
``gateway.model.ExecutionReport`` (``venue``, ``exec_type``, ``client_order_id``, ``exec_id``, ``last_quantity``,
``last_price`` in integer price units, ``ref_exec_id``, ``ts_event``, ...); other keys are ignored. The simulated
venue's tape is written in this format by ``export_sim_executions`` (``unwind serve`` does it at a clean stop, as
``venue-<NAME>-executions.jsonl`` in the journal directory); a FIX venue's drop copy can be converted to it.

Both sides are reduced to their effective fills (a TRADE_CANCEL removes the fill it refers to, a TRADE_CORRECT
replaces its quantity and price), keyed by (venue, exec_id), and compared: missing in the journal, missing at the
venue, quantity or price different, or recorded twice in the journal. Exit status 0 when they agree, 1 when not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from gateway.model import ExecType, ExecutionReport

FILL_TYPES = frozenset({ExecType.TRADE.value, ExecType.TRADE_CANCEL.value, ExecType.TRADE_CORRECT.value})


@dataclass(slots=True)
class EffectiveFill:
    venue: str
    exec_id: str
    client_order_id: str
    quantity: int
    price: int
    times_recorded: int = 1


@dataclass(slots=True)
class Difference:
    kind: str  # MISSING_IN_JOURNAL, MISSING_AT_VENUE, QUANTITY_MISMATCH, PRICE_MISMATCH, DUPLICATE_IN_JOURNAL
    venue: str
    exec_id: str
    client_order_id: str
    journal: str | None  # "qty @ price" as each side has it
    venue_side: str | None


# --- the venue's file -------------------------------------------------------------------------------------------


def write_executions(path: str | Path, reports: Iterable[ExecutionReport]) -> int:
    """Write ``reports`` as JSON Lines; return how many."""
    count = 0
    with open(path, "wb") as handle:
        for report in reports:
            handle.write(orjson.dumps(report))
            handle.write(b"\n")
            count += 1
    return count


def read_executions(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield each line of a venue executions file as a dict; a bad line raises ValueError naming the line."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON: {error}") from None
            if not isinstance(row, dict) or "exec_type" not in row or "venue" not in row:
                raise ValueError(f"{path}:{number}: expected an object with venue and exec_type")
            yield row


def export_sim_executions(gateway: Any, directory: str | Path | None) -> list[Path]:
    """Write the tape of every simulated venue of ``gateway`` into ``directory``; return the files written."""
    if directory is None:
        return []
    written = []
    for name, adapter in gateway.adapters.items():
        executions = getattr(adapter, "executions", None)
        if executions is None:
            continue
        path = Path(directory) / f"venue-{name}-executions.jsonl"
        write_executions(path, executions())
        written.append(path)
    return written


# --- effective fills --------------------------------------------------------------------------------------------


def effective_fills(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str], EffectiveFill]:
    """Reduce execution reports (dicts) to the fills that stand, by (venue, exec_id)."""
    fills: dict[tuple[str, str], EffectiveFill] = {}
    for row in rows:
        exec_type = row.get("exec_type")
        if exec_type not in FILL_TYPES:
            continue
        venue = row["venue"]
        if exec_type == ExecType.TRADE.value:
            key = (venue, row.get("exec_id") or "")
            existing = fills.get(key)
            if existing is not None:
                existing.times_recorded += 1
                continue
            fills[key] = EffectiveFill(venue, key[1], row.get("client_order_id", ""), int(row["last_quantity"]),
                                       int(row["last_price"]))
            continue
        original = fills.get((venue, row.get("ref_exec_id") or ""))
        if original is None:
            continue  # a correction of a fill neither side has: the fill itself shows up as the difference
        if exec_type == ExecType.TRADE_CANCEL.value:
            original.quantity = 0
        else:
            original.quantity, original.price = int(row["last_quantity"]), int(row["last_price"])
    return fills


def journal_report_rows(journal_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every venue report the journal recorded, as dicts, oldest first."""
    from gateway.journal import read_records

    for record in read_records(journal_dir):
        if record.kind == "report" and isinstance(record.payload, dict):
            yield record.payload


def compare(journal: dict[tuple[str, str], EffectiveFill], venue: dict[tuple[str, str], EffectiveFill],
            venues: set[str]) -> list[Difference]:
    """Every difference between the journal's fills and the venues' fills, for the venues in ``venues``."""
    differences = []

    def text(fill: EffectiveFill) -> str:
        return f"{fill.quantity} @ {fill.price}"

    for key in sorted(set(journal) | set(venue)):
        if key[0] not in venues:
            continue
        ours, theirs = journal.get(key), venue.get(key)
        if ours is not None and ours.times_recorded > 1:
            differences.append(Difference("DUPLICATE_IN_JOURNAL", key[0], key[1], ours.client_order_id,
                                          f"{text(ours)} recorded {ours.times_recorded} times",
                                          text(theirs) if theirs else None))
        if ours is None and theirs is not None:
            if theirs.quantity:
                differences.append(Difference("MISSING_IN_JOURNAL", key[0], key[1], theirs.client_order_id, None,
                                              text(theirs)))
        elif theirs is None and ours is not None:
            if ours.quantity:
                differences.append(Difference("MISSING_AT_VENUE", key[0], key[1], ours.client_order_id, text(ours),
                                              None))
        elif ours is not None and theirs is not None:
            if ours.quantity != theirs.quantity:
                differences.append(Difference("QUANTITY_MISMATCH", key[0], key[1], ours.client_order_id, text(ours),
                                              text(theirs)))
            elif ours.quantity and ours.price != theirs.price:
                differences.append(Difference("PRICE_MISMATCH", key[0], key[1], ours.client_order_id, text(ours),
                                              text(theirs)))
    return differences


# --- the command ------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", required=True, help="the gateway's journal directory")
    parser.add_argument("--venue-executions", action="append", default=[], metavar="FILE",
                        help="a venue's executions as JSON Lines (repeatable); default: every "
                             "venue-*-executions.jsonl in the journal directory")
    parser.add_argument("--json", action="store_true", help="print the differences as JSON")


def run(args: argparse.Namespace) -> int:
    journal_dir = Path(args.journal)
    if not journal_dir.is_dir():
        print(f"reconcile: --journal {journal_dir} is not a directory", file=sys.stderr)
        return 2
    files = [Path(f) for f in args.venue_executions] or sorted(journal_dir.glob("venue-*-executions.jsonl"))
    if not files:
        print(f"reconcile: no venue executions given and none found in {journal_dir}", file=sys.stderr)
        return 2
    venue_rows: list[dict[str, Any]] = []
    try:
        for path in files:
            venue_rows.extend(read_executions(path))
    except (OSError, ValueError) as error:
        print(f"reconcile: {error}", file=sys.stderr)
        return 2
    venue_fills = effective_fills(venue_rows)
    journal_fills = effective_fills(journal_report_rows(journal_dir))
    venues = {row["venue"] for row in venue_rows}
    differences = compare(journal_fills, venue_fills, venues)
    if args.json:
        print(orjson.dumps({"venues": sorted(venues), "journal_fills": len(journal_fills),
                            "venue_fills": len(venue_fills), "differences": [asdict(d) for d in differences]},
                           option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"journal {journal_dir}: {sum(1 for k in journal_fills if k[0] in venues)} fills; "
              f"venues {', '.join(sorted(venues))}: {len(venue_fills)} fills (prices in integer price units)")
        for d in differences:
            print(f"{d.kind:<21} {d.venue:<8} exec {d.exec_id:<16} order {d.client_order_id:<14} "
                  f"journal: {d.journal or '-':<20} venue: {d.venue_side or '-'}")
        print(f"{len(differences)} difference(s)" if differences else "no differences")
    return 1 if differences else 0
