"""For-each tasks (Databricks For each, Airflow ``.expand``): one task body, once per input.

``@flow.for_each(over=...)`` registers a task whose function is a ``ForEach``
(built and checked by ``for_each``): when its attempt runs, it reads the inputs (a literal list, a
flow parameter or an upstream task value by reference, or an upstream task's
return value), then runs the iterations as a child run of one task per input,
``concurrency`` at a time, each an isolated attempt with the task's
``retries`` and ``timeout``. The task succeeds when every iteration does and
returns their return values as a list, in input order. The child run is
recorded with the parent's run id (``flowkit show`` on it lists the
iterations); when the task runs again in a repair, it repairs that child run,
so only the failed iterations run again.

The child run is started through ``_context.child_runs()``, the engine's side of
child runs: this module sits below the engine (DESIGN.md §4).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from flowkit._context import child_runs, current_context, task_values
from flowkit._definition import refs
from flowkit._definition.spec import FlowSpec, TaskSpec
from flowkit._errors import DefinitionError, ForEachFailed
from flowkit._state import RunResult, TaskState

if TYPE_CHECKING:
    from flowkit._context import TaskContext

#: The most inputs a for-each task takes unless told otherwise (``max_inputs``).
DEFAULT_MAX_INPUTS = 5000
#: Options that go to every iteration rather than to the for-each task itself.
ITERATION_OPTIONS = ("retries", "retry_delay", "retry_backoff", "retry_on_timeout", "timeout")


@attrs.frozen
class ForEach:
    """The function of a for-each task: calling it runs every iteration to its end."""

    flow_name: str
    task_key: str
    body: Callable[..., Any] = attrs.field(eq=False)
    over: Any
    source_task: str | None
    concurrency: int
    executor: str
    max_inputs: int
    iteration_options: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def __signature__(self) -> inspect.Signature:
        """The upstream task whose return value is iterated over comes in by name."""
        if self.source_task is None:
            return inspect.Signature()
        parameter = inspect.Parameter(self.source_task, inspect.Parameter.KEYWORD_ONLY)
        return inspect.Signature([parameter])

    @property
    def __flowkit_references__(self) -> list[str]:
        return [self.over] if isinstance(self.over, str) else []

    def __call__(self, **arguments: Any) -> list[Any]:
        """Run one iteration per input; return their results in input order.

        Raises:
            ForEachFailed: the inputs are not a list, or are too many, or an iteration failed.
        """
        context = current_context()
        items = self._items(context, arguments)
        if not items:
            print("no inputs: nothing to iterate over")
            return []
        child = self._iterations(items, context)
        runs = child_runs()
        parent = context.run_id if context is not None else None
        previous = runs.failed_child_run(child.name, parent) if parent is not None else None
        if previous is not None:
            print(f"repairing child run {previous}: only the failed iterations run again")
            result = runs.repair(child, previous, executor=self.executor)
        else:
            result = runs.run(child, parent_run_id=parent, executor=self.executor)
        if context is not None:
            task_values.set("run_id", result.run_id)
            task_values.set("iterations", len(items))
        if not result.state.is_success:
            raise ForEachFailed(self._failure_message(result, items))
        return [result.results.get(self._key(index)) for index in range(len(items))]

    # -- inputs -----------------------------------------------------------------------------
    def _items(self, context: TaskContext | None, arguments: Mapping[str, Any]) -> list[Any]:
        where = f"flow {self.flow_name!r}, for-each task {self.task_key!r}"
        if self.source_task is not None:
            value: Any = arguments.get(self.source_task)
            origin = f"the return value of {self.source_task!r}"
        elif isinstance(self.over, str):
            value = self._referenced(context, where)
            origin = self.over
        else:
            value, origin = list(self.over), "its literal inputs"
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not JSON: reported below, as what it is
                value = json.loads(value)
        if not isinstance(value, list | tuple):
            msg = (
                f"{where}: iterates over {origin}, which is {type(value).__name__} "
                f"{value!r:.80}, not a list; give it a list (JSON text of a list will do)"
            )
            raise ForEachFailed(msg)
        if len(value) > self.max_inputs:
            msg = (
                f"{where}: {origin} has {len(value):,} inputs, over the limit of "
                f"{self.max_inputs:,}; raise max_inputs=... or batch the inputs"
            )
            raise ForEachFailed(msg)
        return list(value)

    def _referenced(self, context: TaskContext | None, where: str) -> Any:
        """The raw value a ``{{tasks.X.values.K}}`` or ``{{job.parameters.N}}`` names."""
        (reference,) = refs.find_references(self.over)
        parts = reference.split(".")
        if context is not None and parts[0] == "tasks" and len(parts) >= 4:
            task_key, key = ".".join(parts[1:-2]), parts[-1]
            return task_values.get(task_key=task_key, key=key)
        if context is not None and parts[:2] == ["job", "parameters"]:
            return context.params[".".join(parts[2:])]
        return refs.fill(self.over, where=where, what=f"over={self.over!r}")

    # -- the iterations -----------------------------------------------------------------
    def _key(self, index: int) -> str:
        return f"{self.task_key}.{index}"

    def _iterations(self, items: list[Any], context: TaskContext | None) -> FlowSpec:
        """A flow of one task per input: the body with ``item`` (and its params) bound."""
        params = dict(context.params) if context is not None else {}
        wanted = set(inspect.signature(self.body).parameters) - {"item"}
        bound = {name: value for name, value in params.items() if name in wanted}
        name = f"{self.flow_name}.{self.task_key}"
        tasks = tuple(
            TaskSpec(
                flow_name=name,
                fn=functools.partial(self.body, item=item, **bound),
                name=self._key(index),
                **self.iteration_options,
            )
            for index, item in enumerate(items)
        )
        return FlowSpec(name=name, tasks=tasks, max_parallel=self.concurrency)

    def _failure_message(self, result: RunResult, items: list[Any]) -> str:
        failed = [
            (index, result.tasks[self._key(index)])
            for index in range(len(items))
            if result.tasks[self._key(index)].state is not TaskState.SUCCEEDED
        ]
        lines = [
            f"  - iteration {index} (input {items[index]!r:.60}): {task.state.value}"
            + (f": {task.error.summary}" if task.error else "")
            for index, task in failed[:10]
        ]
        more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
        return (
            f"flow {self.flow_name!r}, for-each task {self.task_key!r}: {len(failed)} of "
            f"{len(items)} iterations did not succeed (child run {result.run_id}; "
            f"`flowkit show {result.run_id[:12]}` lists them):\n" + "\n".join(lines) + more
        )


def for_each(
    flow_name: str,
    body: Callable[..., Any],
    *,
    over: Any,
    source_task: str | None = None,
    name: str | None = None,
    concurrency: int = 4,
    executor: str = "local",
    max_inputs: int = DEFAULT_MAX_INPUTS,
    task_options: dict[str, Any],
) -> ForEach:
    """The function of a for-each task: ``body(item)`` once per input.

    ``Flow.for_each`` registers it. The options of ``ITERATION_OPTIONS`` are taken
    out of ``task_options``: they apply to each iteration; the rest (``run_if``...)
    stay for the for-each task itself.

    Args:
        flow_name: the flow the task belongs to.
        body: the function run once per input; it takes the input as ``item``, and
            may take flow parameters by name.
        over: the inputs: a list, or a reference ``"{{tasks.NAME.values.KEY}}"`` /
            ``"{{job.parameters.NAME}}"`` to a list (or to JSON text of one); None when
            ``source_task`` is given.
        source_task: the upstream task whose return value holds the inputs.
        name: the task key (default: ``body``'s name).
        concurrency: how many iterations run at once.
        executor: where the iterations run: ``"local"`` (default) or ``"inline"``.
        max_inputs: more inputs than this fail the task.
        task_options: the task's options; the iteration options are removed from it.

    Raises:
        DefinitionError: every problem with ``over``, ``body`` or an option.
    """
    name = name or getattr(body, "__name__", None) or "for_each"
    where = f"flow {flow_name!r}, for-each task {name!r}"
    problems = []
    if source_task is not None:
        over = None  # the inputs come from the upstream task's return value
    elif isinstance(over, str):
        if len(refs.find_references(over)) != 1 or not over.strip().startswith("{{"):
            problems.append(
                f"{where}: option over={over!r} is invalid; allowed: a list, an upstream task, "
                "or one reference such as '{{tasks.ingest.values.files}}'"
            )
    elif not isinstance(over, list | tuple):
        problems.append(
            f"{where}: option over={over!r} of type {type(over).__name__} is invalid; "
            "allowed: a list, an upstream task, or a '{{...}}' reference to a list"
        )
    elif len(over) > max_inputs:
        problems.append(
            f"{where}: over has {len(over):,} inputs, over max_inputs={max_inputs:,}; "
            "raise max_inputs or batch the inputs"
        )
    if not callable(body) or "item" not in _parameters(body):
        problems.append(
            f"{where}: the body {body!r} must be a function taking the input as a parameter "
            "named 'item', e.g. def process(item): ..."
        )
    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        problems.append(f"{where}: option concurrency={concurrency!r}; allowed: an integer >= 1")
    if executor not in ("inline", "local"):
        problems.append(f"{where}: option executor={executor!r}; allowed: 'inline', 'local'")
    iteration_options = {
        key: task_options.pop(key) for key in ITERATION_OPTIONS if key in task_options
    }
    if not problems:
        try:  # each iteration's options, checked now rather than when the task runs
            TaskSpec(flow_name=flow_name, fn=body, name=f"{name}.0", **iteration_options)
        except DefinitionError as error:
            problems.extend(error.problems)
    if problems:
        raise DefinitionError("\n".join(problems), problems)
    return ForEach(
        flow_name=flow_name,
        task_key=name,
        body=body,
        over=over,
        source_task=source_task,
        concurrency=concurrency,
        executor=executor,
        max_inputs=max_inputs,
        iteration_options=iteration_options,
    )


def _parameters(body: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(body).parameters)
    except (TypeError, ValueError):
        return set()
