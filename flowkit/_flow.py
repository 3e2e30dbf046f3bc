"""Flow, the @task decorators and the active-flow context: they build specs.

``@flow.task`` (bare or called) and ``@task`` inside ``with Flow(...)`` turn a
function into a ``Task``: a thin callable that keeps the function plain (the
unit-testing path calls it in-process) and carries its ``TaskSpec``.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from flowkit._definition.notify import Health, Notify
from flowkit._definition.pools import pool_sizes
from flowkit._definition.schedules import Cron, FileArrival, Periodic
from flowkit._definition.spec import (
    TASK_OPTIONS,
    Dependency,
    FlowSpec,
    TaskSpec,
    validate_flow_name,
    validate_params,
)
from flowkit._errors import DefinitionError
from flowkit._flow_kinds import Task, TaskKinds
from flowkit._planning.plan import Plan, build_plan
from flowkit._planning.simulate import simulate

if TYPE_CHECKING:
    from flowkit._state import RunResult

_active_flows: contextvars.ContextVar[tuple[Flow, ...]] = contextvars.ContextVar(
    "flowkit_active_flows", default=()
)


def _dependencies(flow_name: str, task_name: str, depends_on: Any) -> tuple[Dependency, ...]:
    if isinstance(depends_on, str | Task) or not isinstance(depends_on, Iterable):
        msg = (
            f"flow {flow_name!r}, task {task_name!r}: option depends_on={depends_on!r} is "
            "invalid; allowed: a list of tasks or task names, e.g. depends_on=[ingest]"
        )
        raise DefinitionError(msg)
    dependencies = []
    for entry in depends_on:
        if isinstance(entry, Dependency):
            dependencies.append(entry)
        elif isinstance(entry, Task):
            dependencies.append(Dependency(entry.name, entry.flow.name))
        elif isinstance(entry, str) and entry:
            dependencies.append(Dependency(entry, None))
        else:
            msg = (
                f"flow {flow_name!r}, task {task_name!r}: depends_on entry {entry!r} of type "
                f"{type(entry).__name__} is neither a task nor a task name; pass the "
                "decorated function or its name"
            )
            raise DefinitionError(msg)
    return tuple(dependencies)


class Flow(TaskKinds):
    """A named DAG of tasks with declared parameters.

    Args:
        name: the flow's name, ``[A-Za-z0-9_.-]+``.
        max_parallel: how many tasks may run at once; by default as many as the machine
            has CPUs (its cgroup's CPU quota when it has one, not ``os.cpu_count()``).
        params: declared parameters and their defaults; runs may override them.
        schedule: a ``Cron`` that starts runs under ``flowkit serve``.
        trigger: a ``Periodic`` or ``FileArrival`` trigger instead of a schedule.
        max_concurrent_runs: how many runs of the flow may be live in the home at once.
        queue: at that limit, a new run waits its turn (True) or is ``skipped`` (False).
        timeout: seconds the whole run may take before it is cancelled as ``timed_out``.
        notify: who is told when a run starts, succeeds, fails or runs long.
        health: when a run is long: ``Health(run_duration_over=SECONDS)``.
    """

    def __init__(
        self,
        name: str,
        *,
        max_parallel: int | None = None,
        params: Mapping[str, Any] | None = None,
        schedule: Cron | None = None,
        trigger: Periodic | FileArrival | None = None,
        max_concurrent_runs: int = 1,
        queue: bool = True,
        timeout: float | None = None,
        notify: Notify | None = None,
        health: Health | None = None,
        pools: Mapping[str, int] | None = None,
    ) -> None:
        validate_flow_name(name)
        self.name = name
        self.max_parallel = max_parallel
        self.params = validate_params(name, params if params is not None else {})
        #: The folder of the file that built the flow: where kinds' relative paths start.
        self.source_folder = _caller_folder()
        self._options = {
            "schedule": schedule,
            "trigger": trigger,
            "max_concurrent_runs": max_concurrent_runs,
            "queue": queue,
            "timeout": timeout,
            "notify": notify,
            "health": health,
        }
        if isinstance(pools, Mapping):  # a Pool(size, shared=...) or a size
            self._options["pools"], self._options["shared_pools"] = pool_sizes(pools)
        else:
            self._options["pools"] = {} if pools is None else pools
        FlowSpec(name=name, max_parallel=max_parallel, **self._options)  # validates them now
        #: Set by a loader of non-Python flows (a bundle's job): what loads it again.
        self.origin: str | None = None
        self._tasks: list[Task] = []
        self._token: contextvars.Token[tuple[Flow, ...]] | None = None

    # -- registration ---------------------------------------------------------------
    @overload
    def task(self, fn: Callable[..., Any], /) -> Task: ...
    @overload
    def task(self, fn: None = None, /, **options: Any) -> Callable[[Callable[..., Any]], Task]: ...

    def task(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Register a function as a task: ``@flow.task`` or ``@flow.task(retries=3, ...)``."""
        if fn is not None:
            if options:
                msg = f"flow {self.name!r}: use @flow.task(...) with options as keywords only"
                raise DefinitionError(msg)
            return self._register(fn, options)
        self._check_options(options)
        return lambda function: self._register(function, options)

    def condition(self, fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
        """Register a condition task (Databricks If/else): its function returns a bool.

        Dependents follow ``task.if_true`` or ``task.if_false``; the branch not taken
        is ``excluded``. Same options as ``@flow.task``.
        """
        options = {**options, "condition": True}
        if fn is not None:
            return self._register(fn, options)
        self._check_options(options)
        return lambda function: self._register(function, options)

    def _check_options(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(TASK_OPTIONS))
        if unknown:
            task_name = options.get("name")
            where = f"flow {self.name!r}" + (f", task {task_name!r}" if task_name else "")
            msg = (
                f"{where}: unknown task option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(TASK_OPTIONS)}"
            )
            raise DefinitionError(msg)

    def _register(self, fn: Any, options: Mapping[str, Any]) -> Task:
        self._check_options(options)
        name = options.get("name", getattr(fn, "__name__", None))
        if isinstance(fn, Task):
            msg = (
                f"flow {self.name!r}, task {name!r}: {fn!r} is already a task; "
                "decorate the plain function once per flow"
            )
            raise DefinitionError(msg)
        fields = dict(options)
        fields["name"] = name
        fields["depends_on"] = _dependencies(self.name, str(name), options.get("depends_on", ()))
        task = Task(TaskSpec(flow_name=self.name, fn=fn, **fields), self)
        self._tasks.append(task)
        return task

    # -- the active-flow context ---------------------------------------------------
    def __enter__(self) -> Flow:
        self._token = _active_flows.set((*_active_flows.get(), self))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _active_flows.reset(self._token)
            self._token = None

    # -- views -----------------------------------------------------------------------
    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks by name, in definition order."""
        return {task.name: task for task in self._tasks}

    def spec(self) -> FlowSpec:
        return FlowSpec(
            name=self.name,
            tasks=tuple(task.spec for task in self._tasks),
            max_parallel=self.max_parallel,
            params=dict(self.params),
            origin=self.origin,
            **self._options,
        )

    @property
    def schedule(self) -> Cron | None:
        return self._options["schedule"]

    @property
    def trigger(self) -> Periodic | FileArrival | None:
        return self._options["trigger"]

    def plan(self) -> Plan:
        """Validate the flow and return its topological plan.

        Raises:
            DefinitionError: listing every problem found.
        """
        return build_plan(self.spec())

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        executor: Any = None,
        max_parallel: int | None = None,
        **options: Any,
    ) -> RunResult:
        """Run the flow to its end and return the result (the engine's ``run``).

        Raises:
            DefinitionError: the flow, its parameters or the executor are invalid.
            KeyboardInterrupt: Ctrl-C, once the run was cancelled and recorded.
        """
        # The one import of the engine from below it (DESIGN.md §4): a facade that
        # starts the engine, as Dagster's execute_in_process does.
        from flowkit import _engine

        return _engine.run_flow(
            self, params=params, executor=executor, max_parallel=max_parallel, **options
        )

    def repair(self, run_id: str, **options: Any) -> RunResult:
        """Re-run what failed or never ran in the stored run ``run_id`` (the engine's repair)."""
        from flowkit import _engine

        return _engine.repair_run(self, run_id, **options)

    def simulate(self, **options: Any) -> dict[str, Any]:
        """Every task's final state for given failures, without running anything.

        ``fail=``, ``timed_out=``, ``condition_outcomes=``: see ``flowkit.testing.simulate``.
        """
        return simulate(self.plan(), **options)

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}: {len(self._tasks)} tasks>"


def _caller_folder() -> Path:
    """The folder of the module that called ``Flow(...)``; the working directory if none."""
    frame = sys._getframe(2)  # Flow.__init__ <- the module that builds the flow
    file = frame.f_globals.get("__file__")
    return Path(file).resolve().parent if file else Path.cwd()


def active_flow() -> Flow | None:
    """The innermost flow entered with ``with Flow(...)``, if any."""
    flows = _active_flows.get()
    return flows[-1] if flows else None


def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Register a function into the innermost ``with Flow(...)`` block.

    ``@task`` or ``@task(retries=2, ...)``; the options are those of ``@flow.task``.
    """
    flow = active_flow()
    if flow is None:
        name = options.get("name", getattr(fn, "__name__", None))
        where = f"task {name!r}: " if name else ""
        msg = (
            f"{where}@task is used outside a flow; put it inside `with Flow('name') as flow:` "
            "or use @flow.task"
        )
        raise DefinitionError(msg)
    return flow.task(fn, **options) if fn is not None else flow.task(**options)
