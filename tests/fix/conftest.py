"""Fixtures for the FIX tests: a QuickFIX broker on a free loopback port, and helpers to reach it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # pytest runs with --import-mode=importlib: make the helpers beside these tests importable
    sys.path.insert(0, HERE)

from fix_helpers import BrokerClient, BrokerEnvironment


@pytest.fixture
async def broker_env(tmp_path: Path) -> AsyncIterator[BrokerEnvironment]:
    broker = await BrokerClient.start(tmp_path / "quickfix")
    environment = BrokerEnvironment(broker, broker.port, tmp_path)
    try:
        yield environment
    finally:
        for adapter in environment.adapters:
            await adapter.stop()
        for proxy in environment.proxies:
            await proxy.stop()
        await broker.close()
