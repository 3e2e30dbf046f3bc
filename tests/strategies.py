"""Hypothesis strategies for random DAGs and failure patterns, and the test doubles they drive.

A ``DagCase`` is plain data (attrs): tasks ``t0 .. tN`` whose edges go from
earlier to later indices, each with a ``run_if``, a retry policy and a failure
pattern. ``build_flow`` turns a case into a real ``Flow`` whose task functions
append their name to a shared list on every call, so a test sees the order
tasks actually ran in.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
from hypothesis import strategies as st

from flowkit import ErrorInfo, FakeClock, Flow, RunIf, RunListener
from flowkit._state import ClusterReport
from flowkit.executors import InlineExecutor
from flowkit.executors._base import failed_outcome

#: The exceptions a failing attempt raises; SystemExit in a task is a failure too.
FAILURE_TYPES: tuple[type[BaseException], ...] = (RuntimeError, ValueError, SystemExit)


@attrs.frozen
class TaskCase:
    """One task of a random DAG: options and how many leading attempts fail."""

    name: str
    depends_on: tuple[str, ...]
    run_if: RunIf
    retries: int
    retry_delay: float
    retry_backoff: float
    #: Leading attempts that fail; None when every attempt fails.
    failures: int | None
    failure_type: type[BaseException] = RuntimeError
    #: Pass dependencies as Task objects (when defined already) rather than names.
    depend_by_object: bool = False


@attrs.frozen
class DagCase:
    """A random DAG: tasks in index order (a topological order) and a definition order."""

    tasks: tuple[TaskCase, ...]
    #: Indices into ``tasks`` in the order they are registered in the flow.
    definition_order: tuple[int, ...]
    max_parallel: int = 4

    @property
    def by_name(self) -> dict[str, TaskCase]:
        return {task.name: task for task in self.tasks}

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every (upstream, downstream) pair."""
        return [(dep, task.name) for task in self.tasks for dep in task.depends_on]


@st.composite
def task_cases(draw: st.DrawFn, index: int) -> TaskCase:
    earlier = [f"t{position}" for position in range(index)]
    depends_on = (
        tuple(draw(st.lists(st.sampled_from(earlier), unique=True, max_size=4))) if earlier else ()
    )
    return TaskCase(
        name=f"t{index}",
        depends_on=depends_on,
        run_if=draw(st.sampled_from(list(RunIf))),
        retries=draw(st.integers(min_value=0, max_value=3)),
        retry_delay=draw(st.sampled_from([0.0, 0.5, 30.0])),
        retry_backoff=draw(st.sampled_from([1.0, 2.0])),
        failures=draw(st.sampled_from([0, 0, 0, 1, 2, 4, None])),
        failure_type=draw(st.sampled_from(FAILURE_TYPES)),
        depend_by_object=draw(st.booleans()),
    )


@st.composite
def dag_cases(draw: st.DrawFn, max_tasks: int = 10) -> DagCase:
    """A random DAG of 1..max_tasks tasks, registered in a random order."""
    count = draw(st.integers(min_value=1, max_value=max_tasks))
    tasks = tuple(draw(task_cases(index)) for index in range(count))
    definition_order = tuple(draw(st.permutations(range(count))))
    max_parallel = draw(st.integers(min_value=1, max_value=4))
    return DagCase(tasks=tasks, definition_order=definition_order, max_parallel=max_parallel)


def task_function(case: TaskCase, calls: list[str]) -> Callable[[], None]:
    """A task function that records each call and fails its first ``case.failures`` calls."""
    attempts = itertools.count(1)

    def run() -> None:
        attempt = next(attempts)
        calls.append(case.name)
        if case.failures is None or attempt <= case.failures:
            raise case.failure_type(f"{case.name} attempt {attempt} fails on purpose")

    return run


def build_flow(case: DagCase, calls: list[str], name: str = "random_dag") -> Flow:
    """The ``Flow`` a case describes; its tasks append to ``calls`` when they run."""
    flow = Flow(name, max_parallel=case.max_parallel)
    for index in case.definition_order:
        task_case = case.tasks[index]
        defined = flow.tasks
        depends_on = [
            defined[dep] if task_case.depend_by_object and dep in defined else dep
            for dep in task_case.depends_on
        ]
        flow.task(
            name=task_case.name,
            depends_on=depends_on,
            run_if=task_case.run_if,
            retries=task_case.retries,
            retry_delay=task_case.retry_delay,
            retry_backoff=task_case.retry_backoff,
        )(task_function(task_case, calls))
    return flow


class EventRecorder(RunListener):
    """A listener that keeps every state change as ``(task, state)``, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.started = 0
        self.finished: list[Any] = []

    def run_started(self, event: Any) -> None:
        self.started += 1

    def task_changed(self, event: Any) -> None:
        self.events.append((event.task.name, event.task.state.value))

    def run_finished(self, event: Any) -> None:
        self.finished.append(event.result)

    def states_of(self, name: str) -> list[str]:
        return [state for task, state in self.events if task == name]


class ShuffledExecutor:
    """Holds every submitted attempt and runs a random one when the scheduler waits.

    No capacity of its own, so ``max_parallel`` is what limits how many attempts
    are in flight; ``most_in_flight`` records the peak. The attempt itself runs
    through the inline executor.
    """

    name: ClassVar[str] = "shuffled"
    can_preempt: ClassVar[bool] = False
    runs_attempts_here: ClassVar[bool] = True

    def __init__(self, seed: int = 0) -> None:
        self._random = random.Random(seed)
        self._held: list[Any] = []
        self._stopped: list[Any] = []
        self._inline = InlineExecutor()
        self.most_in_flight = 0
        self.submitted: list[str] = []
        self.killed: list[str] = []

    @property
    def capacity(self) -> int | None:
        return None

    def start(self, plan: Any, clock: Any, **options: Any) -> None:
        # Options (run_id, on_output, ...) go through untouched, so the double follows
        # the protocol as it grows.
        self._inline.start(plan, clock, **options)

    def submit(self, request: Any) -> None:
        self._held.append(request)
        self.submitted.append(request.task_key)
        self.most_in_flight = max(self.most_in_flight, len(self._held))

    def wait(self, timeout: float | None) -> list[Any]:
        if self._stopped:
            stopped, self._stopped = self._stopped, []
            return stopped
        if not self._held:
            return []
        request = self._held.pop(self._random.randrange(len(self._held)))
        self._inline.submit(request)
        return self._inline.wait(timeout)

    def kill(self, task_key: str) -> bool:
        # As every executor does: returns at once, and the next wait reports the attempt.
        self.killed.append(task_key)
        held = [request for request in self._held if request.task_key == task_key]
        for request in held:
            self._held.remove(request)
            self._stopped.append(
                failed_outcome(
                    request.task_key,
                    request.attempt,
                    ErrorInfo(type_name="Stopped", message="stopped"),
                )
            )
        return bool(held)

    def shutdown(self) -> None:
        self._held.clear()
        self._inline.shutdown()


class HangingExecutor(ShuffledExecutor):
    """Like ``ShuffledExecutor``, but attempts of the tasks in ``hang`` never end.

    It claims to pre-empt, so the scheduler enforces ``timeout``: waiting on a
    hanging attempt sleeps the (fake) clock for the whole ``timeout`` asked for.
    """

    name: ClassVar[str] = "hanging"
    can_preempt: ClassVar[bool] = True

    def __init__(self, clock: Any, hang: set[str]) -> None:
        super().__init__()
        self._clock = clock
        self._hang = hang

    def wait(self, timeout: float | None) -> list[Any]:
        if self._stopped:
            stopped, self._stopped = self._stopped, []
            return stopped
        runnable = [request for request in self._held if request.task_key not in self._hang]
        if runnable:
            self._held.remove(runnable[0])
            self._inline.submit(runnable[0])
            return self._inline.wait(timeout)
        assert timeout is not None, "the scheduler waited forever on a hanging attempt"
        self._clock.sleep(timeout)
        return []


class ClusterExecutor(ShuffledExecutor):
    """Like ``ShuffledExecutor``, and reports ``report`` once shut down, as the dask one does."""

    name: ClassVar[str] = "clustered"

    def __init__(self, report: ClusterReport) -> None:
        super().__init__()
        self._report = report
        self.cluster_report: ClusterReport | None = None

    def start(self, plan: Any, clock: Any, **options: Any) -> None:
        super().start(plan, clock, **options)
        self.cluster_report = None  # a report describes the last run, once it has ended

    def shutdown(self) -> None:
        super().shutdown()
        self.cluster_report = self._report


def metered_flow(clock: FakeClock, broken: dict[str, bool] | None = None) -> Flow:
    """``flaky`` takes 3s an attempt and succeeds on its third; ``steady`` takes 2s.

    With ``broken``, ``steady`` fails while ``broken["steady"]`` is true.
    """
    flow = Flow("metered")
    calls: list[int] = []

    @flow.task(retries=3, retry_delay=10)
    def flaky() -> None:
        calls.append(1)
        clock.advance(3)
        if len(calls) < 3:
            raise RuntimeError("not yet")

    @flow.task(depends_on=[flaky])
    def steady() -> None:
        clock.advance(2)
        if broken and broken["steady"]:
            raise RuntimeError("broken")

    return flow


@attrs.frozen
class PooledDag:
    """A random DAG whose tasks may take a pool's slots: ``pools`` caps, ``pool_of`` members."""

    upstream: dict[str, tuple[str, ...]]
    pools: dict[str, int]
    pool_of: dict[str, str]
    max_parallel: int


@st.composite
def pooled_dags(draw: st.DrawFn, max_tasks: int = 14) -> PooledDag:
    count = draw(st.integers(min_value=1, max_value=max_tasks))
    names = [f"t{index}" for index in range(count)]
    upstream = {
        name: tuple(draw(st.lists(st.sampled_from(names[:index]), unique=True, max_size=3)))
        if index
        else ()
        for index, name in enumerate(names)
    }
    pools = {f"p{index}": draw(st.integers(1, 3)) for index in range(draw(st.integers(1, 3)))}
    pool_of = {
        name: pool for name in names if (pool := draw(st.sampled_from([None, *pools]))) is not None
    }
    return PooledDag(upstream, pools, pool_of, draw(st.integers(1, 5)))
