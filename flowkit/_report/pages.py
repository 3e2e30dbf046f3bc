"""What the ui's list pages and JSON API show: runs, one run, flows with their next fire."""

from __future__ import annotations

import datetime
import time
from typing import Any

from flowkit._clock import format_duration, format_moment
from flowkit._definition.schedules import Cron
from flowkit._errors import DefinitionError
from flowkit._report.model import RunView, TaskView
from flowkit._state import RunState
from flowkit._store.base import AttemptRecord, RunRecord
from flowkit._store.sqlite import SqliteStore


def runs_json(
    store: SqliteStore | None,
    *,
    flow: str | None,
    state: RunState | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """A page of runs, newest first, and the offset of the next page (None: the last)."""
    if store is None:
        return {"runs": [], "next_offset": None}
    found = store.list_runs(flow=flow, state=state, limit=limit + 1, offset=offset)
    more = len(found) > limit
    return {
        "runs": [_run(run) for run in found[:limit]],
        "next_offset": offset + limit if more else None,
    }


def run_json(view: RunView) -> dict[str, Any]:
    """One run with its tasks and attempts, as the ui's ``/api/runs/ID`` answers."""
    return {**_run(view.run), "tasks": [_task(task) for task in view.tasks]}


def _run(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "flow": run.flow_name,
        "state": run.state.value,
        "params": dict(run.params),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "duration": run.duration,
        "duration_text": format_duration(run.duration) if run.duration is not None else "",
        "started_text": format_moment(run.started_at),
        "repair_count": run.repair_count,
        "parent_run_id": run.parent_run_id,
        "executor": run.executor,
        "trigger": {
            "type": run.trigger.type,
            "time": run.trigger.time,
            "file_arrival_location": run.trigger.file_arrival_location,
            "backfill_id": run.trigger.backfill_id,
        },
    }


def _task(task: TaskView) -> dict[str, Any]:
    error = task.error
    return {
        "task_key": task.key,
        "kind": task.kind,
        "state": task.state.value,
        "depends_on": [{"task": name, "outcome": outcome} for name, outcome in task.depends_on],
        "run_if": task.run_if,
        "started_at": task.record.started_at,
        "ended_at": task.record.ended_at,
        "compute": task.compute,
        "critical": task.critical,
        "values": dict(task.record.values),
        "child_run_id": task.child_run_id,
        "error": None
        if error is None
        else {"type": error.type_name, "message": error.message, "traceback": error.traceback},
        "attempts": [_attempt(attempt) for attempt in task.attempts],
    }


def _attempt(attempt: AttemptRecord) -> dict[str, Any]:
    return {
        "attempt": attempt.attempt,
        "repair": attempt.repair,
        "state": attempt.state.value,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "exit_code": attempt.exit_code,
        "signal": attempt.signal,
    }


def flows_rows(store: SqliteStore, *, now: float | None = None) -> list[dict[str, Any]]:
    """Every flow the home saw: its schedule or trigger, paused state, next fire, last run."""
    now = time.time() if now is None else now
    operations = store.operations()
    shapes = operations.flow_shapes()
    settings = operations.paused_settings()
    rows = []
    for name in sorted(set(shapes) | set(settings)):
        shape = shapes.get(name, ({}, 0.0))[0]
        fires = shape.get("schedule") or shape.get("trigger")
        declared = bool(fires and fires.get("paused"))
        paused = settings.get(name, declared)
        last = store.list_runs(flow=name, limit=1)
        rows.append(
            {
                "flow": name,
                "tasks": len(shape.get("tasks", ())),
                "fires": fires.get("describe", "") if fires else "",
                "paused": paused if fires else None,
                "next_fire": _next_fire(fires, operations.trigger_state(name), now)
                if fires and not paused
                else "",
                "last_run": last[0] if last else None,
            }
        )
    return rows


def _next_fire(fires: dict[str, Any], state: dict[str, Any], now: float) -> str:
    """When serve fires the flow next, as local time; how, for a trigger with no time."""
    kind = fires.get("type")
    if kind == "cron":
        try:
            cron = Cron(str(fires["expression"]), timezone=str(fires["timezone"]))
        except (DefinitionError, KeyError):
            return ""
        after = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc)
        fire = cron.next_fire_times(after)[0]
        return fire.strftime("%Y-%m-%d %H:%M:%S %Z")
    if kind == "periodic":
        last = state.get("last_fire")
        interval = float(fires.get("interval", 0) or 0)
        if last is None or interval <= 0:
            return "one interval after serve starts"
        at = float(last) + interval
        while at <= now:
            at += interval
        return format_moment(at)
    if kind == "file_arrival":
        return "when new files arrive"
    return ""
