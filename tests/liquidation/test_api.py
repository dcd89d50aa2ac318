"""The risk engine's side of the API over a real WebSocket: instruct, watch the events, and only the risk role may."""

from __future__ import annotations

import pytest

from gateway.api.client import UnwindClient, UnwindError
from gateway.demo_config import DEMO_KEYS


async def test_the_risk_engine_instructs_over_the_websocket_and_sees_the_liquidation_through(live_gateway) -> None:
    _, base = await live_gateway(venue={"open_market": True})  # a live simulated market on the real clock
    url = base.replace("http://", "ws://") + "/v1/stream"
    async with UnwindClient(url, DEMO_KEYS["risk"]) as risk, UnwindClient(url, DEMO_KEYS["bob"]) as bob:
        with pytest.raises(UnwindError) as caught:
            await bob.request("liquidate", instruction_id="B-1", account="M-001", tier="mandatory", reason="x",
                              target={"notional": "1000"})
        assert caught.value.code == "AUTH_FORBIDDEN"
        ack = await risk.request("liquidate", instruction_id="R-1", account="M-002", tier="mandatory",
                                 reason="api test", target={"positions": {"ACME": 30}})
        assert ack["tier"] == "mandatory" and ack["status"] in ("running", "done")  # venue latency 0: may be done
        planned = await risk.wait_for_event(lambda e: e.get("event") == "LiquidationPlanned", timeout_s=10)
        assert planned["liquidation_id"] == ack["liquidation_id"] and planned["lines"][0]["quantity"] == 30
        finished = await risk.wait_for_event(lambda e: e.get("event") == "LiquidationFinished", timeout_s=60)
        assert finished["outcome"] == "target_met"
        again = await risk.request("liquidate", instruction_id="R-1", account="M-002", tier="mandatory",
                                   reason="api test", target={"positions": {"ACME": 30}})
        assert again["duplicate"] is True
        view = (await risk.request("liquidations", account="M-002"))["liquidations"][0]
        assert view["lines"][0]["filled_quantity"] == 30 and view["outcome"] == "target_met"
        with pytest.raises(UnwindError) as caught:
            await risk.request("liquidate", instruction_id="R-2", account="M-002", tier="severe")
        assert caught.value.code == "VALIDATION_FIELD" and caught.value.field == "tier"
