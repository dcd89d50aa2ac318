"""docs/api.md cannot drift: every error code and every command the gateway answers is documented there."""

from __future__ import annotations

from pathlib import Path

from gateway.app import build_gateway
from gateway.clock import SimClock, TimerQueue
from gateway.demo_config import demo_config
from gateway.model import ErrorCode

DOC = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()


def test_every_error_code_is_documented() -> None:
    missing = [code.value for code in ErrorCode if f"`{code.value}`" not in DOC]
    assert missing == []


def test_every_command_is_documented() -> None:
    clock = SimClock(1_795_000_000_000_000_000)
    gateway = build_gateway(demo_config(), clock, TimerQueue(clock))
    missing = [name for name in gateway.commands.handlers if f"`{name}`" not in DOC]
    assert missing == []
