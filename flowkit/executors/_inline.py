"""The inline executor: attempts run in this process, one at a time, for tests and debuggers.

No isolation and no pre-emption: a task's crash is the orchestrator's, and
``timeout`` is not enforced (the scheduler warns once when a flow sets one).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, ClassVar

from flowkit._state import ErrorInfo
from flowkit.executors._attempt import execute
from flowkit.executors._base import AttemptOutcome, AttemptRequest, failed_outcome

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan


class InlineExecutor:
    """Runs each submitted attempt in this process when the scheduler waits."""

    name: ClassVar[str] = "inline"
    can_preempt: ClassVar[bool] = False
    runs_attempts_here: ClassVar[bool] = True

    def __init__(self) -> None:
        self._queue: deque[AttemptRequest] = deque()
        self._running: AttemptRequest | None = None  # the attempt a Ctrl-C may leave behind
        self._stopped: list[AttemptOutcome] = []

    @property
    def capacity(self) -> int:
        return 1

    def start(
        self,
        plan: Plan,
        clock: Clock,
        *,
        run_id: str,
        repair_count: int = 0,
        on_output: object = None,
    ) -> None:
        self._queue.clear()

    def submit(self, request: AttemptRequest) -> None:
        self._queue.append(request)

    def wait(self, timeout: float | None) -> list[AttemptOutcome]:
        if self._stopped:
            stopped, self._stopped = self._stopped, []
            return stopped
        if not self._queue:
            return []
        self._running = self._queue.popleft()
        outcome = execute(self._running)
        self._running = None
        return [outcome]

    def kill(self, task_key: str) -> bool:
        """Withdraw a queued attempt, or give up one a Ctrl-C interrupted; ``wait`` reports it.

        A running attempt cannot be stopped: it has this thread. True when it will report.
        """
        withdrawn = [request for request in self._queue if request.task_key == task_key]
        if self._running is not None and self._running.task_key == task_key:
            withdrawn.append(self._running)
            self._running = None
        for request in withdrawn:
            error = ErrorInfo(type_name="Stopped", message=f"task {task_key!r} was stopped")
            self._stopped.append(failed_outcome(request.task_key, request.attempt, error))
        self._queue = deque(request for request in self._queue if request.task_key != task_key)
        return bool(withdrawn)

    def shutdown(self) -> None:
        self._queue.clear()
        self._stopped.clear()
        self._running = None
