"""The WebSocket outbox: several queued messages go out in one write, byte for byte the frames aiohttp would write,
in order; a busy socket falls back to aiohttp's own send, which waits for the reader."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import WSMsgType
from aiohttp.http import WebSocketWriter

from gateway.api.server import Outbox, _frame_header

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 100_000]


class RecordingTransport(asyncio.Transport):
    def __init__(self, pending_bytes: int = 0) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.pending_bytes = pending_bytes

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.writes.append(b"".join(bytes(part) for part in list_of_data))

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return self.pending_bytes


class FakeWebSocket:
    """What the outbox uses of aiohttp's WebSocketResponse; send_bytes frames through aiohttp's real writer."""

    def __init__(self, transport: RecordingTransport) -> None:
        self.closed = False
        self.sent: list[bytes] = []
        self.writer = WebSocketWriter(_Protocol(), transport, use_mask=False)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)
        await self.writer.send_frame(data, WSMsgType.BINARY)


class _Protocol:
    _paused = False


def aiohttp_frame(message: bytes) -> bytes:
    transport = RecordingTransport()
    WebSocketWriter(_Protocol(), transport, use_mask=False)._write_websocket_frame(message, WSMsgType.BINARY, 0)
    return b"".join(transport.writes)


def test_frame_headers_are_the_ones_aiohttp_writes() -> None:
    for size in SIZES:
        message = bytes(range(256)) * (size // 256) + bytes(size % 256)
        assert _frame_header(size) + message == aiohttp_frame(message), size


async def test_queued_messages_go_out_in_one_write_in_order() -> None:
    transport = RecordingTransport()
    ws = FakeWebSocket(transport)
    outbox = Outbox(ws, "alice", transport)  # type: ignore[arg-type]
    messages = [b"m%d-" % size + b"x" * size for size in SIZES]
    for message in messages:
        outbox.put(message)
    await asyncio.sleep(0)  # one loop turn: the sender task runs once
    assert transport.writes == [b"".join(aiohttp_frame(m) for m in messages)]
    assert ws.sent == []
    outbox.put(b"alone")  # a single message takes aiohttp's own send
    await asyncio.sleep(0)
    assert transport.writes[1:] == [aiohttp_frame(b"alone")] and ws.sent == [b"alone"]
    await outbox.close()


async def test_a_busy_socket_takes_aiohttps_send_for_each_message() -> None:
    transport = RecordingTransport(pending_bytes=4096)  # the kernel has not taken everything yet
    ws = FakeWebSocket(transport)
    outbox = Outbox(ws, "alice", transport)  # type: ignore[arg-type]
    for index in range(3):
        outbox.put(b"m%d" % index)
    await asyncio.sleep(0)
    assert ws.sent == [b"m0", b"m1", b"m2"]
    assert transport.writes == [aiohttp_frame(b"m0"), aiohttp_frame(b"m1"), aiohttp_frame(b"m2")]
    await outbox.close()
