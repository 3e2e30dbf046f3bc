"""Run listeners: how the command line, the store and tests follow a run as it happens.

A listener is told when the run starts, of every task state change (a copy of
the task), of every line an isolated attempt prints, every ``tick_interval``
real seconds, and when the run ends.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowkit._engine.runtime import ActiveRun
    from flowkit._state import RunResult, TaskRun


class RunListener:
    """Told of a run's progress; override what you need (the CLI and the store do)."""

    def run_started(self, run: ActiveRun) -> None:
        """The run is about to dispatch its first task."""

    def task_changed(self, run: ActiveRun, task: TaskRun) -> None:
        """``task`` moved to a new state (a copy: keep it if you like)."""

    def task_output(self, run: ActiveRun, task_key: str, attempt: int, line: str) -> None:
        """An attempt printed ``line`` (isolating executors capture output)."""

    def flush(self, run: ActiveRun) -> None:
        """The scheduler is about to wait or to dispatch: commit what it changed so far."""

    def run_finished(self, run: ActiveRun, result: RunResult) -> None:
        """The run ended; ``result`` is what ``Flow.run`` returns."""

    #: Seconds between ``tick`` calls while the run goes on; None for no ticks.
    tick_interval: float | None = None

    def tick(self, run: ActiveRun) -> None:
        """Called about every ``tick_interval`` seconds (a heartbeat, a live display)."""


class EchoOutput(RunListener):
    """Prints each captured line as ``[task] line`` (``[task#2]`` from the second attempt)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def task_output(self, run: ActiveRun, task_key: str, attempt: int, line: str) -> None:
        stream = self.stream or sys.stdout
        label = task_key if attempt == 1 else f"{task_key}#{attempt}"
        stream.write(f"[{label}] {line}\n")
        stream.flush()
