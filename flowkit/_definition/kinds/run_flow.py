"""Run-flow tasks (Databricks Run Job): a task that runs another flow as a child run.

``flow.run_flow("nightly_load", load_flow, params={"date": "{{job.parameters.date}}"})``
registers a task whose function is a ``RunFlow`` (built and checked by
``run_flow``): when the attempt runs it fills in the references in the string
parameter values (``refs``), then runs the child flow to its end through
``_context.child_runs()`` (the engine's side), in the attempt's own process.
The child run is recorded in the default store with the parent's run id as its
``parent_run_id``, so ``runs`` shows it; its tasks' output lands in the
attempt's log as ``[task] line``. The child's state decides the task's: a child
that succeeded (with or without handled failures) makes the task succeed; a
failed or cancelled one fails it with ``ChildRunFailed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from flowkit._context import child_runs, current_context, task_values
from flowkit._definition import refs
from flowkit._errors import ChildRunFailed, DefinitionError
from flowkit._state import TaskState

if TYPE_CHECKING:
    from flowkit._definition.spec import FlowSpec
    from flowkit._state import RunResult


@runtime_checkable
class FlowDefinition(Protocol):
    """What a run-flow task needs of a flow: a ``Flow`` is one."""

    name: str
    params: Mapping[str, Any]

    @property
    def tasks(self) -> Mapping[str, Any]: ...

    def spec(self) -> FlowSpec: ...


#: Where a child run's tasks may run: inside the run-flow task's own process.
CHILD_EXECUTORS = ("inline", "local")


@attrs.frozen
class RunFlow:
    """The function of a run-flow task: calling it runs the child flow to its end.

    Plain data holding the child ``Flow``; the local executor forks the attempt
    process, so the child's functions need not pickle.
    """

    flow_name: str
    task_key: str
    child: FlowDefinition = attrs.field(eq=False)
    params: Mapping[str, Any] = attrs.field(factory=dict)
    executor: Any = "local"

    @property
    def __name__(self) -> str:
        return self.task_key

    @property
    def __flowkit_references__(self) -> list[str]:
        """The string parameter values, which may hold references, for the plan to check."""
        return [value for value in self.params.values() if isinstance(value, str)]

    def __call__(self) -> dict[str, str]:
        """Run the child flow; return its run id and state.

        Raises:
            ChildRunFailed: the child run failed or was cancelled.
            FlowkitError: called outside a run with references to fill.
        """
        context = current_context()
        params = {key: self._resolved(key, value) for key, value in self.params.items()}
        result = child_runs().run(
            self.child,
            parent_run_id=context.run_id if context is not None else None,
            executor=self.executor,
            params=params,
            # A reference fills in text: convert it as -p KEY=VALUE would, to the
            # type of the child's default (int, float, bool).
            params_from_text=True,
        )
        summary = {"flow": self.child.name, "run_id": result.run_id, "state": result.state.value}
        if context is not None:  # outside a run there is nobody to read them
            task_values.set("run_id", result.run_id)
            task_values.set("state", result.state.value)
        if not result.state.is_success:
            raise ChildRunFailed(self._failure_message(result))
        return summary

    def _resolved(self, key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        where = f"flow {self.flow_name!r}, task {self.task_key!r}"
        return refs.fill(value, where=where, what=f"parameter {key}={value!r}")

    def _failure_message(self, result: RunResult) -> str:
        failed = [
            f"{name} ({task.state.value}"
            + (f": {_first_line(task.error.message)})" if task.error is not None else ")")
            for name, task in result.tasks.items()
            if task.state.is_failed_like or task.state is TaskState.CANCELLED
        ]
        return (
            f"flow {self.flow_name!r}, task {self.task_key!r}: child flow "
            f"{self.child.name!r}, run {result.run_id}, ended {result.state.value}; "
            f"failed tasks: {', '.join(failed) or 'none'}. "
            f"See `python -m flowkit show {result.run_id}`"
        )

    def __repr__(self) -> str:
        return f"<RunFlow {self.flow_name}.{self.task_key}: {self.child.name}>"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _runs_flow(flow: FlowDefinition, target: FlowDefinition, seen: set[int]) -> list[str]:
    """The chain of flow names from ``flow`` down to a run-flow task of ``target``, if any."""
    if id(flow) in seen:
        return []
    seen.add(id(flow))
    for task in flow.tasks.values():
        function = task.fn
        if isinstance(function, RunFlow):
            if function.child is target:
                return [flow.name, target.name]
            chain = _runs_flow(function.child, target, seen)
            if chain:
                return [flow.name, *chain]
    return []


def run_flow(
    parent: FlowDefinition,
    name: str,
    child: Any,
    *,
    params: Mapping[str, Any] | None = None,
    executor: Any = "local",
) -> RunFlow:
    """The function of a task of ``parent`` that runs ``child`` as a child run.

    ``Flow.run_flow`` registers it.

    Args:
        parent: the flow the task belongs to.
        name: the task key.
        child: the flow to run; not ``parent`` itself, nor a flow that runs ``parent``.
        params: overrides of the child's declared parameters; string values may hold
            dynamic value references (``{{job.parameters.date}}``), filled in when the
            attempt starts, then converted to the type of the child's default when that
            is an int, float or bool (as ``-p KEY=VALUE`` is).
        executor: where the child's tasks run: ``"local"`` (the default) or ``"inline"``.

    Returns:
        The function; the task returns ``{"flow": ..., "run_id": ..., "state": ...}`` and
        sets the task values ``run_id`` and ``state``.

    Raises:
        DefinitionError: every problem with ``child``, ``params`` or ``executor``.
    """
    where = f"flow {parent.name!r}, task {name!r}"
    params = {} if params is None else params
    problems = []
    if not isinstance(child, FlowDefinition):
        problems.append(
            f"{where}: option child={child!r} of type {type(child).__name__} is invalid; "
            "allowed: a Flow"
        )
    elif child is parent:
        problems.append(
            f"{where}: option child={child!r} is the flow itself; a flow cannot run itself "
            "as a child run. Pass another Flow"
        )
    else:
        chain = _runs_flow(child, parent, set())
        if chain:
            problems.append(
                f"{where}: option child={child!r} runs this flow again "
                f"({' -> '.join([parent.name, *chain])}); a flow cannot run itself"
            )
    if not isinstance(params, Mapping) or not all(isinstance(key, str) for key in params):
        problems.append(
            f"{where}: option params={params!r} is invalid; allowed: a mapping of the child's "
            "parameter names to values"
        )
    elif isinstance(child, FlowDefinition):
        unknown = sorted(set(params) - set(child.params))
        if unknown:
            problems.append(
                f"{where}: option params names parameter(s) {', '.join(map(repr, unknown))} "
                f"that child flow {child.name!r} does not declare; allowed: "
                f"{', '.join(sorted(child.params)) or 'none'}"
            )
    # The child runs inside the task's own process: on a dask worker too, so it never
    # needs (or starts) a cluster of its own.
    if not (isinstance(executor, str) and executor in CHILD_EXECUTORS):
        problems.append(
            f"{where}: option executor={executor!r} is invalid; allowed: "
            f"{', '.join(map(repr, CHILD_EXECUTORS))}"
        )
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return RunFlow(
        flow_name=parent.name, task_key=name, child=child, params=dict(params), executor=executor
    )
