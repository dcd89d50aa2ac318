"""A configuration mistake is refused at start with the key named, never silently defaulted."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config
from gateway.demo_config import demo_config_data


def broken(change) -> str:
    data = demo_config_data()
    change(data)
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def test_unknown_keys_are_refused_with_their_path() -> None:
    assert broken(lambda d: d["risk"].update(max_order_qty=5)).startswith("risk.max_order_qty: unknown key")
    assert broken(lambda d: d["instruments"][0].update(tick=1)).startswith("instruments[0].tick: unknown key")
    assert broken(lambda d: d["accounts"][0].update(positons={})).startswith("accounts[0].positons: unknown key")
    assert broken(lambda d: d["gateway"].update(prot=1)).startswith("gateway.prot: unknown key")
    assert broken(lambda d: d.update(rsik={})).startswith("rsik: unknown key")
    assert broken(lambda d: d["risk"].update(accounts={"ALICE-1": {"max_open_order": 1}})).startswith(
        "risk.accounts.ALICE-1.max_open_order: unknown key")


def test_names_must_refer_to_what_is_configured() -> None:
    assert broken(lambda d: d["accounts"].append(dict(d["accounts"][0]))).startswith("accounts[6].id: ALICE-1 is "
                                                                                       "defined twice")
    assert "risk.accounts.NOBODY" in broken(lambda d: d["risk"].update(accounts={"NOBODY": {}}))
    assert "'ZZZ'" in broken(lambda d: d["risk"].update(restricted_symbols=["ZZZ"]))
    assert "liquidate_last" in broken(lambda d: d["accounts"][3].update(liquidate_last=["ZZZ"]))
    assert "routing.accounts.NOBODY" in broken(lambda d: d.update(routing={"accounts": {"NOBODY": "SIM"}}))


def test_absurd_prices_are_refused_quickly() -> None:
    from gateway.model import ErrorCode, RefusalError

    instrument = parse_config(demo_config_data()).instruments["ACME"]
    for text in ("1e999990", "1e1000000", "0.0000000000000000001", "9" * 60):
        with pytest.raises(RefusalError) as caught:
            instrument.parse_price(text)
        assert caught.value.refusal.code in (ErrorCode.VALIDATION_PRICE, ErrorCode.VALIDATION_FIELD)
        assert caught.value.refusal.field == "price"
