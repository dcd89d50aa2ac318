"""A simulated market with leveraged accounts, and a risk engine's voice to instruct the gateway."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.liquidation.manager import LiquidationManager


class RiskDesk:
    """Speaks for the risk engine through the same command table the API uses."""

    def __init__(self, world) -> None:
        self.world = world
        self.manager: LiquidationManager = world.gateway.extras["liquidation"]
        self.sequence = 0

    def instruct(self, account: str, tier: str, target: dict[str, Any] | None = None, principal: str = "risk",
                 instruction_id: str | None = None, **fields: Any) -> dict[str, Any]:
        self.sequence += 1
        payload = {"instruction_id": instruction_id or f"I{self.sequence}", "account": account, "tier": tier,
                   "reason": f"test {tier}", **fields}
        if target is not None:
            payload["target"] = target
        return self.world.gateway.commands.dispatch(self.world.principal(principal), "liquidate", payload)

    def command(self, name: str, principal: str = "risk", **payload: Any) -> dict[str, Any]:
        return self.world.gateway.commands.dispatch(self.world.principal(principal), name, payload)

    def events(self, name: str, account: str | None = None) -> list[Any]:
        return [e for e in self.world.events if e.event == name and (account is None or e.account == account)]


@pytest.fixture
def market_world(sim_world):
    def build(warmup_s: float = 30.0, **options: Any):
        world = sim_world(open_market=True, **options)
        world.advance(warmup_s)  # the market opens, quotes and prints before the risk engine speaks
        return world, RiskDesk(world)

    return build
