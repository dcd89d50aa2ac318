"""The built-in configuration of the demo, the benchmarks and the tests: four instruments, a few traders' accounts and
leveraged margin accounts, principals of each role. examples/gateway.toml is the same world, commented, as a file."""

from __future__ import annotations

import copy
from typing import Any

from gateway.config import GatewayConfig, parse_config

DEMO_KEYS = {"alice": "alice-demo-key", "bob": "bob-demo-key", "risk": "risk-demo-key", "admin": "admin-demo-key"}

_DEMO: dict[str, Any] = {
    "gateway": {"host": "127.0.0.1", "port": 0, "log_level": "warning"},
    "instruments": [
        {"symbol": "ACME", "price_precision": 2, "tick_size": "0.01", "lot_size": 1, "reference_price": "100.00",
         "daily_limit_pct": 10, "average_daily_volume": 2_000_000},
        {"symbol": "BOLT", "price_precision": 2, "tick_size": "0.01", "lot_size": 100, "reference_price": "25.50",
         "daily_limit_pct": 10, "average_daily_volume": 5_000_000},
        {"symbol": "CRUX", "price_precision": 2, "tick_size": "0.05", "lot_size": 1, "reference_price": "1700.10",
         "daily_limit_pct": 10, "average_daily_volume": 300_000},
        {"symbol": "DYNA", "price_precision": 3, "tick_size": "0.005", "lot_size": 10, "reference_price": "8.125",
         "daily_limit_pct": 10, "average_daily_volume": 10_000_000},
    ],
    "accounts": [
        {"id": "ALICE-1", "trader": "alice", "cash": 10_000_000, "positions": {"ACME": 5_000}},
        {"id": "ALICE-2", "trader": "alice", "cash": 1_000_000},
        {"id": "BOB-1", "trader": "bob", "cash": 5_000_000, "positions": {"BOLT": 20_000}},
        {"id": "M-001", "trader": "bob", "cash": 0, "positions": {"ACME": 20_000, "BOLT": 40_000, "CRUX": 300},
         "liquidate_last": ["CRUX"]},
        {"id": "M-002", "cash": 0, "positions": {"ACME": 8_000, "DYNA": 200_000}},
        {"id": "M-003", "cash": 0, "positions": {"BOLT": 100_000, "CRUX": 800}},
    ],
    "principals": [
        {"name": "alice", "role": "trader", "api_key": DEMO_KEYS["alice"], "accounts": ["ALICE-1", "ALICE-2"]},
        {"name": "bob", "role": "trader", "api_key": DEMO_KEYS["bob"], "accounts": ["BOB-1", "M-001"]},
        {"name": "risk", "role": "risk", "api_key": DEMO_KEYS["risk"]},
        {"name": "admin", "role": "admin", "api_key": DEMO_KEYS["admin"]},
    ],
    "venues": [{"name": "SIM", "kind": "sim", "seed": 7, "latency_ns": 200_000, "interval_ns": 50_000_000,
                "level_size_factor": 40.0}],
    "routing": {"default_venue": "SIM"},
    "risk": {
        "max_order_quantity": 100_000, "max_order_notional": 5_000_000, "max_open_orders": 2_000,
        "price_collar_bps": 500, "principal_messages_per_second": 0, "venue_messages_per_second": 0,
        "restricted_symbols": [],
        "instruments": {"CRUX": {"max_order_quantity": 2_000}},
    },
}


def demo_config_data() -> dict[str, Any]:
    """A fresh deep copy of the demo configuration, to adjust before parsing."""
    return copy.deepcopy(_DEMO)


def demo_config(**overrides: Any) -> GatewayConfig:
    data = demo_config_data()
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    return parse_config(data)
