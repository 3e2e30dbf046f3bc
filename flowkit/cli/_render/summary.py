"""The end of a run as text: each failed task's error, and the table of tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from flowkit._clock import format_duration
from flowkit._state import TaskState
from flowkit._text import escape, escape_lines

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan
    from flowkit._state import RunResult


def failure_reports(result: RunResult, plan: Plan) -> Iterator[str]:
    """The full error of every task that ended failed or timed out, level by level."""
    for name in _in_level_order(plan):
        task = result.tasks[name]
        if task.state in (TaskState.FAILED, TaskState.TIMED_OUT) and task.error:
            text = escape_lines(task.error.traceback.rstrip() or task.error.summary)
            body = "\n".join(f"  {line}" for line in text.splitlines())
            yield f"task {name} {task.state.value} after {task.attempts} attempt(s):\n{body}"


def format_summary(result: RunResult, plan: Plan) -> str:
    """The table of tasks (state, attempts, duration, compute, error) and the closing lines.

    The closing lines: the compute seconds of the attempts counted, the cluster
    when the executor held one, and how the run ended.
    """
    from flowkit.cli._render.history import format_cluster, format_compute

    header = ("task", "state", "attempts", "duration", "compute", "error")
    rows = [header]
    for name in _in_level_order(plan):
        task = result.tasks[name]
        duration = format_duration(task.duration) if task.duration is not None else "-"
        compute = format_duration(task.compute_seconds) if task.attempts else "-"
        error = escape(task.error.summary) if task.error else ""
        rows.append((name, task.state.value, str(task.attempts), duration, compute, error))
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            row[0].ljust(widths[0]),
            row[1].ljust(widths[1]),
            row[2].rjust(widths[2]),
            row[3].rjust(widths[3]),
            row[4].rjust(widths[4]),
            row[5],
        ]
        lines.append("  ".join(cells).rstrip())
    attempts = sum(task.attempts for task in result.tasks.values())
    lines.append("")
    lines.append(format_compute(result.compute_seconds, attempts))
    if result.cluster is not None:
        lines.append(format_cluster(result.cluster))
    lines.append(f"run {result.run_id} {result.state.value} in {format_duration(result.duration)}")
    return "\n".join(lines)


def _in_level_order(plan: Plan) -> list[str]:
    """Tasks level by level, in definition order within a level: how the graph draws them."""
    return [name for level in plan.levels for name in level]
