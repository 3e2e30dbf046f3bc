"""``flowkit-task``: run one task of a flow on a Databricks cluster, as a wheel task.

``flowkit export`` writes a Python function task (and a shell task) as a
``python_wheel_task`` with ``entry_point: flowkit-task`` and
``named_parameters: {target, task}``; Databricks calls it as
``flowkit-task --target=flow.py:flow --task=clean --day=...`` (job parameters
are pushed down as more named parameters). It loads the flow, calls that one
task's function in a task context whose values live in
``dbutils.jobs.taskValues``: ``task_values.get`` and a function argument named
after an upstream task read them there (the argument is that task's
``return_value``), and what the task sets, and its return value when it is
JSON, are set there for the tasks after it. A task that raises fails the
wheel task with its traceback, as any Python wheel task does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from flowkit._context import TaskContext, installed
from flowkit._errors import FlowkitError
from flowkit._interop.targets import load_target
from flowkit._planning.plan import task_arguments
from flowkit._text import escape_lines

#: The task value a task's return value is kept under.
RETURN_VALUE = "return_value"
_MISSING = "\0flowkit: no such value"


class DatabricksValues(Mapping[str, Any]):
    """One upstream task's values, read from ``dbutils.jobs.taskValues`` when asked."""

    def __init__(self, dbutils: Any, task_key: str) -> None:
        self._dbutils = dbutils
        self._task_key = task_key

    def _read(self, key: str) -> Any:
        return self._dbutils.jobs.taskValues.get(
            taskKey=self._task_key, key=key, default=_MISSING, debugValue=_MISSING
        )

    def __getitem__(self, key: str) -> Any:
        value = self._read(key)
        if isinstance(value, str) and value == _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and not (
            isinstance(value := self._read(key), str) and value == _MISSING
        )

    def __iter__(self) -> Iterator[str]:
        return iter(())  # the keys another task set are not listed by Databricks

    def __len__(self) -> int:
        return 0


def run_task(arguments: Sequence[str], *, dbutils: Any) -> int:
    """Run the task ``arguments`` name; 0 when it succeeded (a task that raises raises).

    Raises:
        FlowkitError: no target or task named, or the flow has no such task.
    """
    named = _named(arguments)
    target, task_key = named.pop("target", None), named.pop("task", None)
    if not target or not task_key:
        msg = "flowkit-task needs --target=PATH.py:FLOW (or MODULE:FLOW) and --task=TASK_KEY"
        raise FlowkitError(msg)
    flow = load_target(target)
    plan = flow.plan()
    if task_key not in plan.tasks:
        msg = f"flow {plan.name!r} ({target}) has no task {task_key!r}"
        raise FlowkitError(msg)
    spec = plan.tasks[task_key]
    params = {**plan.flow.params, **{k: v for k, v in named.items() if k in plan.flow.params}}
    upstream = {name: DatabricksValues(dbutils, name) for name in plan.ancestors(task_key)}
    call: dict[str, Any] = {}
    for parameter in task_arguments(spec):
        if parameter in plan.upstream[task_key]:
            call[parameter] = upstream[parameter].get(RETURN_VALUE)
        elif parameter in params:
            call[parameter] = params[parameter]
    context = TaskContext(
        run_id=str(named.get("run_id", "")),
        flow_name=plan.name,
        task_key=task_key,
        params=params,
        upstream_values=upstream,
        upstream_edges=dict(plan.upstream),
    )
    with installed(context):
        result = spec.fn(**call)
    for key, value in context.values_set.items():
        dbutils.jobs.taskValues.set(key=key, value=value)
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        print(f"flowkit-task: {task_key}'s return value is not JSON: not kept as {RETURN_VALUE}")
    else:
        if result is not None:
            dbutils.jobs.taskValues.set(key=RETURN_VALUE, value=result)
    return 0


def _named(arguments: Sequence[str]) -> dict[str, str]:
    """``--key=value`` and ``--key value`` pairs, as Databricks passes named parameters."""
    named: dict[str, str] = {}
    items = list(arguments)
    while items:
        item = items.pop(0)
        if not item.startswith("--"):
            msg = f"flowkit-task: {item!r} is not a named parameter (--key=value)"
            raise FlowkitError(msg)
        key, separator, value = item[2:].partition("=")
        if not separator:
            value = items.pop(0) if items else ""
        named[key] = value
    return named


def entry_point() -> None:
    """The ``flowkit-task`` console script: on a cluster, Databricks' own ``dbutils``."""
    from databricks.sdk.runtime import dbutils  # the cluster's own (databricks-sdk)

    try:
        code = run_task(sys.argv[1:], dbutils=dbutils)
    except FlowkitError as error:
        print(f"flowkit-task: {escape_lines(str(error))}", file=sys.stderr)
        code = 2
    sys.exit(code)
