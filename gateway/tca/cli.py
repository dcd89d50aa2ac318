"""The ``unwind tca [FILE...] [--journal DIR]`` command: read orders, fills and prints; print tables; write reports."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import structlog

from gateway.model import ErrorCode, RefusalError, refuse

log = structlog.get_logger(__name__)

NS_PER_MINUTE = 60_000_000_000
DEFAULT_GROUPINGS = ("strategy", "client", "bucket")
PLOT_GROUPINGS = (("strategy",), ("bucket",))  # the HTML plots need these, so they are always computed


def _grouping(text: str) -> tuple[str, ...]:
    from gateway.tca.analysis import GROUP_KEYS

    names = tuple(name.strip() for name in text.split(",") if name.strip())
    wrong = [name for name in names if name not in GROUP_KEYS]
    if not names or wrong or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct keys among {', '.join(GROUP_KEYS)}")
    return names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the tca command's arguments to its (sub)parser."""
    parser.add_argument(
        "files",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="CSV or Parquet files of orders, fills and (optionally) market prints, told apart by columns",
    )
    parser.add_argument(
        "--journal",
        type=Path,
        metavar="DIR",
        help="a gateway journal directory: its orders (one per parent) and fills, read without changing it",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the gateway's TOML configuration, for the instruments' price precision of journal prices",
    )
    parser.add_argument(
        "--group-by",
        action="append",
        type=_grouping,
        metavar="KEYS",
        dest="group_by",
        help="comma-separated keys among client, account, strategy, venue, symbol, bucket; repeatable"
        f" (default: {' / '.join(DEFAULT_GROUPINGS)})",
    )
    parser.add_argument("--bucket-minutes", type=int, default=30, help="width of time-of-day buckets (default 30)")
    parser.add_argument(
        "--utc-offset-minutes",
        type=int,
        default=0,
        help="local time = UTC + this, for buckets and trading days (default 0)",
    )
    parser.add_argument(
        "--outlier-z",
        type=float,
        default=4.0,
        help="flag orders this many robust standard deviations from the median total bps (default 4)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path("tca.json"),
        dest="json_path",
        help="where to write the JSON results (default tca.json)",
    )
    parser.add_argument(
        "--html",
        type=Path,
        default=Path("tca.html"),
        dest="html_path",
        help="where to write the HTML report (default tca.html)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the analysis; return 0, or 2 when the input is refused (the reason goes to stderr)."""
    from gateway.tca.analysis import analyse
    from gateway.tca.readers import load_inputs
    from gateway.tca.report import html_page, json_document, text_table

    started = time.perf_counter()
    requested = list(args.group_by or [(name,) for name in DEFAULT_GROUPINGS])
    groupings = requested + [g for g in PLOT_GROUPINGS if g not in requested]
    try:
        if args.bucket_minutes <= 0 or (24 * 60) % args.bucket_minutes:
            raise refuse(
                ErrorCode.VALIDATION_PARAMETER,
                f"--bucket-minutes {args.bucket_minutes} must divide 1440 (24 hours) evenly",
                "bucket_minutes",
            )
        offset_ns = args.utc_offset_minutes * NS_PER_MINUTE
        journal = getattr(args, "journal", None)
        if not args.files and journal is None:
            raise refuse(ErrorCode.VALIDATION_FIELD, "give input FILEs, --journal DIR, or both", "files")
        records: list[dict[str, object]] = []
        if journal is not None:
            from gateway.tca.journal_source import instrument_precisions, read_journal_tca

            config = getattr(args, "config", None)
            source = read_journal_tca(journal, instrument_precisions(config) if config is not None else None)
            for note in source.notes:
                print(f"note: {note}")
            records = list(source.records())
        data = load_inputs(args.files, records, records_source=f"journal {journal}", utc_offset_ns=offset_ns)
        result = analyse(
            data,
            groupings,
            bucket_width_ns=args.bucket_minutes * NS_PER_MINUTE,
            utc_offset_ns=offset_ns,
            outlier_z=args.outlier_z,
        )
    except RefusalError as error:
        print(f"error {error.refusal.code.value}: {error.refusal.message}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"error {ErrorCode.VALIDATION_FIELD.value}: cannot read {error.filename}: {error.strerror}", file=sys.stderr
        )
        return 2
    inputs = [str(path) for path in args.files] + ([f"journal:{journal}"] if journal is not None else [])
    for table in result.groupings:
        if table.group_by in requested:
            print(text_table(table))
            print()
    skipped = {k: v for k, v in result.diagnostics.items() if k.startswith(("fills_", "orders_excluded")) and v}
    skipped.pop("fills_used", None)
    if skipped:
        print("left out or repaired: " + ", ".join(f"{k}={v}" for k, v in skipped.items()))
    args.json_path.write_text(json.dumps(json_document(result, inputs), indent=1, allow_nan=False))
    args.html_path.write_text(html_page(result, inputs), encoding="utf-8")
    print(f"wrote {args.json_path} and {args.html_path}")
    log.info(
        "tca_report_written",
        orders=result.diagnostics["orders"],
        fills=result.diagnostics["fills"],
        json=str(args.json_path),
        html=str(args.html_path),
        seconds=round(time.perf_counter() - started, 3),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command standalone (``python -m gateway.tca.cli``), as ``unwind tca`` does."""
    parser = argparse.ArgumentParser(prog="unwind tca", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
