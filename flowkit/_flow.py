"""Flow, the @task decorators and the active-flow context: they build specs.

``@flow.task`` (bare or called) and ``@task`` inside ``with Flow(...)`` turn a
function into a ``Task``: a thin callable that keeps the function plain (the
unit-testing path calls it in-process) and carries its ``TaskSpec``.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, overload

from flowkit._definition.kinds import compare, for_each, run_flow, shell
from flowkit._definition.notify import Health, Notify
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
from flowkit._planning.plan import Plan, build_plan
from flowkit._planning.simulate import simulate

if TYPE_CHECKING:
    from flowkit._state import RunResult

_active_flows: contextvars.ContextVar[tuple[Flow, ...]] = contextvars.ContextVar(
    "flowkit_active_flows", default=()
)


class Task:
    """A function registered as a task; calling it calls the function in this process."""

    def __init__(self, spec: TaskSpec, flow: Flow) -> None:
        self.spec = spec
        self.flow = flow
        functools.update_wrapper(self, spec.fn)

    @property
    def fn(self) -> Callable[..., Any]:
        return self.spec.fn

    @property
    def name(self) -> str:
        return self.spec.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.spec.fn(*args, **kwargs)

    @property
    def if_true(self) -> Dependency:
        """A dependency followed when this condition task returned True."""
        return self._outcome(outcome=True)

    @property
    def if_false(self) -> Dependency:
        """A dependency followed when this condition task returned False."""
        return self._outcome(outcome=False)

    def _outcome(self, *, outcome: bool) -> Dependency:
        if not self.spec.condition:
            branch = "if_true" if outcome else "if_false"
            msg = (
                f"flow {self.flow.name!r}, task {self.name!r} is not a condition task, so "
                f"it has no {branch} outcome to depend on; declare it with "
                f"@{self.flow.name}.condition, or depend on the task itself"
            )
            raise DefinitionError(msg)
        return Dependency(self.name, self.flow.name, outcome=outcome)

    def __repr__(self) -> str:
        return f"<Task {self.flow.name}.{self.name}>"


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


class Flow:
    """A named DAG of tasks with declared parameters.

    Args:
        name: the flow's name, ``[A-Za-z0-9_.-]+``.
        max_parallel: how many tasks may run at once.
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
        max_parallel: int = 4,
        params: Mapping[str, Any] | None = None,
        schedule: Cron | None = None,
        trigger: Periodic | FileArrival | None = None,
        max_concurrent_runs: int = 1,
        queue: bool = True,
        timeout: float | None = None,
        notify: Notify | None = None,
        health: Health | None = None,
    ) -> None:
        validate_flow_name(name)
        self.name = name
        self.max_parallel = max_parallel
        self.params = validate_params(name, params if params is not None else {})
        self._options = {
            "schedule": schedule,
            "trigger": trigger,
            "max_concurrent_runs": max_concurrent_runs,
            "queue": queue,
            "timeout": timeout,
            "notify": notify,
            "health": health,
        }
        FlowSpec(name=name, max_parallel=max_parallel, **self._options)  # validates them now
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

    def shell(
        self,
        name: str,
        command: str,
        *,
        depends_on: Iterable[Any] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Task:
        """Register a shell task: ``command`` runs through ``/bin/sh`` as the task.

        ``{{job.parameters.NAME}}``, ``{{tasks.NAME.values.KEY}}`` and the other
        references in ``command``, ``env`` and ``cwd`` are filled in when the attempt
        starts (in ``command`` each as one quoted shell word); ``env`` adds variables
        to the attempt's environment, ``cwd`` sets its directory; ``options`` are those
        of ``@flow.task``.
        """
        function = shell.shell_command(
            self.name, name, command, env=env, cwd=cwd, task_options=options
        )
        return self.task(name=name, depends_on=depends_on, **options)(function)

    def compare(
        self,
        name: str,
        left: Any,
        op: str,
        right: Any,
        *,
        depends_on: Iterable[Any] = (),
        **options: Any,
    ) -> Task:
        """Register a declarative condition task: ``left op right`` (Databricks If/else).

        ``==`` and ``!=`` compare as text, ``>``, ``>=``, ``<``, ``<=`` as numbers;
        either side may be a ``{{...}}`` reference. Dependents follow ``.if_true`` or
        ``.if_false``; ``options`` are those of ``@flow.task``.
        """
        function = compare.comparison(self.name, name, left, op, right)
        return self.condition(name=name, depends_on=depends_on, **options)(function)

    def run_flow(
        self,
        name: str,
        child: Flow,
        *,
        params: Mapping[str, Any] | None = None,
        depends_on: Iterable[Any] = (),
        executor: Any = "local",
        **options: Any,
    ) -> Task:
        """Register a task that runs ``child`` as a child run (Databricks Run Job).

        ``params`` override the child's parameters (string values may hold
        references); ``executor`` is where the child's tasks run (``"local"`` or
        ``"inline"``); ``options`` are those of ``@flow.task``. The task returns
        ``{"flow", "run_id", "state"}`` and sets the values ``run_id`` and ``state``.
        """
        function = run_flow.run_flow(self, name, child, params=params, executor=executor)
        return self.task(name=name, depends_on=depends_on, **options)(function)

    def for_each(
        self,
        *,
        over: Any,
        name: str | None = None,
        concurrency: int = 4,
        depends_on: Iterable[Any] = (),
        executor: str = "local",
        max_inputs: int = for_each.DEFAULT_MAX_INPUTS,
        **options: Any,
    ) -> Callable[[Callable[..., Any]], Task]:
        """Register a for-each task: ``@flow.for_each(over=[...], concurrency=4)``.

        The function runs once per input, which it receives as ``item``. ``over`` is
        a list, an upstream task (its return value), or a reference to a list;
        ``retries``, ``retry_delay``, ``retry_backoff``, ``retry_on_timeout`` and
        ``timeout`` apply to each iteration, the other options to the task.
        """

        def register(body: Callable[..., Any]) -> Task:
            dependencies = list(depends_on)
            source_task = None
            if isinstance(over, Task):
                source_task = over.name
                if over not in dependencies and over.name not in dependencies:
                    dependencies.append(over)
            task_options = dict(options)
            function = for_each.for_each(
                self.name,
                body,
                over=over,
                source_task=source_task,
                name=name,
                concurrency=concurrency,
                executor=executor,
                max_inputs=max_inputs,
                task_options=task_options,  # keeps the options of the task itself
            )
            return self.task(name=function.task_key, depends_on=dependencies, **task_options)(
                function
            )

        return register

    def simulate(self, **options: Any) -> dict[str, Any]:
        """Every task's final state for given failures, without running anything.

        ``fail=``, ``timed_out=``, ``condition_outcomes=``: see ``flowkit.testing.simulate``.
        """
        return simulate(self.plan(), **options)

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}: {len(self._tasks)} tasks>"


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
