"""How a run is followed as it happens: ``RunListener`` and the ``RunView`` it is given.

The engine tells each listener when the run starts, of every task state change (a
copy of the task), of every line an isolated attempt prints, when a scheduler step
ends (``flush``: commit now), every ``tick_interval`` real seconds, and when the
run ends. The store's recorder, the command line's display and tests are listeners.

A listener reads the run through ``RunView``, the read-only part of the engine's
run declared here, below the store and the engine: so the store and the command
line depend on this module, not on the engine (DESIGN.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._state import RunResult, TaskRun


class RunView(Protocol):
    """What a listener may read of a run in progress."""

    @property
    def run_id(self) -> str: ...
    @property
    def name(self) -> str:
        """The flow's name."""
        ...

    @property
    def params(self) -> Mapping[str, Any]: ...
    @property
    def started_at(self) -> float: ...
    @property
    def tasks(self) -> Mapping[str, TaskRun]:
        """Every task of the run by name, as it is now."""
        ...

    @property
    def values(self) -> Mapping[str, Mapping[str, Any]]:
        """The task values of the tasks that set any."""
        ...

    @property
    def results(self) -> Mapping[str, Any]:
        """The return values of the tasks that succeeded."""
        ...

    @property
    def target(self) -> str | None:
        """Where the flow can be loaded from again (``PATH.py:ATTR`` or ``MODULE:ATTR``)."""
        ...

    @property
    def repair_count(self) -> int: ...
    @property
    def max_parallel(self) -> int: ...
    @property
    def executor_name(self) -> str: ...
    @property
    def clock(self) -> Clock: ...


class RunListener:
    """Told of a run's progress; override what you need (the CLI and the store do)."""

    #: Seconds between ``tick`` calls while the run goes on; None for no ticks.
    tick_interval: float | None = None

    def run_started(self, run: RunView) -> None:
        """The run is about to dispatch its first task."""

    def task_changed(self, run: RunView, task: TaskRun) -> None:
        """``task`` moved to a new state (a copy: keep it if you like)."""

    def task_output(self, run: RunView, task_key: str, attempt: int, line: str) -> None:
        """An attempt printed ``line`` (isolating executors capture output)."""

    def flush(self, run: RunView) -> None:
        """The scheduler is about to wait or to dispatch: commit what it changed so far."""

    def tick(self, run: RunView) -> None:
        """Called about every ``tick_interval`` seconds (a heartbeat, a live display)."""

    def run_finished(self, run: RunView, result: RunResult) -> None:
        """The run ended; ``result`` is what ``Flow.run`` returns."""
