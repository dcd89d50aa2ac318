"""What the engine needs of a journal: append a record before acting on it. The real one lives in gateway/journal.py."""

from __future__ import annotations

from typing import Protocol


class JournalUnavailable(Exception):
    """The journal cannot take records (disk full, closed): the engine refuses to act unjournaled."""


class JournalWriter(Protocol):
    def append(self, kind: str, payload: object) -> None:
        """Record ``payload`` (a dataclass or dict, serialized now) under ``kind``; raise JournalUnavailable if not."""


class NullJournal:
    """No journal: for tests and benchmarks that measure the engine without one."""

    def append(self, kind: str, payload: object) -> None:
        return None
