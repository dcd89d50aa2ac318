"""A FIX venue's password can come from the environment, so it never sits in the configuration file."""

from __future__ import annotations

import pytest

from adapters.fix.adapter import FixAdapterConfig

REQUIRED = {"host": "127.0.0.1", "port": 9878, "sender_comp_id": "UNWIND", "target_comp_id": "BROKER",
            "store_dir": "fix-store"}


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_PASSWORD", "s3cret")
    config = FixAdapterConfig.from_options("BRK", {**REQUIRED, "password_env": "BROKER_PASSWORD"}, {})
    assert config.password == "s3cret" and "s3cret" not in repr(config)


def test_a_missing_variable_or_both_forms_are_refused_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET", raising=False)
    with pytest.raises(ValueError, match="venues.BRK.password_env: environment variable 'NOT_SET' is not set"):
        FixAdapterConfig.from_options("BRK", {**REQUIRED, "password_env": "NOT_SET"}, {}, where="venues.BRK.")
    monkeypatch.setenv("BROKER_PASSWORD", "x")
    with pytest.raises(ValueError, match="not both"):
        FixAdapterConfig.from_options("BRK", {**REQUIRED, "password_env": "BROKER_PASSWORD", "password": "y"}, {})
