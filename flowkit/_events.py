"""Run events: what the engine tells its listeners, as immutable data (DESIGN.md §4).

A listener (the store's recorder, the command line's display, a test) never
sees the live scheduler: each hook gets one frozen event holding everything it
may read, so the store below the engine and the command line above it depend
on this module only (Dagster's execution events are the model).

    RunStarted    the run (or a repair pass of it) is about to dispatch its first task
    TaskChanged   a task moved to a new state: a copy of it, when, and on success its
                  values and return value
    TaskOutput    an isolated attempt printed a line
    StepEnded     the scheduler is about to wait or to start an attempt: commit now
    Tick          about every ``tick_interval`` seconds of real time
    RunTooLong    the run passed its flow's ``health.run_duration_over`` (once)
    RunFinished   the run ended, with what ``Flow.run`` returns
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._state import RunResult, RunTrigger, TaskRun


@attrs.frozen
class RunStarted:
    run_id: str
    flow_name: str
    params: Mapping[str, Any]
    started_at: float
    #: Every task as it is now, by name (a repair's kept tasks are final already).
    tasks: Mapping[str, TaskRun]
    executor_name: str
    max_parallel: int
    #: Which repair pass this is: 0 for the run itself.
    repair_count: int
    #: Where the flow can be loaded from again (``PATH.py:ATTR`` or ``MODULE:ATTR``).
    target: str | None = None
    #: What started the run.
    trigger: RunTrigger = attrs.field(factory=RunTrigger)
    #: The flow's tasks, edges and options as JSON data (``_planning.shape``).
    shape: Mapping[str, Any] | None = None


@attrs.frozen
class TaskChanged:
    run_id: str
    #: A copy of the task in its new state.
    task: TaskRun
    #: When it changed, on the run's clock.
    at: float
    #: On success: the values the task set and its return value.
    values: Mapping[str, Any] | None = None
    result: Any = None


@attrs.frozen
class TaskOutput:
    run_id: str
    task_key: str
    attempt: int
    line: str


@attrs.frozen
class StepEnded:
    run_id: str


@attrs.frozen
class Tick:
    run_id: str


@attrs.frozen
class RunTooLong:
    run_id: str
    #: The health rule's limit, and how long the run had been going, in seconds.
    limit: float
    duration: float


@attrs.frozen
class RunFinished:
    run_id: str
    result: RunResult


class RunListener:
    """Told of a run's progress as events; override what you need (the CLI and the store do)."""

    #: Seconds between ``tick`` calls while the run goes on; None for no ticks.
    tick_interval: float | None = None

    def run_started(self, event: RunStarted) -> None:
        """The run is about to dispatch its first task."""

    def task_changed(self, event: TaskChanged) -> None:
        """``event.task`` moved to a new state."""

    def task_output(self, event: TaskOutput) -> None:
        """An attempt printed ``event.line`` (isolating executors capture output)."""

    def flush(self, event: StepEnded) -> None:
        """The scheduler is about to wait or to dispatch: commit what changed so far."""

    def tick(self, event: Tick) -> None:
        """Called about every ``tick_interval`` seconds (a heartbeat, a live display)."""

    def run_too_long(self, event: RunTooLong) -> None:
        """The run passed its flow's ``health.run_duration_over``; told once."""

    def run_finished(self, event: RunFinished) -> None:
        """The run ended; ``event.result`` is what ``Flow.run`` returns."""
