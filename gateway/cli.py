"""The ``unwind`` command. Sub-commands import what they need when they run, so ``unwind --help`` stays instant."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any


def _load_config(path: str) -> object | None:
    """The validated configuration, or None after saying on stderr which key is wrong."""
    from gateway.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    from gateway.app import run_server

    config = _load_config(args.config)
    return 2 if config is None else run_server(config)  # type: ignore[arg-type]


def _demo(args: argparse.Namespace) -> int:
    from gateway.demo import run_demo

    return run_demo(args.scenario, speed=args.speed, color=not args.no_color)


def _check_config(args: argparse.Namespace) -> int:
    config: Any = _load_config(args.config)
    if config is None:
        return 2
    print(f"ok: {len(config.instruments)} instruments, {len(config.accounts)} accounts, "
          f"{len(config.principals)} principals, venues {', '.join(v.name for v in config.venues)}")
    return 0


def _lazy(module: str, function: str = "run") -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), function)(args))

    return run


def _lazy_arguments(module: str, parser: argparse.ArgumentParser) -> None:
    """Let the owning module declare its own options, importing it only when that sub-command is asked for."""
    import importlib

    importlib.import_module(module).add_arguments(parser)


PLUGGED: dict[str, tuple[str, str]] = {
    # name: (module with add_arguments/run, help)
    "tca": ("gateway.tca.cli", "transaction cost analysis of fills and orders (CSV, Parquet or journal)"),
    "sim-venue": ("adapters.fix.acceptor", "run the simulated venue as a FIX 4.4 acceptor"),
    "reconcile": ("gateway.reconcile", "compare the journal with the venue's executions and list every difference"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unwind", description="Unwind: order execution and forced-liquidation gateway")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="TOML configuration file (see examples/gateway.toml)")
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="run the gateway on the simulated venue with a scripted session to watch")
    demo.add_argument("--scenario", choices=["basic", "crash"], default="basic",
                      help="basic: orders of every type, a cancel, an amend, refusals, the kill switch; "
                           "crash: the market gaps down and leveraged accounts are liquidated")
    demo.add_argument("--speed", type=float, default=1.0, help="pace of the script: 2 runs it twice as fast")
    demo.add_argument("--no-color", action="store_true", help="plain text output")
    demo.set_defaults(run=_demo)

    check = commands.add_parser("check-config", help="validate a configuration file and exit")
    check.add_argument("config")
    check.set_defaults(run=_check_config)

    for name, (module, help_text) in PLUGGED.items():
        sub = commands.add_parser(name, help=help_text)
        if len(argv) > 0 and argv[0] == name:
            _lazy_arguments(module, sub)
        sub.set_defaults(run=_lazy(module))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
