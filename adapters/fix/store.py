"""Durable FIX session state: the next sequence numbers both ways and every application message we sent.

One append-only log per session in a memory-mapped file: a record is a memory copy into the page cache, which a crash
of the process does not lose (the kernel writes it out; there is no fsync, as with a plain ``write``), and the send
path makes no system call for it. The file grows in ``CHUNK_BYTES`` steps; unused space at its end is zeros. Records:

``S<seq> <length>\\n<raw message>``  an application message sent with MsgSeqNum seq (kept for resends)
``A<seq>\\n``                        a session message sent with MsgSeqNum seq (gap-filled on resend, not kept)
``T<seq>\\n``                        the next MsgSeqNum expected from the peer

Records are buffered and copied in by ``flush``, which the session calls before the bytes they describe reach the
socket, so nothing is on the wire that the store does not hold. The expected MsgSeqNum goes out with the next flush
that carries a sent message, or within ``TARGET_FLUSH_NS`` when nothing is being sent: after a crash the peer may
resend the last few reports (marked PossDup; the engine ignores an ExecID it has seen), but none is ever lost, even
if the engine's own journal had not yet recorded them. Reading back stops at the zeros; a torn last record (the
process died in the middle of one) is cut off and the space zeroed.

One process owns a session's store at a time.
"""

from __future__ import annotations

import bisect
import mmap
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

TARGET_FLUSH_NS = 100_000_000
CHUNK_BYTES = 4 << 20


class SessionStore:
    """Sequence numbers and sent application messages of one FIX session, durable across restarts."""

    def __init__(self, directory: str | Path, session_id: str, now_ns: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        safe_id = "".join(c if c.isalnum() or c in "-_." else "_" for c in session_id)
        self._log_path = self.directory / f"{safe_id}.log"
        self._header_path = self.directory / f"{safe_id}.session"
        self.next_sender_seq = 1
        self.next_target_seq = 1
        self.creation_ns = now_ns
        self._sent_seqs: list[int] = []  # ascending; application messages only
        self._sent_offsets: dict[int, tuple[int, int]] = {}  # seq -> (offset of raw in the log, length)
        self._pending = bytearray()
        self.target_dirty = False  # next_target_seq moved since it was last written
        self._used = 0
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._open(now_ns)

    # --- lifecycle ------------------------------------------------------------------------------------------------

    def _open(self, now_ns: int) -> None:
        existing = self._header_path.exists() and self._log_path.exists()
        if existing:
            self.creation_ns = int(self._header_path.read_text().split()[0])
        else:
            self._write_header(now_ns)
        self._fd = os.open(self._log_path, os.O_RDWR | os.O_CREAT | (0 if existing else os.O_TRUNC), 0o600)
        size = os.fstat(self._fd).st_size
        if existing and size:
            self._load(os.pread(self._fd, size, 0))
        self._map_at_least(self._used + CHUNK_BYTES)

    def _map_at_least(self, needed: int) -> None:
        capacity = (needed + CHUNK_BYTES - 1) // CHUNK_BYTES * CHUNK_BYTES
        if os.fstat(self._fd).st_size < capacity:
            os.ftruncate(self._fd, capacity)  # the new space reads as zeros
        if self._map is not None:
            self._map.close()
        self._map = mmap.mmap(self._fd, capacity)

    def _write_header(self, creation_ns: int) -> None:
        self.creation_ns = creation_ns
        temporary = self._header_path.with_suffix(".tmp")
        temporary.write_text(f"{creation_ns}\n")
        os.replace(temporary, self._header_path)

    def _load(self, data: bytes) -> None:
        position = 0
        size = len(data)
        good_end = 0
        while position < size:
            kind = data[position]
            if kind == 0:
                break
            line_end = data.find(b"\n", position)
            if line_end < 0:
                break
            try:
                if kind == 83:  # S
                    seq_text, length_text = data[position + 1:line_end].split(b" ")
                    seq, length = int(seq_text), int(length_text)
                    if line_end + 1 + length > size or 0 in data[line_end + 1:line_end + 1 + length]:
                        break
                    self._sent_seqs.append(seq)
                    self._sent_offsets[seq] = (line_end + 1, length)
                    self.next_sender_seq = seq + 1
                    position = line_end + 1 + length
                elif kind == 65:  # A
                    self.next_sender_seq = int(data[position + 1:line_end]) + 1
                    position = line_end + 1
                elif kind == 84:  # T
                    self.next_target_seq = int(data[position + 1:line_end])
                    position = line_end + 1
                else:
                    break
            except ValueError:
                break
            good_end = position
        tail = data[good_end:].rstrip(b"\x00")
        if tail:
            log.warning("fix_store_tail_cut", path=str(self._log_path), kept_bytes=good_end, dropped_bytes=len(tail))
            os.pwrite(self._fd, bytes(len(tail)), good_end)
        self._used = good_end
        log.info("fix_store_loaded", path=str(self._log_path), next_sender_seq=self.next_sender_seq,
                 next_target_seq=self.next_target_seq, sent_messages=len(self._sent_seqs))

    def reset(self, now_ns: int) -> None:
        """Start a new session: both sequence numbers back to 1, no messages kept."""
        self._pending.clear()
        self.target_dirty = False
        if self._map is not None:
            self._map[:self._used] = bytes(self._used)
        self._write_header(now_ns)
        self._used = 0
        self._sent_seqs.clear()
        self._sent_offsets.clear()
        self.next_sender_seq = 1
        self.next_target_seq = 1
        log.info("fix_store_reset", path=str(self._log_path))

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            if self._map is not None:
                self._map.close()
                self._map = None
            os.close(self._fd)
            self._fd = -1

    # --- recording ------------------------------------------------------------------------------------------------

    def record_sent(self, seq: int, raw: bytes | None) -> None:
        """Note that ``seq`` went out; keep ``raw`` if it is an application message (None for session messages)."""
        pending = self._pending
        if raw is None:
            pending += b"A%d\n" % seq
        else:
            header = b"S%d %d\n" % (seq, len(raw))
            offset = self._used + len(pending) + len(header)
            pending += header
            pending += raw
            self._sent_seqs.append(seq)
            self._sent_offsets[seq] = (offset, len(raw))
        self.next_sender_seq = seq + 1

    def set_next_target(self, seq: int) -> None:
        self.next_target_seq = seq
        self.target_dirty = True

    def set_next_sender(self, seq: int) -> None:
        """Move the outbound sequence forward (only by a reset we send); later sends number from ``seq``."""
        self._pending += b"A%d\n" % (seq - 1)
        self.next_sender_seq = seq

    @property
    def has_pending_sends(self) -> bool:
        return bool(self._pending)

    def flush(self) -> None:
        """Copy buffered records into the log; call before the messages they describe are written to the socket."""
        pending = self._pending
        if self.target_dirty:
            pending += b"T%d\n" % self.next_target_seq
            self.target_dirty = False
        if not pending:
            return
        start = self._used
        end = start + len(pending)
        if self._map is None:
            raise RuntimeError(f"FIX store {self._log_path} is closed")
        if end > len(self._map):
            self._map_at_least(end + CHUNK_BYTES)
        self._map[start:end] = pending
        self._used = end
        pending.clear()

    # --- reading back ---------------------------------------------------------------------------------------------

    def sent_between(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """The application messages we sent with ``begin <= MsgSeqNum <= end``, in order."""
        self.flush()
        seqs = self._sent_seqs
        first = bisect.bisect_left(seqs, begin)
        last = bisect.bisect_right(seqs, end)
        return [(seq, self.sent_message(seq)) for seq in seqs[first:last]]  # type: ignore[misc]

    def sent_message(self, seq: int) -> bytes | None:
        location = self._sent_offsets.get(seq)
        if location is None or self._map is None:
            return None
        self.flush()
        offset, length = location
        return self._map[offset:offset + length]
