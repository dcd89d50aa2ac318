"""examples/gateway.toml: it loads, it is the demo world it says it is, it shows every key, and bad configurations are
refused with an error naming the key."""

from __future__ import annotations

import copy
import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from adapters.fix.adapter import FixAdapterConfig
from adapters.sim.config import SimVenueConfig
from gateway.app import build_gateway, make_adapter
from gateway.clock import SimClock, TimerQueue
from gateway.config import ConfigError, GatewayConfig, RiskConfig, load_config, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE = EXAMPLES / "gateway.toml"
KEY_ENV = {"UNWIND_KEY_ALICE": DEMO_KEYS["alice"], "UNWIND_KEY_BOB": DEMO_KEYS["bob"],
           "UNWIND_KEY_RISK": DEMO_KEYS["risk"], "UNWIND_KEY_ADMIN": DEMO_KEYS["admin"]}


@pytest.fixture
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in KEY_ENV.items():
        monkeypatch.setenv(name, value)


def example_data() -> dict[str, Any]:
    with EXAMPLE.open("rb") as handle:
        return tomllib.load(handle)


def parse(data: dict[str, Any]) -> GatewayConfig:
    return parse_config(data, EXAMPLES)


def routes(config: GatewayConfig) -> dict[tuple[str, str], str]:
    """The venue of every account and symbol, as the gateway built from ``config`` routes them."""
    clock = SimClock(0)
    router = build_gateway(config, clock, TimerQueue(clock)).engine.router
    return {(account, symbol): router.venue_for(account, symbol).name
            for account in config.accounts for symbol in config.instruments}


def sim_adapter_config(config: GatewayConfig) -> SimVenueConfig:
    timers = TimerQueue(SimClock(0))
    return make_adapter(config.venues[0], config, timers).config  # type: ignore[attr-defined]


def commented_fix_venue() -> dict[str, Any]:
    """The commented-out FIX [[venues]] table of the example, uncommented and parsed."""
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# [[venues]]")
    block = []
    for line in lines[start:]:
        if not line.startswith("# "):
            break
        block.append(line[2:])
    return tomllib.loads("\n".join(block))["venues"][0]


# --- the example as it is ----------------------------------------------------------------------------------------


def test_the_example_loads_and_is_the_demo_world(api_keys: None) -> None:
    config = load_config(EXAMPLE)
    demo = demo_config()
    assert list(config.instruments) == ["ACME", "BOLT", "CRUX", "DYNA"]  # two inline, two from instruments.csv
    assert config.instruments == demo.instruments
    assert list(config.accounts) == ["ALICE-1", "ALICE-2", "BOB-1", "M-001", "M-002", "M-003"]
    assert config.accounts == demo.accounts
    assert config.principals == demo.principals  # the same keys, read from the environment
    assert [(v.name, v.kind) for v in config.venues] == [(v.name, v.kind) for v in demo.venues]
    assert sim_adapter_config(config) == sim_adapter_config(demo)
    assert config.venues[0].options["open_market"] is True
    assert set(routes(config).values()) == {"SIM"} and routes(config) == routes(demo)
    # the risk section is the demo's plus one account override, as the file says
    assert config.risk.account_limits == {
        "ALICE-2": dataclasses.replace(demo.risk.default_limits, max_order_notional=1_000_000)}
    assert dataclasses.replace(config.risk, account_limits={}) == demo.risk
    assert (config.host, config.port, config.log_level) == ("127.0.0.1", 8700, "info")
    assert config.log_file is None and config.journal_dir is None


def test_the_example_shows_every_key() -> None:
    text = EXAMPLE.read_text()
    data = example_data()

    def shown(key: str) -> bool:  # set, or shown commented out
        return re.search(rf"^#?\s*{re.escape(key)}\s*=", text, re.MULTILINE) is not None

    for key in ("host", "port", "log_level", "log_file", "journal_dir", "instruments_csv", "accounts_csv"):
        assert shown(key), f"gateway.{key}"
    instrument_keys = set().union(*data["instruments"])
    assert instrument_keys >= {"symbol", "price_precision", "tick_size", "lot_size", "reference_price",
                               "daily_limit_pct", "limit_down", "limit_up", "average_daily_volume"}
    assert set().union(*data["accounts"]) >= {"id", "trader", "cash", "positions", "liquidate_last"}
    assert set().union(*data["principals"]) >= {"name", "role", "accounts", "api_key_env"}
    assert shown("api_key")
    risk_keys = {field.name for field in dataclasses.fields(RiskConfig)} - {"default_limits", "account_limits",
                                                                           "instrument_limits"}
    assert set(data["risk"]) >= risk_keys | {"max_order_quantity", "max_order_notional", "max_open_orders",
                                             "accounts", "instruments"}
    assert set(data["routing"]) == {"default_venue", "accounts", "symbols"}
    sim_keys = {field.name for field in dataclasses.fields(SimVenueConfig)} - {"name"}
    assert set(data["venues"][0]) == sim_keys | {"name", "kind", "open_market"}


def test_the_commented_fix_venue_is_valid_and_complete(api_keys: None) -> None:
    fix = commented_fix_venue()
    options = {k: v for k, v in fix.items() if k not in ("name", "kind")}
    known = {f for f in FixAdapterConfig.__dataclass_fields__ if f not in ("name", "instruments", "schedule")}
    known |= {"schedule_start", "schedule_end", "schedule_days", "schedule_timezone"}
    assert set(options) == known
    data = example_data()
    data["venues"].append(fix)
    data["routing"]["accounts"]["M-001"] = fix["name"]
    config = parse(data)
    adapter = make_adapter(config.venues[1], config, TimerQueue(SimClock(0)))  # builds; does not connect
    assert adapter.name == "BROKER-A"
    assert {pair: venue for pair, venue in routes(config).items() if venue != "SIM"} == {
        ("M-001", symbol): "BROKER-A" for symbol in config.instruments}
    assert adapter.config.accounts == {"M-001": "BRK-7781"}  # type: ignore[attr-defined]


# --- bad configurations name the key -----------------------------------------------------------------------------


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(data)
    return str(caught.value)


def test_a_missing_key_is_named(api_keys: None) -> None:
    data = example_data()
    del data["instruments"][0]["reference_price"]
    assert refused(data) == "instruments[0].reference_price: required key is missing"


def test_a_wrong_type_is_named(api_keys: None) -> None:
    data = example_data()
    data["instruments"][1]["price_precision"] = "2"
    assert refused(data) == "instruments[1].price_precision: expected an integer, got str '2'"
    data = example_data()
    data["risk"]["max_order_quantity"] = 1.5
    assert refused(data) == "risk.max_order_quantity: expected an integer, got float 1.5"
    data = example_data()
    data["risk"]["accounts"]["ALICE-2"]["max_order_notional"] = True
    assert refused(data) == "risk.accounts.ALICE-2.max_order_notional: expected an integer, got a boolean"


def test_an_unknown_venue_in_routing_is_named(api_keys: None) -> None:
    data = example_data()
    data["routing"]["accounts"]["M-001"] = "BROKER-Z"
    assert refused(data) == "routing.accounts.M-001: unknown venue 'BROKER-Z'; venues are ['SIM']"
    data = example_data()
    data["routing"]["default_venue"] = "sim"  # names are case-sensitive
    assert refused(data).startswith("routing.default_venue: unknown venue 'sim'")


def test_an_unknown_account_for_a_principal_is_named(api_keys: None) -> None:
    data = example_data()
    data["principals"][1]["accounts"] = ["BOB-1", "CAROL-9"]
    assert refused(data) == "principals[1].accounts: unknown account 'CAROL-9'"


def test_a_duplicate_symbol_is_named(api_keys: None, tmp_path: Path) -> None:
    data = example_data()
    data["instruments"].append(copy.deepcopy(data["instruments"][0]))
    assert refused(data) == "instruments[2].symbol: ACME is defined twice"
    # the same across the inline tables and the CSV file: rows of the CSV follow the tables
    (tmp_path / "more.csv").write_text("symbol,price_precision,tick_size,reference_price\nBOLT,2,0.01,25.50\n")
    data = example_data()
    data["gateway"]["instruments_csv"] = str(tmp_path / "more.csv")
    assert refused(data) == "instruments[2].symbol: BOLT is defined twice"


def test_an_off_tick_reference_price_is_named(api_keys: None) -> None:
    data = example_data()
    data["instruments"][1]["tick_size"] = "0.05"
    data["instruments"][1]["reference_price"] = "25.52"
    assert refused(data) == "instruments[1].reference_price: must be positive and on the tick, got '25.52'"
    data = example_data()
    data["instruments"][0]["reference_price"] = "100.005"  # finer than the precision
    assert refused(data) == ("instruments[0].reference_price: '100.005' is not a non-negative price with at most "
                             "2 decimals")


def test_an_unset_api_key_variable_is_named(api_keys: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNWIND_KEY_BOB")
    assert refused(example_data()) == "principals[1].api_key_env: environment variable UNWIND_KEY_BOB is not set"


def test_an_unknown_sim_venue_option_is_named(api_keys: None) -> None:
    data = example_data()
    data["venues"][0]["latency_us"] = 200  # a unit the venue does not take
    config = parse(data)
    with pytest.raises(ConfigError) as caught:
        make_adapter(config.venues[0], config, TimerQueue(SimClock(0)))
    assert str(caught.value).startswith("venues.SIM: unknown option(s) ['latency_us']")
