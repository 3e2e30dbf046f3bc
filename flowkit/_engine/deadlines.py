"""The run's own deadlines: the flow's ``timeout`` and its health rule's ``run_duration_over``.

Both count from the run's start on its clock. The loop adds ``next`` to the
deadlines it waits for (no polling), asks ``timed_out`` before each step, and
takes the ``too_long`` event once the health rule's limit has passed.
"""

from __future__ import annotations

from flowkit._clock import Clock
from flowkit._events import RunTooLong
from flowkit._planning.plan import Plan


def sooner(first: float | None, second: float | None) -> float | None:
    """The smaller of two deadlines or timeouts, None standing for none."""
    if first is None:
        return second
    return first if second is None else min(first, second)


class RunDeadlines:
    """When the run times out, and when it is too long (told once)."""

    def __init__(self, plan: Plan, clock: Clock, *, run_id: str, started_at: float) -> None:
        self.clock = clock
        self.run_id = run_id
        self.started_at = started_at
        now = clock.monotonic()
        self.timeout = plan.flow.timeout
        self._timeout_at = None if self.timeout is None else now + self.timeout
        health = plan.flow.health
        self.limit = None if health is None else health.run_duration_over
        self._too_long_at = None if self.limit is None else now + self.limit

    def next(self) -> float | None:
        """The nearest of the two still to come, on the clock's monotonic time."""
        return sooner(self._timeout_at, self._too_long_at)

    def timed_out(self) -> bool:
        return self._timeout_at is not None and self.clock.monotonic() >= self._timeout_at

    def too_long(self) -> RunTooLong | None:
        """The health rule's event, the first time it is asked past the limit; else None."""
        if self._too_long_at is None or self.clock.monotonic() < self._too_long_at:
            return None
        self._too_long_at = None
        assert self.limit is not None
        duration = self.clock.time() - self.started_at
        return RunTooLong(run_id=self.run_id, limit=self.limit, duration=duration)
