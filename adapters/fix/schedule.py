"""When a FIX session may be up: a daily window (start and end time of day) on chosen weekdays, in a time zone.

A new window is a new FIX session: the sequence numbers start again at 1 (the store is reset when it was created
before the current window began).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

NANOS_PER_SECOND = 1_000_000_000
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(slots=True, frozen=True)
class SessionSchedule:
    """Windows that open at ``start_time`` on each of ``days`` (0 = Monday) and close at the next ``end_time``.

    An end time at or before the start time closes the window on the following day (``start == end`` is 24 hours).
    """

    start_time: dt.time
    end_time: dt.time
    days: frozenset[int] = frozenset(range(7))
    timezone: str = "UTC"

    @classmethod
    def parse(cls, start: str, end: str, days: list[str] | None = None, timezone: str = "UTC") -> SessionSchedule:
        """Build from text: times ``HH:MM[:SS]``, days as names ``mon``..``sun``; ValueError names the bad value."""
        try:
            start_time, end_time = dt.time.fromisoformat(start), dt.time.fromisoformat(end)
        except ValueError:
            raise ValueError(f"schedule start/end must be HH:MM[:SS], got {start!r} and {end!r}") from None
        day_numbers = range(7)
        if days is not None:
            unknown = [day for day in days if day.lower()[:3] not in WEEKDAY_NAMES]
            if unknown:
                raise ValueError(f"schedule days: unknown day(s) {unknown}; use {list(WEEKDAY_NAMES)}")
            day_numbers = [WEEKDAY_NAMES.index(day.lower()[:3]) for day in days]
        ZoneInfo(timezone)  # raises for an unknown zone
        return cls(start_time, end_time, frozenset(day_numbers), timezone)

    def _window_starting_on(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        zone = ZoneInfo(self.timezone)
        start = dt.datetime.combine(day, self.start_time, zone)
        end_day = day if self.end_time > self.start_time else day + dt.timedelta(days=1)
        return start, dt.datetime.combine(end_day, self.end_time, zone)

    def window_at(self, now_ns: int) -> tuple[int, int] | None:
        """The (start, end) in ns of the window containing ``now_ns``, or None when the session is closed."""
        now = dt.datetime.fromtimestamp(now_ns / NANOS_PER_SECOND, ZoneInfo(self.timezone))
        for back in (0, 1):
            day = now.date() - dt.timedelta(days=back)
            if day.weekday() not in self.days:
                continue
            start, end = self._window_starting_on(day)
            if start <= now < end:
                return _ns(start), _ns(end)
        return None

    def is_open(self, now_ns: int) -> bool:
        return self.window_at(now_ns) is not None

    def next_open_ns(self, now_ns: int) -> int:
        """When the next window opens (``now_ns`` itself if one is open now)."""
        window = self.window_at(now_ns)
        if window is not None:
            return now_ns
        now = dt.datetime.fromtimestamp(now_ns / NANOS_PER_SECOND, ZoneInfo(self.timezone))
        for ahead in range(9):
            day = now.date() + dt.timedelta(days=ahead)
            if day.weekday() in self.days:
                start, _ = self._window_starting_on(day)
                if start > now:
                    return _ns(start)
        raise ValueError("schedule has no weekdays")


def _ns(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * NANOS_PER_SECOND + moment.microsecond * 1000
