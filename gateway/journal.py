"""The durable journal: an append-only file of checksummed records, snapshots, and the reader that replays them.

Layout of a journal directory::

    journal-00000000000000000001.wal     segment: a 16-byte header, then records; named by its first sequence number
    journal-00000000000000004097.wal     a new segment starts after each snapshot
    snapshot-00000000000000004096.snap   the engine's state after record 4096, written atomically (tmp, fsync, rename)

A segment starts with ``<8-byte magic><u64 first sequence><u32 schema length><schema JSON>``: the schema lists the
field names of the dataclasses stored compactly (``Order``, ``ExecutionReport``, ``SetKillSwitch``), so a segment
reads back the same after those classes change. A record is ``<u32 body length><u32 crc32><u64 sequence><body>``
(little-endian; the crc covers the body and is seeded with the sequence number, so both are checked); the body is
orjson of ``[ts_ns, kind, payload]``, or ``[ts_ns, kind, [field values...], type name]`` for those dataclasses
(serializing a tuple of values costs a fifth of serializing the dataclass). Readers get the payload as a dict either
way. ``append`` serializes at once (the engine's objects are mutable) and hands the whole frame to the OS with one
``os.write`` before it returns: a process killed right after loses nothing. Whether it also survives a power loss
depends on the fsync policy (see ``FsyncPolicy``).

At open the last segment is scanned; a torn or corrupt tail (a crash mid-write, a disk that lied) is cut at the last
good record with an error log line naming the file, offset and reason, and the cut bytes are kept beside the segment
in a ``.cut-<offset>`` file. Damage in an older segment is not a torn tail: opening refuses with ``JournalCorrupt``.
"""

from __future__ import annotations

import operator
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import structlog

from gateway.clock import Clock, LiveClock
from gateway.journal_protocol import JournalUnavailable
from gateway.model import ExecutionReport, Order, SetKillSwitch

log = structlog.get_logger(__name__)

SEGMENT_MAGIC = b"UNWJRNL1"
SNAPSHOT_MAGIC = b"UNWSNAP1"
_SEGMENT_HEADER = struct.Struct("<8sQI")  # magic, first sequence number, schema length (the schema follows)
_FRAME = struct.Struct("<IIQ")  # body length, crc32 of the body seeded with the sequence number, sequence number
FRAME_HEADER_BYTES = _FRAME.size
SEGMENT_FIXED_HEADER_BYTES = _SEGMENT_HEADER.size
_CRC_SEED_MASK = 0xFFFFFFFF

# dataclasses stored as a list of values; their field names go into each segment's header
COMPACT_TYPES: tuple[type, ...] = (Order, ExecutionReport, SetKillSwitch)
_COMPACT: dict[type, tuple[Callable[[Any], tuple[Any, ...]], str]] = {
    cls: (operator.attrgetter(*(f.name for f in fields(cls))), cls.__name__) for cls in COMPACT_TYPES}
SCHEMA: dict[str, list[str]] = {cls.__name__: [f.name for f in fields(cls)] for cls in COMPACT_TYPES}
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "journal-", ".wal"
_SNAPSHOT_PREFIX, _SNAPSHOT_SUFFIX = "snapshot-", ".snap"
KEEP_SNAPSHOTS = 2  # the newest, and the one before in case the newest does not read back


class JournalCorrupt(Exception):
    """The journal is damaged where a crash cannot have damaged it (not the tail of the last segment)."""


class FsyncPolicy(str, Enum):
    """When a record is forced to the disk, beyond reaching the OS (which every ``append`` guarantees).

    ``always``: fsync inside ``append``; survives a power loss, costs a disk flush per record.
    ``batch``: a background thread fsyncs every ``batch_interval_ms`` or every ``batch_records`` records; a process
    crash loses nothing, a power loss (or kernel panic) may lose the records of the last unsynced batch.
    ``never``: the OS writes back when it pleases; a process crash loses nothing, a power loss may lose seconds.
    """

    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"


@dataclass(slots=True, frozen=True)
class JournalConfig:
    fsync: FsyncPolicy = FsyncPolicy.BATCH
    batch_interval_ms: int = 5
    batch_records: int = 512
    snapshot_interval_s: int = 300  # 0: no periodic snapshots
    max_record_bytes: int = 16 * 1024 * 1024

    @classmethod
    def from_options(cls, table: dict[str, Any]) -> JournalConfig:
        """Read the ``[journal]`` section of the configuration; errors name the key."""
        from gateway.config import ConfigError

        known = {"fsync", "batch_interval_ms", "batch_records", "snapshot_interval_s", "max_record_bytes"}
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"journal: unknown key(s) {sorted(unknown)}; allowed: {sorted(known)}")
        policy_text = table.get("fsync", FsyncPolicy.BATCH.value)
        try:
            policy = FsyncPolicy(policy_text)
        except ValueError:
            raise ConfigError(f"journal.fsync: must be one of always, batch, never; got {policy_text!r}") from None
        values: dict[str, int] = {}
        for key in ("batch_interval_ms", "batch_records", "snapshot_interval_s", "max_record_bytes"):
            if key not in table:
                continue
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"journal.{key}: expected a non-negative integer, got {value!r}")
            if value == 0 and key != "snapshot_interval_s":
                raise ConfigError(f"journal.{key}: must be > 0, got 0")
            values[key] = value
        return cls(fsync=policy, **values)


@dataclass(slots=True)
class JournalRecord:
    sequence: int
    ts_ns: int
    kind: str
    payload: Any  # as decoded from JSON: dicts, lists, strings, numbers
    segment: str = ""
    offset: int = 0


@dataclass(slots=True)
class Snapshot:
    sequence: int  # the state includes every record up to and including this one
    ts_ns: int
    state: dict[str, Any]
    path: str


@dataclass(slots=True)
class _Scan:
    """What scanning one segment found: its records' extent and, if it ended badly, where and why."""

    first_sequence: int
    last_sequence: int  # first_sequence - 1 when empty
    good_bytes: int
    bad_reason: str | None = None


def _default(value: Any) -> Any:
    if isinstance(value, (frozenset, set)):
        return sorted(value)
    raise TypeError(f"cannot journal a {type(value).__name__}")


def encode_frame(sequence: int, ts_ns: int, kind: str, payload: Any) -> bytes:
    """Serialize one record into its on-disk frame."""
    compact = _COMPACT.get(type(payload))
    if compact is not None:
        body = orjson.dumps((ts_ns, kind, compact[0](payload), compact[1]), default=_default)
    else:
        body = orjson.dumps((ts_ns, kind, payload), default=_default)
    return _FRAME.pack(len(body), zlib.crc32(body, sequence & _CRC_SEED_MASK), sequence) + body


def _frame_checks(body: memoryview | bytes, crc: int, sequence: int) -> bool:
    return zlib.crc32(body, sequence & _CRC_SEED_MASK) == crc


def segment_header(first_sequence: int) -> bytes:
    """The bytes a new segment starts with: magic, first sequence number and the schema of compact payloads."""
    schema = orjson.dumps(SCHEMA)
    return _SEGMENT_HEADER.pack(SEGMENT_MAGIC, first_sequence, len(schema)) + schema


def _segment_name(first_sequence: int) -> str:
    return f"{_SEGMENT_PREFIX}{first_sequence:020d}{_SEGMENT_SUFFIX}"


def _snapshot_name(sequence: int) -> str:
    return f"{_SNAPSHOT_PREFIX}{sequence:020d}{_SNAPSHOT_SUFFIX}"


def _numbered(directory: Path, prefix: str, suffix: str) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob(f"{prefix}*{suffix}"):
        digits = path.name[len(prefix):-len(suffix)]
        if digits.isdigit():
            found.append((int(digits), path))
    return sorted(found)


def _walk_frames(data: bytes | memoryview, start: int, expected_sequence: int, max_record_bytes: int
                 ) -> Iterator[tuple[int, int, memoryview] | tuple[None, int, str]]:
    """Yield ``(sequence, offset, body)`` for each good frame, then ``(None, offset, reason)`` if a bad one ends it."""
    view = memoryview(data)
    size = len(view)
    offset = start
    header_size = FRAME_HEADER_BYTES
    while offset < size:
        if size - offset < header_size:
            yield None, offset, f"torn record header: {size - offset} of {header_size} bytes"
            return
        length, crc, sequence = _FRAME.unpack_from(view, offset)
        if length == 0 or length > max_record_bytes:
            yield None, offset, f"record length {length} out of range (1..{max_record_bytes})"
            return
        end = offset + header_size + length
        if end > size:
            yield None, offset, f"torn record body: {size - offset - header_size} of {length} bytes"
            return
        body = view[offset + header_size:end]
        if not _frame_checks(body, crc, sequence):
            yield None, offset, f"checksum mismatch on record of {length} bytes"
            return
        if sequence != expected_sequence:
            yield None, offset, f"sequence {sequence} where {expected_sequence} was expected"
            return
        yield sequence, offset, body
        expected_sequence += 1
        offset = end


@dataclass(slots=True)
class _SegmentHeader:
    first_sequence: int
    size: int  # bytes before the first record
    schema: dict[str, list[str]]


def _read_segment_header(data: bytes) -> _SegmentHeader | str:
    """Return the segment's header, or the reason it is bad."""
    fixed = SEGMENT_FIXED_HEADER_BYTES
    if len(data) < fixed:
        return f"torn segment header: {len(data)} of {fixed} bytes"
    magic, first_sequence, schema_length = _SEGMENT_HEADER.unpack_from(data, 0)
    if magic != SEGMENT_MAGIC:
        return f"not a journal segment (magic {magic!r})"
    if len(data) < fixed + schema_length:
        return f"torn segment header: {len(data)} of {fixed + schema_length} bytes"
    try:
        schema = orjson.loads(data[fixed:fixed + schema_length])
    except orjson.JSONDecodeError:
        return "segment schema is not JSON"
    return _SegmentHeader(int(first_sequence), fixed + schema_length, schema)


def _decode(sequence: int, body: memoryview, segment: str, offset: int, schema: dict[str, list[str]]
            ) -> JournalRecord:
    document = orjson.loads(body)
    if len(document) == 4:  # a compact dataclass: values in the order of the segment's schema
        ts_ns, kind, values, type_name = document
        return JournalRecord(sequence, ts_ns, kind, dict(zip(schema[type_name], values)), segment, offset)
    ts_ns, kind, payload = document
    return JournalRecord(sequence, ts_ns, kind, payload, segment, offset)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """The gateway's write-ahead journal in ``directory``; opening it cuts a torn tail and positions for appending.

    One thread (the engine's loop) appends; with ``FsyncPolicy.BATCH`` one background thread only fsyncs.
    """

    def __init__(self, directory: str | Path, config: JournalConfig | None = None, clock: Clock | None = None) -> None:
        self.directory = Path(directory)
        self.config = config or JournalConfig()
        self.clock: Clock = clock or LiveClock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sequence = 0  # the last sequence number written
        self.durable_sequence = 0  # the last sequence number known to be fsynced
        self.cut_tails: list[dict[str, Any]] = []  # what opening cut, for the recovery summary
        self._failure: str | None = None  # set when the file can no longer be trusted: every append refuses
        self._fd = -1
        self._segment_path = Path()
        self._segment_first = 1
        self._offset = 0
        self._fd_lock = threading.Lock()
        self._durable = threading.Condition()
        self._write = os.write  # the one call that hands a record to the OS; tests replace it to fill the disk
        self._sync_wake = threading.Event()
        self._sync_stop = False
        self._sync_thread: threading.Thread | None = None
        self._next_wake_sequence = 0
        self._open_last_segment()
        if self.config.fsync is FsyncPolicy.BATCH:
            self._next_wake_sequence = self.sequence + self.config.batch_records
            self._sync_thread = threading.Thread(target=self._sync_loop, name="journal-fsync", daemon=True)
            self._sync_thread.start()

    # --- writing (the hot path) ---------------------------------------------------------------------------------

    def append(self, kind: str, payload: object) -> None:
        """Record ``payload`` under ``kind``: serialized now, in the OS when this returns; JournalUnavailable if not."""
        if self._failure is not None:
            raise JournalUnavailable(self._failure)
        sequence = self.sequence + 1
        frame = encode_frame(sequence, self.clock.now_ns(), kind, payload)
        try:
            written = self._write(self._fd, frame)
        except OSError as error:
            self._undo_partial_write(f"write failed: {error.strerror or error}")
            raise JournalUnavailable(f"journal write failed: {error.strerror or error} ({self._segment_path.name})"
                                     ) from None
        if written != len(frame):
            self._undo_partial_write(f"short write of {written} of {len(frame)} bytes")
            raise JournalUnavailable(f"journal write was short ({written} of {len(frame)} bytes): disk full?")
        self._offset += written
        self.sequence = sequence
        policy = self.config.fsync
        if policy is FsyncPolicy.BATCH:
            if sequence >= self._next_wake_sequence:
                self._next_wake_sequence = sequence + self.config.batch_records
                self._sync_wake.set()
        elif policy is FsyncPolicy.ALWAYS:
            try:
                os.fdatasync(self._fd)
            except OSError as error:
                # the record may or may not be on the disk: stop trusting the file (pages may have been dropped)
                self._failure = f"fsync failed: {error.strerror or error}"
                log.error("journal_fsync_failed", segment=self._segment_path.name, error=str(error))
                raise JournalUnavailable(self._failure) from None
            self.durable_sequence = sequence

    def wait_durable(self, sequence: int, timeout_s: float) -> bool:
        """Block until record ``sequence`` is fsynced (batch policy: by the background thread); False at the timeout."""
        with self._durable:
            return self._durable.wait_for(lambda: self.durable_sequence >= sequence or self._failure is not None,
                                          timeout_s) and self.durable_sequence >= sequence

    def _undo_partial_write(self, reason: str) -> None:
        """Cut whatever part of a failed frame reached the file, so the next record starts on a boundary."""
        try:
            os.ftruncate(self._fd, self._offset)
            os.lseek(self._fd, self._offset, os.SEEK_SET)
        except OSError as error:
            self._failure = f"{reason}; the partial record could not be cut ({error.strerror or error})"
            log.error("journal_failed", segment=self._segment_path.name, offset=self._offset, reason=self._failure)
            return
        log.error("journal_append_failed", segment=self._segment_path.name, offset=self._offset, reason=reason)

    @property
    def healthy(self) -> bool:
        return self._failure is None

    @property
    def failure(self) -> str | None:
        return self._failure

    def sync(self) -> None:
        """Force everything appended so far to the disk."""
        with self._fd_lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        target = self.sequence
        if self._fd < 0 or target <= self.durable_sequence:
            return
        try:
            os.fdatasync(self._fd)
        except OSError as error:
            self._failure = f"fsync failed: {error.strerror or error}"
            log.error("journal_fsync_failed", segment=self._segment_path.name, error=str(error))
            return
        with self._durable:
            self.durable_sequence = max(self.durable_sequence, target)
            self._durable.notify_all()

    def _sync_loop(self) -> None:
        interval_s = self.config.batch_interval_ms / 1000
        while not self._sync_stop:
            self._sync_wake.wait(interval_s)
            self._sync_wake.clear()
            with self._fd_lock:
                if self._sync_stop:
                    return
                self._sync_locked()

    def close(self) -> None:
        """Sync, stop the fsync thread and close the file."""
        self._stop_sync_thread()
        with self._fd_lock:
            self._sync_locked()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._failure = self._failure or "the journal is closed"

    def abandon(self) -> None:
        """Drop the journal as a crashed process would: no flush, no sync; what reached the OS stays in the file."""
        self._stop_sync_thread()
        with self._fd_lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
        self._failure = "the journal was abandoned"

    def _stop_sync_thread(self) -> None:
        thread = self._sync_thread
        if thread is not None:
            self._sync_stop = True
            self._sync_wake.set()
            thread.join()
            self._sync_thread = None

    # --- snapshots ----------------------------------------------------------------------------------------------

    def write_snapshot(self, state: dict[str, Any]) -> Path:
        """Store ``state`` as of the last appended record (atomically), then start a new segment after it."""
        sequence = self.sequence
        body = orjson.dumps({"sequence": sequence, "ts": self.clock.now_ns(), "state": state}, default=_default)
        frame = _FRAME.pack(len(body), zlib.crc32(body, sequence & _CRC_SEED_MASK), sequence) + body
        path = self.directory / _snapshot_name(sequence)
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, SNAPSHOT_MAGIC + frame)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _fsync_directory(self.directory)
        if sequence >= self._segment_first:  # the current segment holds records: later ones go to a new one
            self._rotate(sequence + 1)
        for _, older in _numbered(self.directory, _SNAPSHOT_PREFIX, _SNAPSHOT_SUFFIX)[:-KEEP_SNAPSHOTS]:
            older.unlink(missing_ok=True)  # segments stay: end-of-day reconciliation reads every record
        log.info("journal_snapshot_written", sequence=sequence, path=str(path), bytes=len(frame))
        return path

    def latest_snapshot(self) -> Snapshot | None:
        """Return the newest snapshot that reads back whole; a damaged one is skipped with an error line."""
        for sequence, path in reversed(_numbered(self.directory, _SNAPSHOT_PREFIX, _SNAPSHOT_SUFFIX)):
            data = path.read_bytes()
            reason = None
            if not data.startswith(SNAPSHOT_MAGIC):
                reason = "not a snapshot file (magic)"
            else:
                frames = list(_walk_frames(data, len(SNAPSHOT_MAGIC), sequence, 1 << 40))
                if not frames or frames[0][0] is None:
                    reason = str(frames[0][2]) if frames else "empty snapshot"
                else:
                    document = orjson.loads(frames[0][2])  # type: ignore[arg-type]
                    return Snapshot(document["sequence"], document["ts"], document["state"], str(path))
            log.error("journal_snapshot_unreadable", path=str(path), reason=reason)
        return None

    def _rotate(self, first_sequence: int) -> None:
        with self._fd_lock:
            self._sync_locked()
            os.close(self._fd)
            self._fd = -1
            self._create_segment(first_sequence)
            self.durable_sequence = self.sequence

    # --- reading --------------------------------------------------------------------------------------------------

    def records(self, after_sequence: int = 0) -> Iterator[JournalRecord]:
        """Yield every record with a sequence number above ``after_sequence``, in order."""
        yield from read_records(self.directory, after_sequence, self.config.max_record_bytes, strict=True)

    # --- opening ------------------------------------------------------------------------------------------------

    def _open_last_segment(self) -> None:
        segments = _numbered(self.directory, _SEGMENT_PREFIX, _SEGMENT_SUFFIX)
        snapshots = _numbered(self.directory, _SNAPSHOT_PREFIX, _SNAPSHOT_SUFFIX)
        if not segments:
            first = snapshots[-1][0] + 1 if snapshots else 1
            self.sequence = first - 1
            self._create_segment(first)
            self.durable_sequence = self.sequence
            return
        first_sequence, path = segments[-1]
        data = path.read_bytes()
        scan = self._scan(data, path, first_sequence)
        if scan.bad_reason is not None:
            self._cut_tail(path, data, scan)
        self.sequence = scan.last_sequence
        self._segment_first = first_sequence
        self._segment_path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # O_APPEND: every write lands at the end
        self._offset = scan.good_bytes
        if scan.good_bytes == 0:  # the header itself was torn: write it again
            os.ftruncate(self._fd, 0)
            header = segment_header(first_sequence)
            os.write(self._fd, header)
            os.fsync(self._fd)
            self._offset = len(header)
        self.durable_sequence = self.sequence
        if snapshots and snapshots[-1][0] > self.sequence:
            snapshot = self.latest_snapshot()  # read it only in this rare case: is it whole?
            if snapshot is not None and snapshot.sequence > self.sequence:
                # the snapshot reached the disk but records before it did not (a power loss with fsync=never):
                # the snapshot holds their effect, so numbering continues after it
                log.error("journal_behind_snapshot", last_record=self.sequence, snapshot=snapshot.sequence)
                self.sequence = snapshot.sequence
                self._rotate(self.sequence + 1)

    def _scan(self, data: bytes, path: Path, first_sequence: int) -> _Scan:
        header = _read_segment_header(data)
        if isinstance(header, str):
            return _Scan(first_sequence, first_sequence - 1, 0, header)
        if header.first_sequence != first_sequence:
            raise JournalCorrupt(f"{path.name}: header says first sequence {header.first_sequence}, the name says "
                                 f"{first_sequence}")
        last = first_sequence - 1
        good = header.size
        for sequence, offset, body in _walk_frames(data, header.size, first_sequence, self.config.max_record_bytes):
            if sequence is None:
                return _Scan(first_sequence, last, offset, str(body))
            last = sequence
            good = offset + FRAME_HEADER_BYTES + len(body)  # type: ignore[arg-type]
        return _Scan(first_sequence, last, good)

    def _cut_tail(self, path: Path, data: bytes, scan: _Scan) -> None:
        keep = max(scan.good_bytes, 0)
        cut = data[keep:]
        kept_copy = path.with_name(f"{path.name}.cut-{keep}")
        attempt = 0
        while kept_copy.exists():  # cut at the same offset before (a restart that died early): keep both
            attempt += 1
            kept_copy = path.with_name(f"{path.name}.cut-{keep}.{attempt}")
        kept_copy.write_bytes(cut)
        with open(path, "r+b") as handle:
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        entry = {"segment": path.name, "offset": keep, "reason": scan.bad_reason, "bytes_cut": len(cut),
                 "last_good_sequence": scan.last_sequence, "kept_as": kept_copy.name}
        self.cut_tails.append(entry)
        log.error("journal_tail_cut", **entry)

    def _create_segment(self, first_sequence: int) -> None:
        path = self.directory / _segment_name(first_sequence)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        header = segment_header(first_sequence)
        os.write(fd, header)
        os.fsync(fd)
        _fsync_directory(self.directory)
        self._fd = fd
        self._segment_path = path
        self._segment_first = first_sequence
        self._offset = len(header)


def read_records(directory: str | Path, after_sequence: int = 0, max_record_bytes: int = 1 << 30,
                 strict: bool = False) -> Iterator[JournalRecord]:
    """Read a journal directory without changing it: records after ``after_sequence``, in order.

    A bad record ends the reading with an error line; with ``strict`` a bad record anywhere but at the tail of the
    last segment raises JournalCorrupt (the writer cut the last tail when it opened).
    """
    directory = Path(directory)
    segments = _numbered(directory, _SEGMENT_PREFIX, _SEGMENT_SUFFIX)
    expected: int | None = None
    for index, (first_sequence, path) in enumerate(segments):
        last_segment = index == len(segments) - 1
        next_first = segments[index + 1][0] if not last_segment else None
        if next_first is not None and next_first <= after_sequence + 1:
            continue  # every record of this segment is at or before the starting point
        if expected is not None and first_sequence != expected:
            message = f"{path.name}: starts at sequence {first_sequence}, {expected} was expected"
            if strict:
                raise JournalCorrupt(message)
            log.error("journal_sequence_gap", segment=path.name, expected=expected, found=first_sequence)
        data = path.read_bytes()
        header = _read_segment_header(data)
        if isinstance(header, str):
            if strict and not last_segment:
                raise JournalCorrupt(f"{path.name}: {header}")
            log.error("journal_segment_unreadable", segment=path.name, reason=header)
            return
        expected = first_sequence
        schema = header.schema
        for sequence, offset, body in _walk_frames(data, header.size, first_sequence, max_record_bytes):
            if sequence is None:
                if strict and not last_segment:
                    raise JournalCorrupt(f"{path.name} at offset {offset}: {body}")
                log.error("journal_read_stopped", segment=path.name, offset=offset, reason=str(body))
                return
            expected = sequence + 1
            if sequence > after_sequence:
                yield _decode(sequence, body, path.name, offset, schema)  # type: ignore[arg-type]
