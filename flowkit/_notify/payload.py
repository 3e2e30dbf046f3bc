"""The payload of a notification: one JSON object, the same for every destination.

Keys (DESIGN.md §5): ``event``, ``flow``, ``run_id``, ``task`` (null for the
run), ``state``, ``trigger``, ``started_at`` (ISO 8601, UTC),
``duration_seconds`` (null at start), ``failed_tasks`` (``task``, ``state``,
``error``), ``params``, ``message`` (one line for a person) and ``show`` (the
command that shows the run). Everything in it comes from redacted events.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from flowkit._home import home_folder
from flowkit._state import TaskRun

FAILED_TASK_STATES = ("failed", "timed_out", "upstream_failed", "cancelled")


def iso_utc(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def failed_tasks(tasks: Mapping[str, TaskRun]) -> list[dict[str, Any]]:
    return [
        {
            "task": name,
            "state": task.state.value,
            "error": task.error.summary if task.error is not None else None,
        }
        for name, task in tasks.items()
        if task.state.value in FAILED_TASK_STATES
    ]


def show_command(run_id: str) -> str:
    return f"flowkit --home {home_folder()} show {run_id}"


def payload(
    event: str,
    *,
    flow: str,
    run_id: str,
    state: str,
    trigger: str,
    started_at: float | None,
    params: Mapping[str, Any],
    task: str | None = None,
    duration: float | None = None,
    failed: list[dict[str, Any]] | None = None,
    message: str = "",
) -> dict[str, Any]:
    subject = f"task {task} of flow {flow}" if task else f"flow {flow}"
    return {
        "event": event,
        "flow": flow,
        "run_id": run_id,
        "task": task,
        "state": state,
        "trigger": trigger,
        "started_at": iso_utc(started_at),
        "duration_seconds": None if duration is None else round(duration, 3),
        "failed_tasks": failed or [],
        "params": dict(params),
        "message": message or f"{subject}: run {run_id[:12]} {state}",
        "show": show_command(run_id),
    }
