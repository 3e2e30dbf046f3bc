"""Injectable time: the scheduler reads and waits on a clock, so tests need not sleep.

And how flowkit writes a duration and a moment for people (``format_duration``,
``format_moment``).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for deadlines, wall time for records, and a way to wait."""

    def monotonic(self) -> float: ...
    def time(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when slept on or advanced (trio's MockClock, simplified).

    ``sleeps`` records every wait the scheduler asked for, so a test can assert
    the retry delays without waiting for them.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)


def format_duration(seconds: float) -> str:
    """``0.42s``, ``12.3s``, ``2m05s`` or ``1h02m``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{whole_seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_moment(at: float) -> str:
    """A moment (seconds since the epoch) as local wall time with its zone."""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(at))
