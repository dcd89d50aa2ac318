"""The internal API: a persistent WebSocket for commands and the event stream, and HTTP for the same commands and queries.

Authentication is by API key in the ``X-API-Key`` header (or ``Authorization: Bearer``) on every HTTP request and on the
WebSocket handshake. A WebSocket message is one JSON object ``{"type": ..., "req_id": ..., ...fields}``; the answer
is ``{"type": "ack", "req_id", ...result}`` or ``{"type": "error", "req_id", "code", "message", "field"}``; events
arrive as objects with an ``event`` name. Nothing between a message's receipt and the venue send awaits.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
import time
from collections import deque
from typing import Any

import orjson
import structlog
from aiohttp import WSMsgType, web

from gateway.api.commands import CommandTable
from gateway.api.openapi import openapi_document
from gateway.config import Principal
from gateway.engine import Engine
from gateway.model import ErrorCode, RefusalError, refuse

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = 64 * 1024
OUTBOX_LIMIT = 200_000  # messages queued to one slow client before it is cut off
BATCH_BYTES = 256 * 1024  # most bytes of queued messages handed to the socket in one write
_BINARY_FINAL = 0x82  # FIN bit and opcode 2 (binary); a server's frames are never masked (RFC 6455 section 5.2)
_HEADER_16 = struct.Struct("!BBH")
_HEADER_64 = struct.Struct("!BBQ")


def _frame_header(length: int) -> bytes:
    """The header of one unmasked binary WebSocket frame carrying ``length`` bytes: what aiohttp writes for it."""
    if length < 126:
        return bytes((_BINARY_FINAL, length))
    if length < 65536:
        return _HEADER_16.pack(_BINARY_FINAL, 126, length)
    return _HEADER_64.pack(_BINARY_FINAL, 127, length)


def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class Authenticator:
    """API keys are looked up by digest, so comparing a guess costs the same whatever it shares with a real key."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self._by_digest = {_key_digest(key): principal for key, principal in principals.items()}

    def principal_for(self, request: web.Request) -> Principal | None:
        key = request.headers.get("X-API-Key")
        if key is None:
            authorization = request.headers.get("Authorization", "")
            if authorization.startswith("Bearer "):
                key = authorization[7:]
        if not key:
            return None
        return self._by_digest.get(_key_digest(key))


def error_body(code: ErrorCode, message: str, field: str | None = None, req_id: Any = None) -> dict[str, Any]:
    return {"type": "error", "req_id": req_id, "code": code.value, "message": message, "field": field}


HTTP_STATUS = {
    ErrorCode.AUTH_UNAUTHENTICATED: 401,
    ErrorCode.AUTH_FORBIDDEN: 403,
    ErrorCode.ORDER_NOT_FOUND: 404,
    ErrorCode.JOURNAL_UNAVAILABLE: 503,
    ErrorCode.VENUE_UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class Outbox:
    """Messages for one WebSocket client, written by a sender task so the engine never waits on a socket."""

    def __init__(self, ws: web.WebSocketResponse, name: str, transport: asyncio.Transport | None = None) -> None:
        self.ws = ws
        self.name = name
        self.transport = transport  # the connection's socket, for batched writes
        self.queue: deque[bytes] = deque()
        self.wakeup = asyncio.Event()
        self.overflowed = False
        self.task = asyncio.get_running_loop().create_task(self._drain())

    def put(self, message: bytes) -> None:
        if self.overflowed:
            return
        if len(self.queue) >= OUTBOX_LIMIT:
            self.overflowed = True
            log.error("client_outbox_overflowed", principal=self.name, queued=len(self.queue))
            self.wakeup.set()
            return
        self.queue.append(message)
        self.wakeup.set()

    def put_event(self, event: Any) -> None:
        self.put(orjson.dumps(event))

    async def _drain(self) -> None:
        ws = self.ws
        queue = self.queue
        try:
            while not ws.closed:
                await self.wakeup.wait()
                self.wakeup.clear()
                if self.overflowed:
                    await ws.close(code=1013, message=b"event stream overflowed: reconnect and query state")
                    return
                while queue:
                    transport = self.transport
                    if (len(queue) > 1 and transport is not None and not ws.closed and not transport.is_closing()
                            and not transport.get_write_buffer_size()):
                        # Several messages and an idle socket: frame them here (the same bytes aiohttp would write)
                        # and hand them over in one write, one syscall and one TCP segment instead of one each. A
                        # busy socket takes send_bytes below, whose awaits give back-pressure to a slow reader.
                        parts: list[bytes] = []
                        size = 0
                        while queue and size < BATCH_BYTES:
                            message = queue.popleft()
                            parts.append(_frame_header(len(message)))
                            parts.append(message)
                            size += len(message)
                        transport.writelines(parts)
                    else:
                        await ws.send_bytes(queue.popleft())  # send_bytes: binary frames skip UTF-8 re-validation
        except (ConnectionResetError, RuntimeError):
            return

    async def close(self) -> None:
        self.task.cancel()


class ApiServer:
    def __init__(self, engine: Engine, commands: CommandTable | None = None) -> None:
        self.engine = engine
        self.commands = commands or CommandTable(engine)
        self.auth = Authenticator(engine.config.principals)
        self.app = web.Application(client_max_size=MAX_MESSAGE_BYTES, middlewares=[self._errors])
        self.app.router.add_get("/v1/health", self.health)
        self.app.router.add_get("/v1/openapi.json", self.openapi)
        self.app.router.add_get("/v1/stream", self.stream)
        self.app.router.add_get("/v1/metrics", self.metrics)
        self.app.router.add_post("/v1/orders", self.http_command("submit"))
        self.app.router.add_get("/v1/orders", self.http_query("orders"))
        self.app.router.add_get("/v1/orders/{order_id}", self.http_query("order"))
        self.app.router.add_delete("/v1/orders/{order_id}", self.http_command("cancel"))
        self.app.router.add_patch("/v1/orders/{order_id}", self.http_command("amend"))
        self.app.router.add_get("/v1/positions", self.http_query("positions"))
        self.app.router.add_post("/v1/kill-switch", self.http_command("kill_switch"))
        self.app.router.add_post("/v1/commands/{type}", self.http_generic_command)
        self.connections: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        server = site._server
        self.port = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
        log.info("api_listening", host=host, port=self.port)
        return self.port

    async def stop(self) -> None:
        for ws in list(self.connections):
            await ws.close(code=1001, message=b"gateway shutting down")
        if self._runner is not None:
            await self._runner.cleanup()

    # --- HTTP ---------------------------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except RefusalError as error:
            refusal = error.refusal
            return self._json(error_body(refusal.code, refusal.message, refusal.field),
                              HTTP_STATUS.get(refusal.code, 400))
        except web.HTTPException:
            raise
        except Exception:
            log.exception("http_handler_failed", path=request.path)
            return self._json(error_body(ErrorCode.INTERNAL, "internal error; the gateway is still serving"), 500)

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    def _principal(self, request: web.Request) -> Principal:
        principal = self.auth.principal_for(request)
        if principal is None:
            log.warning("auth_refused", path=request.path, remote=request.remote)
            raise refuse(ErrorCode.AUTH_UNAUTHENTICATED, "missing or unknown API key in X-API-Key")
        return principal

    async def health(self, request: web.Request) -> web.Response:
        venues = {name: adapter.connected for name, adapter in self.engine.adapters.items()}
        return self._json({"status": "ok" if all(venues.values()) else "degraded", "venues": venues,
                           "ts": self.engine.clock.now_ns()})

    async def openapi(self, request: web.Request) -> web.Response:
        return self._json(openapi_document())

    async def metrics(self, request: web.Request) -> web.Response:
        self._principal(request)
        return self._json({"submit_to_venue": self.engine.latency.summary(),
                           "open_orders": len(self.engine.orders.open_orders()),
                           "orders": len(self.engine.orders.by_id), "connections": len(self.connections)})

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            payload = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            raise refuse(ErrorCode.VALIDATION_JSON, f"body is not valid JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise refuse(ErrorCode.VALIDATION_JSON, "body must be a JSON object")
        return payload

    def http_command(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            principal = self._principal(request)
            payload = await self._payload(request)
            payload.update(request.match_info)
            return self._json({"type": "ack", **self.commands.dispatch(principal, name, payload)})

        return handle

    def http_query(self, name: str) -> Any:
        async def handle(request: web.Request) -> web.Response:
            principal = self._principal(request)
            payload: dict[str, Any] = dict(request.query)
            if "open" in payload:
                payload["open"] = payload["open"].lower() in ("1", "true", "yes")
            payload.update(request.match_info)
            return self._json(self.commands.dispatch(principal, name, payload))

        return handle

    async def http_generic_command(self, request: web.Request) -> web.Response:
        principal = self._principal(request)
        payload = await self._payload(request)
        return self._json({"type": "ack", **self.commands.dispatch(principal, request.match_info["type"], payload)})

    # --- WebSocket ----------------------------------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.StreamResponse:
        principal = self.auth.principal_for(request)
        if principal is None:
            log.warning("auth_refused", path=request.path, remote=request.remote)
            return self._json(error_body(ErrorCode.AUTH_UNAUTHENTICATED, "missing or unknown API key in X-API-Key"),
                              401)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=20.0, compress=False)
        await ws.prepare(request)
        self.connections.add(ws)
        outbox = Outbox(ws, principal.name, request.transport)  # type: ignore[arg-type]
        subscription = self.engine.subscribe(principal, outbox.put_event)
        log.info("client_connected", principal=principal.name, role=principal.role.value, remote=request.remote)
        dispatch = self.commands.dispatch
        submit = self.commands.submit
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT or message.type is WSMsgType.BINARY:
                    t_decoded_ns = 0
                    req_id = None
                    try:
                        try:
                            payload = orjson.loads(message.data)
                        except orjson.JSONDecodeError as exc:
                            raise refuse(ErrorCode.VALIDATION_JSON, f"message is not valid JSON: {exc}") from None
                        t_decoded_ns = time.perf_counter_ns()
                        if not isinstance(payload, dict):
                            raise refuse(ErrorCode.VALIDATION_JSON, "message must be a JSON object")
                        req_id = payload.get("req_id")
                        kind = payload.get("type")
                        if kind == "submit":  # the hot path: skip the table lookup, stamp the decode time
                            result = submit(principal, payload, t_decoded_ns)
                        else:
                            result = dispatch(principal, kind, payload)
                        result["type"] = "ack"
                        result["req_id"] = req_id
                        outbox.put(orjson.dumps(result))
                    except RefusalError as error:
                        refusal = error.refusal
                        outbox.put(orjson.dumps(error_body(refusal.code, refusal.message, refusal.field, req_id)))
                    except Exception:
                        log.exception("ws_command_failed", principal=principal.name)
                        outbox.put(orjson.dumps(error_body(ErrorCode.INTERNAL, "internal error; the gateway is "
                                                           "still serving", None, req_id)))
                elif message.type is WSMsgType.ERROR:
                    log.warning("client_stream_error", principal=principal.name, error=str(ws.exception()))
        finally:
            self.engine.unsubscribe(subscription)
            self.connections.discard(ws)
            await outbox.close()
            log.info("client_disconnected", principal=principal.name)
        return ws
