"""Time for the deterministic core: a clock to read and one timer queue for everything that waits.

Algorithms, the liquidation executor and the simulated venue never sleep: they schedule a callback on the TimerQueue.
In a test the SimClock and ``TimerQueue.advance_to`` run a whole trading day in a second, identically every time; in
production a LiveTimerDriver arms one event-loop timer for the earliest entry, so 10,000 parent orders cost one heap.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import Protocol

NANOS_PER_SECOND = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int: ...


class LiveClock:
    """Wall-clock time in integer nanoseconds since the epoch."""

    __slots__ = ()

    def now_ns(self) -> int:
        return time.time_ns()


class SimClock:
    """A clock that only moves when told to."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def set_ns(self, now_ns: int) -> None:
        if now_ns < self._now_ns:
            raise ValueError(f"simulated time cannot go back: {now_ns} < {self._now_ns}")
        self._now_ns = now_ns


class TimerHandle:
    __slots__ = ("due_ns", "callback", "canceled")

    def __init__(self, due_ns: int, callback: Callable[[], None]) -> None:
        self.due_ns = due_ns
        self.callback = callback
        self.canceled = False

    def cancel(self) -> None:
        self.canceled = True


class TimerQueue:
    """One min-heap of callbacks by due time; ties fire in the order they were scheduled."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, TimerHandle]] = []
        self._sequence = 0
        self.on_earliest_changed: Callable[[int], None] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, due_ns: int, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(due_ns, callback)
        self._sequence += 1
        earliest_before = self._heap[0][0] if self._heap else None
        heapq.heappush(self._heap, (due_ns, self._sequence, handle))
        if self.on_earliest_changed is not None and (earliest_before is None or due_ns < earliest_before):
            self.on_earliest_changed(due_ns)
        return handle

    def call_later(self, delay_ns: int, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self.clock.now_ns() + delay_ns, callback)

    def next_due_ns(self) -> int | None:
        heap = self._heap
        while heap and heap[0][2].canceled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now_ns: int) -> int:
        """Fire every timer due at or before ``now_ns``; return how many fired."""
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= now_ns:
            _, _, handle = heapq.heappop(heap)
            if not handle.canceled:
                handle.canceled = True
                handle.callback()
                fired += 1
        return fired

    def advance_to(self, target_ns: int) -> int:
        """Simulated time only: step the SimClock through every due timer up to ``target_ns``, firing each in turn."""
        clock = self.clock
        if not isinstance(clock, SimClock):
            raise TypeError("advance_to drives a SimClock; live time is driven by LiveTimerDriver")
        fired = 0
        heap = self._heap
        while heap and heap[0][0] <= target_ns:
            due_ns, _, handle = heapq.heappop(heap)
            if handle.canceled:
                continue
            if due_ns > clock.now_ns():
                clock.set_ns(due_ns)
            handle.canceled = True
            handle.callback()
            fired += 1
        if target_ns > clock.now_ns():
            clock.set_ns(target_ns)
        return fired

    def advance_by(self, delta_ns: int) -> int:
        return self.advance_to(self.clock.now_ns() + delta_ns)


class LiveTimerDriver:
    """Keep one asyncio timer armed for the queue's earliest entry."""

    def __init__(self, timers: TimerQueue, loop: asyncio.AbstractEventLoop) -> None:
        self._timers = timers
        self._loop = loop
        self._armed: asyncio.TimerHandle | None = None
        self._armed_due_ns: int | None = None
        timers.on_earliest_changed = self._rearm
        due = timers.next_due_ns()
        if due is not None:
            self._rearm(due)

    def _rearm(self, due_ns: int) -> None:
        if self._armed_due_ns is not None and self._armed_due_ns <= due_ns:
            return
        if self._armed is not None:
            self._armed.cancel()
        delay_s = max(0.0, (due_ns - self._timers.clock.now_ns()) / NANOS_PER_SECOND)
        self._armed_due_ns = due_ns
        self._armed = self._loop.call_later(delay_s, self._fire)

    def _fire(self) -> None:
        self._armed = None
        self._armed_due_ns = None
        timers = self._timers
        timers.run_due(timers.clock.now_ns())
        due = timers.next_due_ns()
        if due is not None:
            self._rearm(due)

    def close(self) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._timers.on_earliest_changed = None
