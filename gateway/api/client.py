"""Async Python client for the gateway's WebSocket API.

    async with UnwindClient("ws://127.0.0.1:8700/v1/stream", api_key) as client:
        ack = await client.submit_order("ACC1", "ACME", "BUY", 100, price="100.25")
        event = await client.wait_for_event(lambda e: e["order_id"] == ack["order_id"] and e["event"] == "OrderFilled")

Requests are matched to answers by ``req_id``; a refusal raises ``UnwindError`` carrying its stable code. If the
connection drops, pending requests fail with ``ConnectionError`` (they may or may not have reached the gateway: resend
with the same client_order_id, which the gateway refuses as a duplicate if the first one arrived), the client
reconnects with backoff, and a ``{"event": "ClientReconnected"}`` marker is put on the event stream so the consumer
knows to query state again.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson


class UnwindError(Exception):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.field = field


class UnwindClient:
    def __init__(self, url: str, api_key: str, *, reconnect: bool = True, max_backoff_s: float = 5.0) -> None:
        self.url = url
        self.api_key = api_key
        self.reconnect = reconnect
        self.max_backoff_s = max_backoff_s
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._req_ids = itertools.count(1)
        self._order_ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False

    async def __aenter__(self) -> UnwindClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self._ws.closed

    async def connect(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, headers={"X-API-Key": self.api_key}, autoping=True,
                                                  max_msg_size=0)
        self._connected.set()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass
        if self._session is not None:
            await self._session.close()

    async def _read(self) -> None:
        ws = self._ws
        assert ws is not None
        async for message in ws:
            if message.type is not aiohttp.WSMsgType.TEXT and message.type is not aiohttp.WSMsgType.BINARY:
                continue
            body = orjson.loads(message.data)
            kind = body.get("type")
            if kind == "ack" or kind == "error":
                future = self._pending.pop(body.get("req_id"), None)
                if future is not None and not future.done():
                    if kind == "ack":
                        future.set_result(body)
                    else:
                        future.set_exception(UnwindError(body["code"], body["message"], body.get("field")))
            else:
                self.events.put_nowait(body)
        self._connected.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("connection to the gateway closed before the answer"))
        self._pending.clear()
        if self.reconnect and not self._closing:
            asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay_s = 0.05
        while not self._closing:
            try:
                await self.connect()
                self.events.put_nowait({"event": "ClientReconnected"})
                return
            except (aiohttp.ClientError, OSError):
                await asyncio.sleep(delay_s)  # backoff between real connection attempts
                delay_s = min(self.max_backoff_s, delay_s * 2)

    # --- requests -----------------------------------------------------------------------------------------------

    def send(self, kind: str, **fields: Any) -> asyncio.Future[dict[str, Any]]:
        """Send a command without waiting; the future resolves with the ack or raises UnwindError."""
        if self._ws is None or self._ws.closed:
            raise ConnectionError("not connected to the gateway")
        req_id = next(self._req_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        fields["type"] = kind
        fields["req_id"] = req_id
        asyncio.ensure_future(self._ws.send_bytes(orjson.dumps(fields)))
        return future

    async def request(self, kind: str, timeout_s: float = 10.0, **fields: Any) -> dict[str, Any]:
        if not self._connected.is_set():
            await asyncio.wait_for(self._connected.wait(), timeout_s)
        return await asyncio.wait_for(self.send(kind, **fields), timeout_s)

    def next_client_order_id(self) -> str:
        return f"c{id(self) % 100000}-{next(self._order_ids)}"

    async def submit_order(self, account: str, symbol: str, side: str, quantity: int, *, price: str | None = None,
                           order_type: str | None = None, stop_price: str | None = None,
                           time_in_force: str = "DAY", expire_time: int | None = None,
                           client_order_id: str | None = None) -> dict[str, Any]:
        if order_type is None:
            order_type = "LIMIT" if price is not None else "MARKET"
        fields: dict[str, Any] = {"account": account, "symbol": symbol, "side": side, "quantity": quantity,
                                  "order_type": order_type, "time_in_force": time_in_force,
                                  "client_order_id": client_order_id or self.next_client_order_id()}
        if price is not None:
            fields["price"] = price
        if stop_price is not None:
            fields["stop_price"] = stop_price
        if expire_time is not None:
            fields["expire_time"] = expire_time
        return await self.request("submit", **fields)

    async def cancel_order(self, order_id: str) -> dict[str, Any]:
        return await self.request("cancel", order_id=order_id)

    async def amend_order(self, order_id: str, *, quantity: int | None = None, price: str | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"order_id": order_id}
        if quantity is not None:
            fields["quantity"] = quantity
        if price is not None:
            fields["price"] = price
        return await self.request("amend", **fields)

    async def set_kill_switch(self, scope: str, engaged: bool, target: str | None = None,
                              reason: str = "") -> dict[str, Any]:
        fields: dict[str, Any] = {"scope": scope, "engaged": engaged, "reason": reason}
        if target is not None:
            fields["target"] = target
        return await self.request("kill_switch", **fields)

    async def orders(self, account: str | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        fields: dict[str, Any] = {"open": open_only}
        if account is not None:
            fields["account"] = account
        return (await self.request("orders", **fields))["orders"]

    async def positions(self, account: str | None = None) -> list[dict[str, Any]]:
        return (await self.request("positions", **({"account": account} if account else {})))["positions"]

    # --- events -------------------------------------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.events.get()

    async def wait_for_event(self, predicate: Callable[[dict[str, Any]], bool],
                             timeout_s: float = 10.0) -> dict[str, Any]:
        """Return the first event that matches, dropping those before it; raise TimeoutError if none comes."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.get()
                if predicate(event):
                    return event
