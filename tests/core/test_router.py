"""Venue routing: the account's venue beats the symbol's, which beats the default; the configuration refuses routes to
venues that do not exist, naming the key; and the engine sends each order where the router says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.fix.adapter import FixVenueAdapter
from gateway.app import build_gateway
from gateway.clock import SimClock, TimerQueue
from gateway.config import ConfigError, RoutingConfig, parse_config
from gateway.demo_config import DEMO_KEYS, demo_config_data
from gateway.model import ErrorCode, OrderStatus, RefusalError
from gateway.router import VenueRouter

START_NS = 1_795_000_000_000_000_000


class NamedVenue:
    """Only what the router reads of an adapter: its name."""

    def __init__(self, name: str) -> None:
        self.name = name


def _adapters(*names: str) -> dict[str, Any]:
    return {name: NamedVenue(name) for name in names}


def test_account_beats_symbol_beats_default() -> None:
    routing = RoutingConfig(default_venue="DEFAULT", by_account={"ACC": "BY-ACCOUNT"},
                            by_symbol={"SYM": "BY-SYMBOL"})
    adapters = _adapters("DEFAULT", "BY-ACCOUNT", "BY-SYMBOL")
    router = VenueRouter(routing, adapters)
    assert router.venue_name_for("ACC", "SYM") == "BY-ACCOUNT"  # both match: the account wins
    assert router.venue_name_for("ACC", "OTHER") == "BY-ACCOUNT"
    assert router.venue_name_for("OTHER", "SYM") == "BY-SYMBOL"  # the symbol wins over the default
    assert router.venue_name_for("OTHER", "OTHER") == "DEFAULT"
    for account, symbol in (("ACC", "SYM"), ("OTHER", "SYM"), ("OTHER", "OTHER")):
        assert router.venue_for(account, symbol) is adapters[router.venue_name_for(account, symbol)]


names = st.sampled_from(["V1", "V2", "V3"])
keys = st.sampled_from(["a", "b", "c", "d"])


@given(default=names, by_account=st.dictionaries(keys, names), by_symbol=st.dictionaries(keys, names),
       account=keys, symbol=keys)
def test_precedence_holds_for_any_table(default: str, by_account: dict[str, str], by_symbol: dict[str, str],
                                        account: str, symbol: str) -> None:
    router = VenueRouter(RoutingConfig(default, by_account, by_symbol), _adapters("V1", "V2", "V3"))
    if account in by_account:
        expected = by_account[account]
    elif symbol in by_symbol:
        expected = by_symbol[symbol]
    else:
        expected = default
    assert router.venue_name_for(account, symbol) == expected
    assert router.venue_for(account, symbol).name == expected


def test_router_built_in_code_refuses_a_venue_it_has_no_adapter_for() -> None:
    with pytest.raises(ConfigError, match=r"routing\.symbols\.SYM: unknown venue 'GONE'; venues are \['A', 'B'\]"):
        VenueRouter(RoutingConfig("A", {"ACC": "B"}, {"SYM": "GONE"}), _adapters("A", "B"))
    with pytest.raises(ConfigError, match=r"routing\.default_venue: unknown venue 'GONE'"):
        VenueRouter(RoutingConfig("GONE"), _adapters("A"))


# --- the configuration ----------------------------------------------------------------------------------------------


def _fix_venue(name: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "fix", "host": "127.0.0.1", "port": port, "sender_comp_id": "UNWIND",
            "target_comp_id": name, "store_dir": "/tmp/unwind-test-router-unused", **extra}


def _two_broker_data(routing: dict[str, Any]) -> dict[str, Any]:
    data = demo_config_data()
    data["venues"] = [_fix_venue("BRKA", 9001), _fix_venue("BRKB", 9002, accounts={"M-001": "BRK-7781"})]
    data["routing"] = routing
    return data


@pytest.mark.parametrize(("routing", "message"), [
    ({"default_venue": "BRKC"}, "routing.default_venue: unknown venue 'BRKC'; venues are ['BRKA', 'BRKB']"),
    ({"default_venue": "BRKA", "accounts": {"BOB-1": "brkb"}}, "routing.accounts.BOB-1: unknown venue 'brkb'"),
    ({"default_venue": "BRKA", "symbols": {"DYNA": "SIM"}}, "routing.symbols.DYNA: unknown venue 'SIM'"),
])
def test_configuration_refuses_routes_to_unknown_venues(routing: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(_two_broker_data(routing))
    assert str(caught.value).startswith(message)


def test_routing_table_types_are_checked_and_default_venue_is_the_first_venue() -> None:
    with pytest.raises(ConfigError, match=r"routing\.accounts: expected a table"):
        parse_config(_two_broker_data({"accounts": ["BOB-1"]}))
    config = parse_config(_two_broker_data({"symbols": {"DYNA": "BRKB"}}))
    assert config.routing.default_venue == "BRKA"
    assert config.routing.by_symbol == {"DYNA": "BRKB"}


def test_two_fix_brokers_are_built_from_the_configuration_with_their_options() -> None:
    config = parse_config(_two_broker_data({"default_venue": "BRKB", "accounts": {"ALICE-1": "BRKA"}}))
    clock = SimClock(START_NS)
    gateway = build_gateway(config, clock, TimerQueue(clock))
    brka, brkb = gateway.adapters["BRKA"], gateway.adapters["BRKB"]
    assert isinstance(brka, FixVenueAdapter) and isinstance(brkb, FixVenueAdapter)
    assert (brka.config.port, brka.config.target_comp_id, brka.config.accounts) == (9001, "BRKA", {})
    assert (brkb.config.port, brkb.config.target_comp_id, brkb.config.accounts) == (9002, "BRKB",
                                                                                  {"M-001": "BRK-7781"})
    assert brka.config.instruments is config.instruments
    router = gateway.engine.router
    assert router.venue_for("ALICE-1", "ACME") is brka and router.venue_for("BOB-1", "ACME") is brkb
    # not started: an order routed there is refused with the venue named, and nothing is recorded
    alice = config.principals[DEMO_KEYS["alice"]]
    with pytest.raises(RefusalError) as caught:
        gateway.commands.dispatch(alice, "submit", {"account": "ALICE-1", "symbol": "ACME", "side": "BUY",
                                                    "quantity": 10, "price": "100.00", "client_order_id": "r1"})
    assert caught.value.refusal.code is ErrorCode.VENUE_UNAVAILABLE
    assert "BRKA" in caught.value.refusal.message and not gateway.engine.orders.by_id


@pytest.mark.parametrize(("options", "message"), [
    ({"port": None}, "venues.BRKA.port: required for a FIX venue"),
    ({"port": "9001"}, "venues.BRKA.port: must be int, got '9001'"),
    ({"heartbeat_interval_s": 0}, "venues.BRKA.heartbeat_interval_s: must be positive, got 0"),
    ({"hearbeat_interval_s": 30}, "venues.BRKA.hearbeat_interval_s: unknown FIX venue option"),
    ({"schedule_start": "08:00"}, "venues.BRKA.schedule_start/schedule_end: give both or neither"),
    ({"schedule_start": "08:00", "schedule_end": "17:00", "schedule_timezone": "Mars/Olympus"},
     "venues.BRKA.schedule: "),
])
def test_fix_venue_options_are_validated_naming_the_key(options: dict[str, Any], message: str) -> None:
    data = _two_broker_data({"default_venue": "BRKA"})
    venue = data["venues"][0]
    for key, value in options.items():
        if value is None:
            venue.pop(key)
        else:
            venue[key] = value
    config = parse_config(data)  # the FIX options are the adapter's: they are checked when the gateway is built
    clock = SimClock(START_NS)
    with pytest.raises(ConfigError) as caught:
        build_gateway(config, clock, TimerQueue(clock))
    assert str(caught.value).startswith(message)


# --- the engine sends each order where the router says ---------------------------------------------------------------


def test_engine_sends_each_order_to_its_routed_venue() -> None:
    data = demo_config_data()
    data["venues"] = [{"name": "EAST", "kind": "sim", "open_market": False, "latency_ns": 0},
                      {"name": "WEST", "kind": "sim", "open_market": False, "latency_ns": 0}]
    data["routing"] = {"default_venue": "EAST", "accounts": {"ALICE-2": "EAST"}, "symbols": {"DYNA": "WEST"}}
    config = parse_config(data)
    clock = SimClock(START_NS)
    gateway = build_gateway(config, clock, TimerQueue(clock))
    for adapter in gateway.adapters.values():
        adapter.connect()  # type: ignore[attr-defined]
    alice = config.principals[DEMO_KEYS["alice"]]
    cases = [("ALICE-2", "DYNA", "8.125", "EAST"),  # the account's venue, though DYNA is routed west
             ("ALICE-1", "DYNA", "8.125", "WEST"),  # the symbol's
             ("ALICE-1", "ACME", "100.00", "EAST")]  # the default
    for index, (account, symbol, price, venue) in enumerate(cases):
        answer = gateway.commands.dispatch(alice, "submit", {
            "account": account, "symbol": symbol, "side": "BUY", "quantity": 10, "price": price,
            "client_order_id": f"route-{index}"})
        order = gateway.engine.orders.by_id[answer["order_id"]]
        assert order.venue == venue, (account, symbol)
        assert order.status is OrderStatus.NEW  # acknowledged by that venue (latency 0)
        routed = gateway.adapters[venue].find_order(order.venue_client_order_id)  # type: ignore[attr-defined]
        other = gateway.adapters["WEST" if venue == "EAST" else "EAST"]
        assert routed is not None and other.find_order(order.venue_client_order_id) is None  # type: ignore


def test_the_documented_two_broker_example_builds_and_routes_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "fix.md").read_text()
    blocks = [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", text, re.DOTALL)]
    example = next(block for block in blocks if len(block.get("venues", [])) == 2)
    monkeypatch.setenv("UNWIND_BRKA_PASSWORD", "secret-from-env")
    data = demo_config_data()
    data["venues"], data["routing"] = example["venues"], example["routing"]
    config = parse_config(data)
    clock = SimClock(START_NS)
    gateway = build_gateway(config, clock, TimerQueue(clock))
    brka = gateway.adapters["BRKA"]
    assert isinstance(brka, FixVenueAdapter) and brka.config.password == "secret-from-env"
    assert brka.config.schedule is not None and brka.config.schedule.timezone == "America/New_York"
    router = gateway.engine.router
    assert [router.venue_name_for(account, symbol) for account, symbol in (
        ("M-001", "DYNA"), ("M-001", "ACME"), ("BOB-1", "DYNA"), ("BOB-1", "ACME"))] == ["BRKB", "BRKB", "BRKB", "BRKA"]


def test_every_configuration_example_in_the_fix_documentation_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "fix.md").read_text()
    blocks = [tomllib.loads(block) for block in re.findall(r"```toml\n(.*?)```", text, re.DOTALL)]
    assert len(blocks) >= 2
    monkeypatch.setenv("UNWIND_BRKA_PASSWORD", "secret-from-env")
    for block in blocks:
        data = {**demo_config_data(), **block}
        clock = SimClock(START_NS)
        gateway = build_gateway(parse_config(data), clock, TimerQueue(clock))
        assert {name for name in gateway.adapters} == {venue["name"] for venue in block["venues"]}
        assert all(isinstance(adapter, FixVenueAdapter) for adapter in gateway.adapters.values())
