"""The real API over loopback: authentication, roles, isolation between traders, and bad input answered clearly
while the gateway keeps serving everyone."""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from gateway.api.client import UnwindClient, UnwindError
from gateway.demo_config import DEMO_KEYS


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/v1/stream"


async def test_unauthenticated_and_unknown_keys_are_refused(live_gateway) -> None:
    _, base = await live_gateway()
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-API-Key": "not-a-key"}):
            async with http.get(f"{base}/v1/orders", headers=headers) as response:
                assert response.status == 401
                assert (await response.json())["code"] == "AUTH_UNAUTHENTICATED"
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await http.ws_connect(ws_url(base), headers=headers)
            assert caught.value.status == 401
        async with http.get(f"{base}/v1/health") as response:  # health needs no key
            assert response.status == 200 and (await response.json())["venues"] == {"SIM": True}


async def test_bad_messages_get_clear_errors_and_the_connection_keeps_serving(live_gateway) -> None:
    gateway, base = await live_gateway()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(ws_url(base), headers={"X-API-Key": DEMO_KEYS["alice"]})
        good = {"type": "submit", "account": "ALICE-1", "symbol": "ACME", "side": "BUY", "quantity": 10,
                "price": "99.00", "client_order_id": "g1"}
        cases = [
            (b"{not json", "VALIDATION_JSON", None),
            (b"[1, 2]", "VALIDATION_JSON", None),
            ({**good, "type": "explode"}, "VALIDATION_FIELD", "type"),
            ({k: v for k, v in good.items() if k != "symbol"}, "VALIDATION_FIELD", "symbol"),
            ({**good, "quantity": "10"}, "VALIDATION_FIELD", "quantity"),
            ({**good, "quantity": 1.5}, "VALIDATION_FIELD", "quantity"),
            ({**good, "side": "SIDEWAYS"}, "VALIDATION_FIELD", "side"),
            ({**good, "symbol": "ZZZZ"}, "VALIDATION_UNKNOWN_SYMBOL", "symbol"),
            ({**good, "quantity": 0}, "VALIDATION_QUANTITY", "quantity"),
            ({**good, "quantity": -10}, "VALIDATION_QUANTITY", "quantity"),
            ({**good, "price": "99.001"}, "VALIDATION_PRICE_TICK", "price"),
            ({**good, "price": "abc"}, "VALIDATION_FIELD", "price"),
            ({**good, "account": "BOB-1"}, "AUTH_FORBIDDEN", "account"),
        ]
        for index, (message, code, field) in enumerate(cases):
            body = message if isinstance(message, bytes) else orjson.dumps({**message, "req_id": index})
            await ws.send_bytes(body)
            answer = orjson.loads((await ws.receive(timeout=10)).data)
            assert answer["type"] == "error", message
            assert (answer["code"], answer["field"]) == (code, field), answer
            assert answer["message"]
        assert len(gateway.engine.orders.by_id) == 0  # bad input changed nothing
        await ws.send_bytes(orjson.dumps({**good, "req_id": "ok"}))
        while True:
            answer = orjson.loads((await ws.receive(timeout=10)).data)
            if answer.get("type") == "ack":
                break
        assert answer["req_id"] == "ok" and answer["status"] == "NEW"  # venue latency 0: acknowledged at once
        # and everyone else was served all along
        async with UnwindClient(ws_url(base), DEMO_KEYS["bob"]) as bob:
            assert (await bob.submit_order("BOB-1", "ACME", "BUY", 5, price="99.00"))["status"] == "NEW"
        await ws.close()


async def test_a_trader_cannot_see_or_touch_another_traders_account(live_gateway) -> None:
    _, base = await live_gateway()
    url = ws_url(base)
    async with UnwindClient(url, DEMO_KEYS["alice"]) as alice, UnwindClient(url, DEMO_KEYS["bob"]) as bob, \
            UnwindClient(url, DEMO_KEYS["risk"]) as risk:
        bobs = await bob.submit_order("BOB-1", "ACME", "BUY", 10, price="99.00")
        alices = await alice.submit_order("ALICE-1", "ACME", "BUY", 10, price="99.50")
        await risk.wait_for_event(lambda e: e.get("order_id") == alices["order_id"] and e["event"] == "OrderAccepted")
        assert [o["order_id"] for o in await alice.orders()] == [alices["order_id"]]
        for attempt in (alice.cancel_order(bobs["order_id"]), alice.amend_order(bobs["order_id"], quantity=20),
                        alice.request("order", order_id=bobs["order_id"])):
            with pytest.raises(UnwindError) as caught:
                await attempt
            assert caught.value.code == "ORDER_NOT_FOUND"
        with pytest.raises(UnwindError) as caught:
            await alice.positions("BOB-1")
        assert caught.value.code == "AUTH_FORBIDDEN"
        # alice's stream carries only her own accounts; risk sees both
        seen_by_alice = {e.get("account") for e in _drain(alice)}
        assert seen_by_alice == {"ALICE-1"}
        assert {o["account"] for o in await risk.orders()} == {"ALICE-1", "BOB-1"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/v1/orders/{bobs['order_id']}", headers={"X-API-Key": DEMO_KEYS["alice"]}) as r:
            assert r.status == 404
        async with http.post(f"{base}/v1/kill-switch", headers={"X-API-Key": DEMO_KEYS["alice"]},
                             json={"scope": "global", "engaged": True}) as r:
            assert r.status == 403 and (await r.json())["code"] == "AUTH_FORBIDDEN"


def _drain(client: UnwindClient) -> list[dict]:
    events = []
    while not client.events.empty():
        events.append(client.events.get_nowait())
    return events


async def test_http_commands_and_queries(live_gateway) -> None:
    gateway, base = await live_gateway()
    headers = {"X-API-Key": DEMO_KEYS["alice"]}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/v1/orders", json={"account": "ALICE-1", "symbol": "CRUX", "side": "BUY",
                                                        "quantity": 5, "price": "1700.10",
                                                        "client_order_id": "h1"}) as r:
            assert r.status == 200
            order_id = (await r.json())["order_id"]
        async with http.patch(f"{base}/v1/orders/{order_id}", json={"price": "1699.95"}) as r:
            assert r.status == 200, await r.text()
        async with http.get(f"{base}/v1/orders/{order_id}") as r:
            order = (await r.json())["order"]
            assert order["price"] == "1699.95" and order["status"] == "NEW"  # the venue answered at once
        async with http.delete(f"{base}/v1/orders/{order_id}") as r:
            assert r.status == 200
        async with http.get(f"{base}/v1/orders", params={"open": "true"}) as r:
            assert (await r.json())["orders"] == []
        async with http.get(f"{base}/v1/positions", params={"account": "ALICE-1"}) as r:
            positions = (await r.json())["positions"]
            assert {"symbol": "ACME", "quantity": 5_000} in [{k: p[k] for k in ("symbol", "quantity")}
                                                           for p in positions]
        async with http.post(f"{base}/v1/orders", data=b"{oops") as r:
            assert r.status == 400 and (await r.json())["code"] == "VALIDATION_JSON"
        async with http.get(f"{base}/v1/openapi.json") as r:
            document = await r.json()
            assert "/v1/orders" in document["paths"] and "RISK_MAX_NOTIONAL" in str(document)


async def test_client_reconnects_after_the_connection_drops(live_gateway) -> None:
    gateway, base = await live_gateway()
    async with UnwindClient(ws_url(base), DEMO_KEYS["alice"]) as alice:
        await alice.submit_order("ALICE-1", "ACME", "BUY", 1, price="99.00")
        server = gateway.extras["server"]
        for ws in list(server.connections):
            await ws.close()
        marker = await alice.wait_for_event(lambda e: e["event"] == "ClientReconnected")
        assert marker == {"event": "ClientReconnected"}
        again = await alice.submit_order("ALICE-1", "ACME", "BUY", 1, price="99.00")
        assert again["status"] == "NEW"
        assert len(await alice.orders()) == 2
