"""Run and task states, error info, and the result of a run (DESIGN.md §2)."""

from __future__ import annotations

import enum
import operator
import traceback
from collections.abc import Mapping
from typing import Any

import attrs


class TaskState(str, enum.Enum):
    """Where a task stands in a run; the last six are final."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_FOR_RETRY = "waiting_for_retry"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"
    EXCLUDED = "excluded"

    def __str__(self) -> str:
        return self.value

    @property
    def is_final(self) -> bool:
        return self in FINAL_TASK_STATES

    @property
    def is_failed_like(self) -> bool:
        return self in FAILED_LIKE_STATES


FINAL_TASK_STATES = frozenset(
    {
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.TIMED_OUT,
        TaskState.CANCELLED,
        TaskState.UPSTREAM_FAILED,
        TaskState.EXCLUDED,
    }
)
FAILED_LIKE_STATES = frozenset({TaskState.FAILED, TaskState.TIMED_OUT, TaskState.UPSTREAM_FAILED})


class RunState(str, enum.Enum):
    """Where a run stands; INTERRUPTED means its orchestrator died.

    QUEUED: waiting for a slot under the flow's ``max_concurrent_runs``;
    TIMED_OUT: cancelled when it passed the flow's ``timeout``; SKIPPED: not
    started, the flow was at its limit and does not queue.
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SUCCEEDED_WITH_FAILURES = "succeeded_with_failures"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"

    @property
    def is_live(self) -> bool:
        """Whether an orchestrator is (or should be) at work on the run."""
        return self in (RunState.QUEUED, RunState.RUNNING)

    def __str__(self) -> str:
        return self.value

    @property
    def is_success(self) -> bool:
        """Whether the run counts as succeeded (exit code 0)."""
        return self in (RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_FAILURES)


#: What can start a run (Databricks' trigger types, in flowkit's words).
TRIGGER_TYPES = ("manual", "cron", "periodic", "file_arrival", "backfill")


@attrs.frozen
class RunTrigger:
    """What started a run, and for when: ``{{job.trigger.*}}`` reads it.

    ``time`` is the scheduled time (epoch seconds) of a cron, periodic or
    backfill run, the moment files were seen for a file-arrival run, and None
    for a manual run (whose trigger time is its start). ``backfill_id`` groups
    the runs of one ``flowkit backfill``.
    """

    type: str = attrs.field(default="manual", validator=attrs.validators.in_(TRIGGER_TYPES))
    time: float | None = None
    file_arrival_location: str | None = None
    backfill_id: str | None = None


@attrs.frozen
class ErrorInfo:
    """An error as text, safe to cross a process boundary and to store."""

    type_name: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, error: BaseException) -> ErrorInfo:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        return cls(type_name=type(error).__name__, message=str(error), traceback=text)

    @property
    def summary(self) -> str:
        """``Type: first line of the message``, for tables and logs."""
        first_line = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.type_name}: {first_line}" if first_line else self.type_name


@attrs.define
class TaskRun:
    """One task in one run: its state, attempts, timing and error."""

    name: str
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    error: ErrorInfo | None = None
    started_at: float | None = None
    ended_at: float | None = None
    #: The captured output of the latest attempt, where the executor captures it.
    log_path: str | None = None
    #: How the latest attempt's process ended: an exit code or a signal number.
    exit_code: int | None = None
    signal: int | None = None
    #: Wall seconds of the attempts ``attempts`` counts, summed: from each attempt's
    #: start to its end (an outcome, a timeout's kill, a cancel). Waits between retries
    #: are not in it.
    compute_seconds: float = 0.0
    #: Why a queued task has not started though its dependencies are done: a full
    #: pool, or the memory or CPUs it declared (DESIGN.md §9). None otherwise.
    waiting_for: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    def copy(self) -> TaskRun:
        """A copy: what an event carries while the scheduler goes on changing its own.

        Four times quicker than ``attrs.evolve``, and made for every state change.
        """
        return TaskRun(*_task_run_fields(self))


_task_run_fields = operator.attrgetter(*(field.name for field in attrs.fields(TaskRun)))


@attrs.frozen
class ClusterReport:
    """The compute a run's cluster held: where, how many workers, for how long (seconds)."""

    address: str
    ephemeral: bool
    workers: int
    startup_seconds: float
    lifetime_seconds: float


@attrs.frozen
class RunResult:
    """What ``Flow.run`` returns: the run's state, each task's, and the task values."""

    run_id: str
    flow_name: str
    state: RunState
    tasks: Mapping[str, TaskRun]
    values: Mapping[str, Mapping[str, Any]]
    params: Mapping[str, Any]
    started_at: float
    ended_at: float
    #: Return values of the tasks that succeeded and returned something.
    results: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    #: Why the run ended early when no one asked: the executor lost its workers, the
    #: flow's timeout passed, or (skipped) the flow was at its max_concurrent_runs.
    cancel_reason: str | None = None
    #: The cluster the executor held for the run (the dask executor's), else None.
    cluster: ClusterReport | None = None
    #: What started the run.
    trigger: RunTrigger = attrs.field(factory=RunTrigger)

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    @property
    def compute_seconds(self) -> float:
        """Every task's ``compute_seconds``, summed: what the run's attempts took."""
        return sum(task.compute_seconds for task in self.tasks.values())

    @property
    def succeeded(self) -> bool:
        return self.state.is_success

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for task_run in self.tasks.values():
            counts[task_run.state.value] = counts.get(task_run.state.value, 0) + 1
        summary = ", ".join(f"{count} {state}" for state, count in sorted(counts.items()))
        return (
            f"RunResult(run_id={self.run_id!r}, flow={self.flow_name!r}, "
            f"state={self.state.value}, tasks: {summary})"
        )


@attrs.frozen
class KeptTask:
    """A final task of an earlier run that a repair keeps as it was."""

    task: TaskRun
    values: Mapping[str, Any] = attrs.field(factory=dict)
    result: Any = None
