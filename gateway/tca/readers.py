"""Read orders, fills and market prints from CSV or Parquet files, or from journal records, into TcaData."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gateway.model import ErrorCode, refuse
from gateway.tca.tables import FILL_REQUIRED, ORDER_REQUIRED, TAPE_REQUIRED, TcaData, build_data

Columns = dict[str, Any]
ORDERS, FILLS, TAPE = "orders", "fills", "tape"


def read_csv(path: Path) -> Columns:
    """Return the file's columns as lists of text (header row first; blank cells are empty text)."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise refuse(ErrorCode.VALIDATION_FIELD, f"{path}: empty file, expected a header row") from None
        columns: Columns = {name: [] for name in header}
        lists = [columns[name] for name in header]
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise refuse(
                    ErrorCode.VALIDATION_FIELD, f"{path} line {line}: {len(row)} cells, header has {len(header)}"
                )
            for values, cell in zip(lists, row):
                values.append(cell)
    return columns


def read_parquet(path: Path) -> Columns:
    """Return the file's columns: numbers and times as numpy arrays, text as lists."""
    try:
        import pyarrow.parquet as pq
        import pyarrow.types as pt
    except ImportError:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"{path}: reading Parquet needs the pyarrow package") from None
    table = pq.read_table(path)
    columns: Columns = {}
    for name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pt.is_timestamp(kind):
            columns[name] = column.cast("timestamp[ns]").to_numpy().astype("datetime64[ns]")
        elif pt.is_decimal(kind):
            columns[name] = column.cast("float64").to_numpy()
        elif pt.is_integer(kind) and column.null_count == 0:
            columns[name] = column.to_numpy().astype(np.int64)
        elif pt.is_floating(kind):
            columns[name] = column.to_numpy(zero_copy_only=False).astype(np.float64)
        elif pt.is_boolean(kind) and column.null_count == 0:
            columns[name] = column.to_numpy(zero_copy_only=False).astype(bool)
        else:
            columns[name] = column.to_pylist()
    return columns


def read_file(path: Path) -> Columns:
    """Read one CSV or Parquet file by its suffix."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return read_parquet(path)
    if suffix in (".csv", ".txt"):
        return read_csv(path)
    raise refuse(ErrorCode.VALIDATION_FIELD, f"{path}: unknown file type {suffix!r}, expected .csv or .parquet")


def classify(columns: Mapping[str, Any], source: str) -> str:
    """Tell orders (they have arrival_price), fills (order_id and price) and market prints (no order_id) apart."""
    names = set(columns)
    if set(ORDER_REQUIRED) <= names:
        return ORDERS
    if set(FILL_REQUIRED) <= names:
        return FILLS
    if set(TAPE_REQUIRED) <= names and "order_id" not in names:
        return TAPE
    raise refuse(
        ErrorCode.VALIDATION_FIELD,
        f"{source}: columns {sorted(names)} match none of orders {list(ORDER_REQUIRED)}, fills {list(FILL_REQUIRED)}"
        f" or market prints {list(TAPE_REQUIRED)}",
    )


def _concat(parts: Sequence[Columns], source: str) -> Columns:
    """Join tables of one kind; a column missing from some file is blank there."""
    names: list[str] = []
    for part in parts:
        names.extend(name for name in part if name not in names)
    out: Columns = {}
    for name in names:
        pieces: list[Any] = []
        for part in parts:
            length = len(next(iter(part.values()))) if part else 0
            values = part.get(name)
            pieces.extend(list(values) if values is not None else [""] * length)
        if len(parts) == 1 and name in parts[0]:
            out[name] = parts[0][name]
        else:
            out[name] = pieces
    return out


def load_files(paths: Iterable[Path], *, utc_offset_ns: int = 0) -> TcaData:
    """Read every file, sort them into orders, fills and prints by their columns, and build TcaData."""
    return load_inputs(paths, utc_offset_ns=utc_offset_ns)


def load_inputs(
    paths: Iterable[Path],
    records: Iterable[Mapping[str, Any]] = (),
    *,
    records_source: str = "journal",
    utc_offset_ns: int = 0,
) -> TcaData:
    """Read files and journal records (as ``load_journal`` takes them) together into one TcaData."""
    found: dict[str, list[Columns]] = {ORDERS: [], FILLS: [], TAPE: []}
    names: dict[str, list[str]] = {ORDERS: [], FILLS: [], TAPE: []}
    for path in paths:
        columns = read_file(path)
        kind = classify(columns, str(path))
        found[kind].append(columns)
        names[kind].append(str(path))
    for kind, columns in _record_columns(records).items():
        if columns["order_id" if kind != TAPE else "symbol"]:
            found[kind].append(columns)
            names[kind].append(records_source)
    if not found[ORDERS]:
        raise refuse(ErrorCode.VALIDATION_FIELD, f"no orders file among the inputs (one needs {list(ORDER_REQUIRED)})")
    fills = _concat(found[FILLS], "fills") if found[FILLS] else {name: [] for name in FILL_REQUIRED}
    return build_data(
        _concat(found[ORDERS], "orders"),
        fills,
        _concat(found[TAPE], "tape") if found[TAPE] else None,
        order_source="+".join(names[ORDERS]),
        fill_source="+".join(names[FILLS]) or "fills",
        tape_source="+".join(names[TAPE]) or "tape",
        utc_offset_ns=utc_offset_ns,
    )


def load_journal(records: Iterable[Mapping[str, Any]], *, utc_offset_ns: int = 0) -> TcaData:
    """Build TcaData from journal records: dicts with ``record`` = "order", "fill" or "print" and the file columns.

    The fields of each kind are the columns of the files (docs/tca.md); prices may be decimal text or numbers.
    Records of other kinds are skipped, so the whole journal can be passed.
    """
    tables = _record_columns(records)
    if not tables[ORDERS]["order_id"]:
        raise refuse(ErrorCode.VALIDATION_FIELD, "journal: no order records")
    return build_data(
        tables[ORDERS],
        tables[FILLS],
        tables[TAPE] if tables[TAPE]["symbol"] else None,
        order_source="journal orders",
        fill_source="journal fills",
        tape_source="journal prints",
        utc_offset_ns=utc_offset_ns,
    )


def _record_columns(records: Iterable[Mapping[str, Any]]) -> dict[str, Columns]:
    """Sort records by their ``record`` kind into orders, fills and prints columns (required names first)."""
    kinds = {"order": (ORDERS, ORDER_REQUIRED), "fill": (FILLS, FILL_REQUIRED), "print": (TAPE, TAPE_REQUIRED)}
    rows: dict[str, list[Mapping[str, Any]]] = {ORDERS: [], FILLS: [], TAPE: []}
    for record in records:
        kind = kinds.get(record.get("record"))  # type: ignore[arg-type]
        if kind is not None:
            rows[kind[0]].append(record)
    tables: dict[str, Columns] = {}
    for table, required in kinds.values():
        names: list[str] = list(required)
        for record in rows[table]:
            names.extend(name for name in record if name != "record" and name not in names)
        tables[table] = {name: [record.get(name, "") for record in rows[table]] for name in names}
    return tables
