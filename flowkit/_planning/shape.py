"""A flow's shape as JSON data: its tasks, edges and options, kept with each run.

The run store keeps the shape of the flow a run ran (``RunRecord.shape``), so a
report or the ui draws the run's graph from the history alone, also after the
flow's file changed or moved, as Databricks' run page shows the job as it ran.
"""

from __future__ import annotations

from typing import Any

from flowkit._definition.kinds.compare import Comparison
from flowkit._definition.kinds.dbt import DbtTask
from flowkit._definition.kinds.for_each import ForEach
from flowkit._definition.kinds.notebook import NotebookTask
from flowkit._definition.kinds.run_flow import RunFlow
from flowkit._definition.kinds.script import PythonScript
from flowkit._definition.kinds.shell import ShellCommand
from flowkit._definition.kinds.sql import SqlTask
from flowkit._definition.spec import TaskSpec
from flowkit._planning.plan import Plan

#: The version of the shape's layout; a reader ignores a shape of another version.
SHAPE_VERSION = 1

_KINDS: tuple[tuple[type, str], ...] = (
    (Comparison, "condition"),
    (DbtTask, "dbt"),
    (ForEach, "for_each"),
    (NotebookTask, "notebook"),
    (RunFlow, "run_flow"),
    (PythonScript, "script"),
    (ShellCommand, "shell"),
    (SqlTask, "sql"),
)


def task_kind(spec: TaskSpec) -> str:
    """The task's kind as Databricks names its task types: python, shell, sql, ..."""
    for cls, kind in _KINDS:
        if isinstance(spec.fn, cls):
            return kind
    return "condition" if spec.condition else "python"


def flow_shape(plan: Plan) -> dict[str, Any]:
    """The flow's tasks in plan order, each with its kind, edges and options; its triggers."""
    flow = plan.flow
    tasks = []
    for name in plan.order:
        spec = plan.tasks[name]
        tasks.append(
            {
                "key": name,
                "kind": task_kind(spec),
                "depends_on": [
                    {"task": dependency.task_key, "outcome": dependency.outcome}
                    for dependency in spec.depends_on
                ],
                "run_if": spec.run_if.value,
                "condition": spec.condition,
                "retries": spec.retries,
                "timeout": spec.timeout,
                "pool": spec.pool,
                "memory": spec.memory,
                "cpus": spec.cpus,
            }
        )
    return {
        "version": SHAPE_VERSION,
        "flow": flow.name,
        "tasks": tasks,
        "schedule": _fires(flow.schedule),
        "trigger": _fires(flow.trigger),
        "max_concurrent_runs": flow.max_concurrent_runs,
        "timeout": flow.timeout,
        "pools": dict(flow.pools),
        "shared_pools": sorted(flow.shared_pools),
    }


def _fires(fires: Any) -> dict[str, Any] | None:
    """A schedule or trigger as data: its type, description, declared pause, cron fields."""
    if fires is None:
        return None
    data: dict[str, Any] = {
        "type": fires.trigger_type,
        "describe": fires.describe(),
        "paused": fires.paused,
    }
    if data["type"] == "cron":
        data.update(expression=fires.expression, timezone=fires.timezone)
    elif data["type"] == "periodic":
        data.update(interval=fires.interval)
    return data
