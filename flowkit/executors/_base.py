"""The executor protocol: how the scheduler hands attempts out and gets outcomes back.

An executor is a small back end (hamilton's init / submit / finalize): the
scheduler calls ``start`` once, ``submit`` for each attempt, ``wait`` to
collect finished attempts, ``kill`` to stop one early (timeout, cancel), and
``shutdown`` at the end, whatever happened. ``kill`` returns at once: the
executor signals the attempt's process tree, escalates to SIGKILL after its
grace period on its own (while ``wait`` pumps), and reports the attempt from
``wait`` once the tree is gone, with whatever outcome; the scheduler decides
the state. So many attempts stopped together share one grace period, and the
scheduler goes on meanwhile. ``start`` comes before the run is
recorded, so an executor that cannot start (``ExecutorError``) leaves no run
behind; its ``capacity`` is read after it. An executor with compute to set up
may have ``provision()``: called once, when the first task is ready, before
that task's attempt is timed (the dask executor's ephemeral cluster). An
``ExecutorError`` from ``wait`` or ``kill`` (its workers are lost) cancels the
run with that reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

from flowkit._state import ErrorInfo, RunTrigger, TaskState

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan


@attrs.frozen
class AttemptRequest:
    """One attempt of one task, as data: everything its process needs."""

    run_id: str
    flow_name: str
    task_key: str
    attempt: int
    fn: Callable[..., Any]
    params: Mapping[str, Any]
    #: Values of the upstream tasks (direct or transitive) that set any.
    upstream_values: Mapping[str, Mapping[str, Any]]
    #: Every task's direct dependencies, so ``task_values.get`` can tell upstream from not.
    upstream_edges: Mapping[str, tuple[str, ...]]
    timeout: float | None = None
    #: Keyword arguments of the call: dependencies' return values and flow parameters.
    arguments: Mapping[str, Any] = attrs.field(factory=dict)
    #: Which repair of the run this is (0: the first run), and when the run started.
    repair_count: int = 0
    run_started_at: float = 0.0
    #: What started the run, for ``{{job.trigger.*}}``.
    trigger: RunTrigger = attrs.field(factory=RunTrigger)


@attrs.frozen
class AttemptOutcome:
    """How an attempt ended, as data: never a live exception object."""

    task_key: str
    attempt: int
    state: TaskState  # SUCCEEDED, FAILED or TIMED_OUT
    started_at: float
    ended_at: float
    error: ErrorInfo | None = None
    values: Mapping[str, Any] = attrs.field(factory=dict)
    result: Any = None
    #: Where the attempt's stdout and stderr were captured, when they were.
    log_path: str | None = None
    #: How the attempt's process ended, where there was one: an exit code or a signal.
    exit_code: int | None = None
    signal: int | None = None


def failed_outcome(
    task_key: str,
    attempt: int,
    error: ErrorInfo,
    *,
    started_at: float | None = None,
    ended_at: float | None = None,
    log_path: str | None = None,
    exit_code: int | None = None,
    signal: int | None = None,
) -> AttemptOutcome:
    """The outcome of an attempt that failed with ``error``; the one way every executor builds one.

    ``started_at`` and ``ended_at`` default to now (an attempt that failed before it ran).
    """
    now = time.time()
    return AttemptOutcome(
        task_key=task_key,
        attempt=attempt,
        state=TaskState.FAILED,
        started_at=now if started_at is None else started_at,
        ended_at=now if ended_at is None else ended_at,
        error=error,
        log_path=log_path,
        exit_code=exit_code,
        signal=signal,
    )


class Executor(Protocol):
    """What the scheduler needs from a back end."""

    name: ClassVar[str]
    #: Whether the executor can stop a running attempt (and so enforce ``timeout``).
    can_preempt: ClassVar[bool]
    #: Whether attempts run on this machine, so that the memory and CPUs tasks declare
    #: are admitted against what it has (DESIGN.md §9); elsewhere, a cluster admits them.
    runs_attempts_here: bool

    @property
    def capacity(self) -> int | None:
        """The most attempts it runs at once, or None for no limit of its own."""
        ...

    def start(
        self,
        plan: Plan,
        clock: Clock,
        *,
        run_id: str,
        repair_count: int = 0,
        on_output: Callable[[str, int, str], None] | None = None,
    ) -> None:
        """Get ready for a run (or its ``repair_count``-th repair).

        ``on_output(task_key, attempt, line)`` gets the lines attempts print.
        """
        ...

    def submit(self, request: AttemptRequest) -> None: ...
    def wait(self, timeout: float | None) -> list[AttemptOutcome]:
        """Block until an attempt ends or ``timeout`` seconds pass; return what ended."""
        ...

    def kill(self, task_key: str) -> bool:
        """Start stopping the attempt of ``task_key`` and everything it started; returns at once.

        True: ``wait`` reports the attempt once its whole process tree is gone. A false
        value (an executor that stopped it before returning) ends the attempt at once.
        """
        ...

    def shutdown(self) -> None: ...


class PumpedWait:
    """``wait`` for an executor whose ``_pump(timeout)`` handles events into ``_finished``."""

    _finished: list[AttemptOutcome]

    def _pump(self, timeout: float | None) -> None:
        raise NotImplementedError

    def wait(self, timeout: float | None) -> list[AttemptOutcome]:
        """Block until an attempt ends or ``timeout`` seconds pass; return what ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self._pump(remaining)
        finished, self._finished = self._finished, []
        return finished
