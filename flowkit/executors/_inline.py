"""The inline executor: attempts run in this process, one at a time, for tests and debuggers.

No isolation and no pre-emption: a task's crash is the orchestrator's, and
``timeout`` is not enforced (the scheduler warns once when a flow sets one).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, ClassVar

from flowkit.executors._attempt import execute
from flowkit.executors._base import AttemptOutcome, AttemptRequest

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan


class InlineExecutor:
    """Runs each submitted attempt in this process when the scheduler waits."""

    name: ClassVar[str] = "inline"
    can_preempt: ClassVar[bool] = False

    def __init__(self) -> None:
        self._queue: deque[AttemptRequest] = deque()

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
        if not self._queue:
            return []
        return [execute(self._queue.popleft())]

    def kill(self, task_key: str) -> None:
        # Only a queued attempt can be withdrawn; a running one has the thread.
        self._queue = deque(request for request in self._queue if request.task_key != task_key)

    def shutdown(self) -> None:
        self._queue.clear()
