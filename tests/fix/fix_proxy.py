"""A FIX-aware TCP relay for tests: sits between our initiator and the QuickFIX acceptor and, on request, drops,
corrupts or blackholes messages in one direction, or cuts the connection. It frames messages on ``<SOH>10=nnn<SOH>``
by itself, so it does not lean on the codec under test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

_END = re.compile(rb"\x0110=\d{3}\x01")
OUT = "out"  # from us to the broker
IN = "in"  # from the broker to us


@dataclass
class Relayed:
    direction: str
    msg_type: str
    seq: int
    poss_dup: bool
    action: str  # forwarded, dropped, corrupted, blackholed
    raw: bytes


def _field(raw: bytes, tag: bytes) -> str:
    start = raw.find(b"\x01" + tag + b"=")
    if start < 0:
        return ""
    start += len(tag) + 2
    return raw[start:raw.find(b"\x01", start)].decode("latin-1")


class FixProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.connections = 0
        self.refused = 0
        self.refuse_connections = False  # accept and drop at once, as a broker's gateway that is down would
        self.log: list[Relayed] = []
        self._rules: list[tuple[str, str, str]] = []  # (direction, msg_type, action) applied once each
        self._blackholed: set[str] = set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._changed = asyncio.Event()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._on_client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def drop_next(self, direction: str, msg_type: str) -> None:
        self._rules.append((direction, msg_type, "dropped"))

    def corrupt_next(self, direction: str, msg_type: str) -> None:
        self._rules.append((direction, msg_type, "corrupted"))

    def blackhole(self, direction: str, on: bool = True) -> None:
        (self._blackholed.add if on else self._blackholed.discard)(direction)

    def cut(self) -> None:
        """Drop the TCP connections at once (no FIX logout): both ends see a reset."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def seen(self, direction: str, msg_type: str, action: str | None = None) -> list[Relayed]:
        return [r for r in self.log if r.direction == direction and r.msg_type == msg_type
                and (action is None or r.action == action)]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def _on_client(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.refuse_connections:
            client_writer.transport.abort()
            self.refused += 1
            self._changed.set()
            return
        self.connections += 1
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._writers += [client_writer, upstream_writer]
        await asyncio.gather(
            self._pump(client_reader, upstream_writer, OUT),
            self._pump(upstream_reader, client_writer, IN),
            return_exceptions=True,
        )
        for writer in (client_writer, upstream_writer):
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
        buffer = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buffer += data
                while (match := _END.search(buffer)) is not None:
                    raw, buffer = buffer[:match.end()], buffer[match.end():]
                    out = self._apply(direction, raw)
                    if out:
                        writer.write(out)
        finally:
            writer.transport.abort()  # one side gone: take the other down too, as a real network drop would
            self._changed.set()

    def _apply(self, direction: str, raw: bytes) -> bytes:
        msg_type = _field(raw, b"35")
        seq_text = _field(raw, b"34")
        action = "forwarded"
        if direction in self._blackholed:
            action = "blackholed"
        else:
            for rule in self._rules:
                if rule[0] == direction and rule[1] == msg_type:
                    self._rules.remove(rule)
                    action = rule[2]
                    break
        self.log.append(Relayed(direction, msg_type, int(seq_text) if seq_text.isdigit() else -1,
                                _field(raw, b"43") == "Y", action, raw))
        self._changed.set()
        if action == "forwarded":
            return raw
        if action == "corrupted":
            declared = int(raw[-4:-1])
            return raw[:-4] + b"%03d\x01" % ((declared + 1) % 256)
        return b""
