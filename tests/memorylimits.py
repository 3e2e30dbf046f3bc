"""What an attempt killed for its memory looks like, on any executor that enforces it."""

from __future__ import annotations

import re
import signal

from flowkit import TaskState
from flowkit._state import TaskRun


def assert_killed_for_memory(task: TaskRun, *, limit_mib: int, attempts: int) -> None:
    """``task`` failed every attempt with MemoryLimitExceeded: "X MiB|GiB > LIMIT MiB", SIGKILL."""
    assert task.state is TaskState.FAILED
    assert task.attempts == attempts
    assert task.error is not None
    assert task.error.type_name == "MemoryLimitExceeded"
    over = re.match(rf"(\d+(?:\.\d+)?) (MiB|GiB) > {limit_mib} MiB", task.error.message)
    assert over is not None, task.error.message
    assert float(over.group(1)) * (1024 if over.group(2) == "GiB" else 1) > limit_mib
    assert task.signal == signal.SIGKILL
