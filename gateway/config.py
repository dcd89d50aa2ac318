"""The gateway's configuration: one TOML file, read with tomllib and validated at start with errors that name the key."""

from __future__ import annotations

import csv
import os
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from gateway.model import Account, Instrument, Role


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key."""


@dataclass(slots=True, frozen=True)
class RiskLimits:
    """Limits for one order; 0 means no limit. Notional in whole currency."""

    max_order_quantity: int = 0
    max_order_notional: int = 0
    max_open_orders: int = 0


@dataclass(slots=True, frozen=True)
class RiskConfig:
    default_limits: RiskLimits = RiskLimits(max_order_quantity=1_000_000, max_order_notional=50_000_000,
                                            max_open_orders=10_000)
    account_limits: dict[str, RiskLimits] = field(default_factory=dict)
    instrument_limits: dict[str, RiskLimits] = field(default_factory=dict)
    price_collar_bps: int = 1_000  # 10% either side of the reference price; 0 turns the collar off
    principal_messages_per_second: int = 0  # 0: no throttle
    venue_messages_per_second: int = 0
    liquidation_reserved_share: float = 0.2  # share of every venue throttle only liquidation may use
    restricted_symbols: frozenset[str] = frozenset()


@dataclass(slots=True, frozen=True)
class Principal:
    name: str
    role: Role
    api_key: str
    accounts: frozenset[str] = frozenset()  # for traders: the accounts they own

    def can_trade(self, account: str) -> bool:
        return self.role is not Role.TRADER or account in self.accounts


@dataclass(slots=True, frozen=True)
class VenueConfig:
    name: str
    kind: str  # "sim" or "fix"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class RoutingConfig:
    default_venue: str
    by_account: dict[str, str] = field(default_factory=dict)
    by_symbol: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class GatewayConfig:
    instruments: dict[str, Instrument]
    accounts: dict[str, Account]
    principals: dict[str, Principal]  # by api key
    venues: list[VenueConfig]
    routing: RoutingConfig
    risk: RiskConfig = RiskConfig()
    host: str = "127.0.0.1"
    port: int = 8700
    log_level: str = "info"
    log_file: str | None = None
    journal_dir: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # sections owned by other modules (liquidation, algos)


# --- readers that name the key ------------------------------------------------------------------------------------


def _get(table: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{path}{key}: required key is missing")
        return default
    value = table[key]
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(f"{path}{key}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{path}{key}: expected {_kind_name(kind)}, got {type(value).__name__} {value!r}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
                        "dict": "a table", "list": "an array"}.get(k.__name__, k.__name__) for k in kinds)


def refuse_unknown_keys(table: dict[str, Any], known: set[str] | frozenset[str], path: str) -> None:
    """A misspelt key must not fall back to a default silently."""
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{path}{unknown[0]}: unknown key; known keys are {', '.join(sorted(known))}")


INSTRUMENT_KEYS = frozenset({"symbol", "price_precision", "tick_size", "lot_size", "reference_price", "daily_limit_pct",
                             "limit_down", "limit_up", "average_daily_volume"})
ACCOUNT_KEYS = frozenset({"id", "trader", "cash", "positions", "liquidate_last"})
PRINCIPAL_KEYS = frozenset({"name", "role", "api_key", "api_key_env", "accounts"})
LIMIT_KEYS = frozenset({"max_order_quantity", "max_order_notional", "max_open_orders"})
RISK_KEYS = LIMIT_KEYS | {"accounts", "instruments", "price_collar_bps", "principal_messages_per_second",
                          "venue_messages_per_second", "liquidation_reserved_share", "restricted_symbols"}
GATEWAY_KEYS = frozenset({"host", "port", "log_level", "log_file", "journal_dir", "instruments_csv", "accounts_csv"})
ROUTING_KEYS = frozenset({"default_venue", "accounts", "symbols"})
SECTIONS = frozenset({"gateway", "instruments", "accounts", "principals", "venues", "routing", "risk"})
PLUG_IN_SECTIONS = frozenset({"liquidation", "journal", "algos"})  # validated by their owners


def _positive_int(table: dict[str, Any], key: str, path: str, default: Any = ..., allow_zero: bool = False) -> int:
    value = _get(table, key, path, int, default)
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{path}{key}: must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: expected a decimal string such as \"0.01\", got {value!r}")
    try:
        number = Decimal(value) if not isinstance(value, float) else Decimal(repr(value))
    except InvalidOperation:
        raise ConfigError(f"{where}: {value!r} is not a decimal number") from None
    if not number.is_finite():
        raise ConfigError(f"{where}: {value!r} is not finite")
    return number


def _price_units(value: Any, where: str, precision: int) -> int:
    units = _decimal(value, where) * 10**precision
    if units != units.to_integral_value() or units < 0:
        raise ConfigError(f"{where}: {value!r} is not a non-negative price with at most {precision} decimals")
    return int(units)


def parse_instrument(row: dict[str, Any], path: str) -> Instrument:
    refuse_unknown_keys(row, INSTRUMENT_KEYS, path)
    symbol = _get(row, "symbol", path, str)
    precision = _get(row, "price_precision", path, int)
    if not 0 <= precision <= 9:
        raise ConfigError(f"{path}price_precision: must be 0..9, got {precision}")
    tick = _price_units(row.get("tick_size", "0.01"), f"{path}tick_size", precision)
    if tick <= 0:
        raise ConfigError(f"{path}tick_size: must be > 0 at precision {precision}, got {row.get('tick_size')!r}")
    reference = _price_units(_get(row, "reference_price", path, (str, int, float)), f"{path}reference_price", precision)
    if reference <= 0 or reference % tick:
        raise ConfigError(f"{path}reference_price: must be positive and on the tick, got {row['reference_price']!r}")
    limit_pct = _decimal(row.get("daily_limit_pct", 0), f"{path}daily_limit_pct")
    if "limit_down" in row or "limit_up" in row:
        limit_down = _price_units(row.get("limit_down", 0), f"{path}limit_down", precision)
        limit_up = _price_units(row.get("limit_up", 0), f"{path}limit_up", precision)
    elif limit_pct > 0:
        band = int(Decimal(reference) * limit_pct / 100)
        limit_down = max(tick, (reference - band) // tick * tick)
        limit_up = -(-(reference + band) // tick) * tick
    else:
        limit_down = limit_up = 0
    if limit_down and limit_up and limit_down >= limit_up:
        raise ConfigError(f"{path}limit_down: must be below limit_up")
    return Instrument(
        symbol=symbol,
        tick_size=tick,
        lot_size=_positive_int(row, "lot_size", path, 1),
        price_precision=precision,
        reference_price=reference,
        limit_down=limit_down,
        limit_up=limit_up,
        average_daily_volume=_positive_int(row, "average_daily_volume", path, 1_000_000),
    )


def parse_account(row: dict[str, Any], path: str, instruments: dict[str, Instrument]) -> Account:
    refuse_unknown_keys(row, ACCOUNT_KEYS, path)
    account_id = _get(row, "id", path, str)
    positions = _get(row, "positions", path, dict, {})
    for symbol, quantity in positions.items():
        if symbol not in instruments:
            raise ConfigError(f"{path}positions.{symbol}: unknown symbol")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise ConfigError(f"{path}positions.{symbol}: expected an integer quantity, got {quantity!r}")
    liquidate_last = _get(row, "liquidate_last", path, list, [])
    for symbol in liquidate_last:
        if symbol not in instruments:
            raise ConfigError(f"{path}liquidate_last: unknown symbol {symbol!r}")
    return Account(
        account_id=account_id,
        trader=_get(row, "trader", path, str, None),
        cash=_get(row, "cash", path, int, 0),
        start_positions=dict(positions),
        liquidate_last=frozenset(liquidate_last),
    )


def _read_csv(path: Path, where: str, integer_columns: frozenset[str]) -> list[dict[str, Any]]:
    """Rows of a CSV file; only the named integer columns (and position_*) become integers, so a symbol stays text."""
    if not path.exists():
        raise ConfigError(f"{where}: file {path} does not exist")
    rows = []
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            parsed: dict[str, Any] = {}
            for key, value in row.items():
                if value in (None, ""):
                    continue
                if key in integer_columns or key.startswith("position_"):
                    try:
                        parsed[key] = int(value)
                    except ValueError:
                        raise ConfigError(f"{where}: {path} line {line}, column {key}: expected an integer, got "
                                          f"{value!r}") from None
                else:
                    parsed[key] = value
            rows.append(parsed)
    return rows


def _limits(table: dict[str, Any], path: str, base: RiskLimits) -> RiskLimits:
    refuse_unknown_keys(table, LIMIT_KEYS, path)
    return RiskLimits(
        max_order_quantity=_positive_int(table, "max_order_quantity", path, base.max_order_quantity, True),
        max_order_notional=_positive_int(table, "max_order_notional", path, base.max_order_notional, True),
        max_open_orders=_positive_int(table, "max_open_orders", path, base.max_open_orders, True),
    )


def parse_risk(table: dict[str, Any]) -> RiskConfig:
    path = "risk."
    refuse_unknown_keys(table, RISK_KEYS, path)
    defaults = _limits({k: v for k, v in table.items() if k in LIMIT_KEYS}, path, RiskConfig().default_limits)
    accounts = {k: _limits(v, f"risk.accounts.{k}.", defaults) for k, v in _get(table, "accounts", path, dict, {}).items()}
    instruments = {
        k: _limits(v, f"risk.instruments.{k}.", RiskLimits()) for k, v in _get(table, "instruments", path, dict, {}).items()
    }
    share = _get(table, "liquidation_reserved_share", path, (int, float), 0.2)
    if not 0 <= share < 1:
        raise ConfigError(f"risk.liquidation_reserved_share: must be in [0, 1), got {share}")
    return RiskConfig(
        default_limits=defaults,
        account_limits=accounts,
        instrument_limits=instruments,
        price_collar_bps=_positive_int(table, "price_collar_bps", path, 1_000, True),
        principal_messages_per_second=_positive_int(table, "principal_messages_per_second", path, 0, True),
        venue_messages_per_second=_positive_int(table, "venue_messages_per_second", path, 0, True),
        liquidation_reserved_share=float(share),
        restricted_symbols=frozenset(_get(table, "restricted_symbols", path, list, [])),
    )


def _secret(row: dict[str, Any], path: str) -> str:
    if "api_key_env" in row:
        name = _get(row, "api_key_env", path, str)
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"{path}api_key_env: environment variable {name} is not set")
        return value
    key = _get(row, "api_key", path, str)
    if len(key) < 8:
        raise ConfigError(f"{path}api_key: must be at least 8 characters")
    return key


def parse_config(data: dict[str, Any], base_dir: Path = Path(".")) -> GatewayConfig:
    refuse_unknown_keys(data, SECTIONS | PLUG_IN_SECTIONS, "")
    gateway = _get(data, "gateway", "", dict, {})
    refuse_unknown_keys(gateway, GATEWAY_KEYS, "gateway.")
    instruments_rows = list(_get(data, "instruments", "", list, []))
    if "instruments_csv" in gateway:
        instruments_rows += _read_csv(base_dir / gateway["instruments_csv"], "gateway.instruments_csv",
                                    frozenset({"price_precision", "lot_size", "average_daily_volume"}))
    instruments: dict[str, Instrument] = {}
    for index, row in enumerate(instruments_rows):
        instrument = parse_instrument(row, f"instruments[{index}].")
        if instrument.symbol in instruments:
            raise ConfigError(f"instruments[{index}].symbol: {instrument.symbol} is defined twice")
        instruments[instrument.symbol] = instrument
    if not instruments:
        raise ConfigError("instruments: at least one instrument is required")

    account_rows = list(_get(data, "accounts", "", list, []))
    if "accounts_csv" in gateway:
        for row in _read_csv(base_dir / gateway["accounts_csv"], "gateway.accounts_csv", frozenset({"cash"})):
            positions = {k[len("position_"):]: v for k, v in row.items() if k.startswith("position_")}
            account_rows.append({**{k: v for k, v in row.items() if not k.startswith("position_")},
                                 "positions": positions})
    accounts: dict[str, Account] = {}
    for index, row in enumerate(account_rows):
        account = parse_account(row, f"accounts[{index}].", instruments)
        if account.account_id in accounts:
            raise ConfigError(f"accounts[{index}].id: {account.account_id} is defined twice")
        accounts[account.account_id] = account

    principals: dict[str, Principal] = {}
    for index, row in enumerate(_get(data, "principals", "", list, [])):
        path = f"principals[{index}]."
        refuse_unknown_keys(row, PRINCIPAL_KEYS, path)
        role_text = _get(row, "role", path, str)
        try:
            role = Role(role_text)
        except ValueError:
            raise ConfigError(f"{path}role: must be one of trader, risk, admin; got {role_text!r}") from None
        owned = frozenset(_get(row, "accounts", path, list, []))
        for account_id in owned:
            if account_id not in accounts:
                raise ConfigError(f"{path}accounts: unknown account {account_id!r}")
        principal = Principal(_get(row, "name", path, str), role, _secret(row, path), owned)
        if principal.api_key in principals:
            raise ConfigError(f"{path}api_key: the same key is given to two principals")
        principals[principal.api_key] = principal
    for account in accounts.values():
        if account.trader and account.trader not in {p.name for p in principals.values()}:
            raise ConfigError(f"accounts.{account.account_id}.trader: unknown principal {account.trader!r}")

    venues = []
    for index, row in enumerate(_get(data, "venues", "", list, [{"name": "SIM", "kind": "sim"}])):
        path = f"venues[{index}]."
        kind = _get(row, "kind", path, str)
        if kind not in ("sim", "fix"):
            raise ConfigError(f"{path}kind: must be 'sim' or 'fix', got {kind!r}")
        venues.append(VenueConfig(_get(row, "name", path, str), kind,
                                  {k: v for k, v in row.items() if k not in ("name", "kind")}))
    names = [v.name for v in venues]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(f"venues[{index}].name: venue {name} is defined twice")
    routing_table = _get(data, "routing", "", dict, {})
    refuse_unknown_keys(routing_table, ROUTING_KEYS, "routing.")
    routing = RoutingConfig(
        default_venue=_get(routing_table, "default_venue", "routing.", str, names[0]),
        by_account=dict(_get(routing_table, "accounts", "routing.", dict, {})),
        by_symbol=dict(_get(routing_table, "symbols", "routing.", dict, {})),
    )
    for key, venue in [("default_venue", routing.default_venue),
                       *[(f"accounts.{k}", v) for k, v in routing.by_account.items()],
                       *[(f"symbols.{k}", v) for k, v in routing.by_symbol.items()]]:
        if venue not in names:
            raise ConfigError(f"routing.{key}: unknown venue {venue!r}; venues are {names}")

    risk = parse_risk(_get(data, "risk", "", dict, {}))
    for account_id in risk.account_limits:
        if account_id not in accounts:
            raise ConfigError(f"risk.accounts.{account_id}: unknown account")
    for symbol in [*risk.instrument_limits, *risk.restricted_symbols, *routing.by_symbol]:
        if symbol not in instruments:
            raise ConfigError(f"risk or routing: unknown symbol {symbol!r}")
    for account_id in routing.by_account:
        if account_id not in accounts:
            raise ConfigError(f"routing.accounts.{account_id}: unknown account")

    return GatewayConfig(
        instruments=instruments,
        accounts=accounts,
        principals=principals,
        venues=venues,
        routing=routing,
        risk=risk,
        host=_get(gateway, "host", "gateway.", str, "127.0.0.1"),
        port=_get(gateway, "port", "gateway.", int, 8700),
        log_level=_get(gateway, "log_level", "gateway.", str, "info"),
        log_file=_get(gateway, "log_file", "gateway.", str, None),
        journal_dir=_get(gateway, "journal_dir", "gateway.", str, None),
        options={k: v for k, v in data.items()
                 if k not in ("gateway", "instruments", "accounts", "principals", "venues", "routing", "risk")},
    )


def load_config(path: str | Path) -> GatewayConfig:
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, path.parent)
