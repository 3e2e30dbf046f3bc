"""Run history as text: the tables and pages of ``flowkit runs``, ``show`` and ``logs``.

Pure formatting of store records (``flowkit._store.base``); the command line
reads the store and prints what these functions return. Times are shown in
local time, durations as ``format_duration`` writes them. Text a task supplied
(errors, params, output) is escaped (``text.escape``); ``logs --raw`` is the one
way to print a log as it was written.

A run whose orchestrator died (``interrupted``) has no recorded end: it shows
the last time anything of it was recorded, as ``last seen``, and a duration of
at least that long, or ``unknown`` when nothing was recorded after its start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowkit._clock import format_duration
from flowkit._state import ClusterReport, RunState, RunTrigger, TaskState
from flowkit._store.base import (
    AttemptRecord,
    DeliveryRecord,
    RunRecord,
    TaskRecord,
    compute_by_task,
)
from flowkit._text import escape

#: Characters of a run id shown in lists; any unique prefix is accepted back.
SHORT_ID = 12


def format_time(seconds: float | None) -> str:
    """``2026-11-23 04:05:06`` in local time, or ``-``."""
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def _duration(started_at: float | None, ended_at: float | None) -> str:
    if started_at is None or ended_at is None:
        return "-"
    return format_duration(max(0.0, ended_at - started_at))


def _run_duration(run: RunRecord, last_seen: float | None = None) -> str:
    """The run's duration; for an interrupted run, at least until it was last seen."""
    if run.state is not RunState.INTERRUPTED:
        return _duration(run.started_at, run.ended_at)
    seen = max(run.ended_at or run.started_at, last_seen or run.started_at)
    if seen <= run.started_at:
        return "unknown"
    return f">= {_duration(run.started_at, seen)}"


def last_seen(
    run: RunRecord, tasks: Sequence[TaskRecord], attempts: Sequence[AttemptRecord]
) -> float:
    """The latest time anything of the run was recorded: its heartbeat, a task, an attempt."""
    times = [run.started_at, run.heartbeat_at]
    for record in (*tasks, *attempts):
        times += [record.started_at, record.ended_at]
    return max(moment for moment in times if moment is not None)


def _table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> list[str]:
    """Rows as aligned columns (``right``: columns aligned right); the last column is not padded."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[column]) if column in right else cell.ljust(widths[column])
            for column, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_runs(runs: Sequence[RunRecord]) -> str:
    """The ``flowkit runs`` table: id (short), flow, state, start, duration; newest first."""
    if not runs:
        return "no runs recorded yet"
    rows = [("run", "flow", "state", "trigger", "started", "duration", "repairs")]
    for run in runs:
        rows.append(
            (
                run.run_id[:SHORT_ID],
                escape(run.flow_name),
                run.state.value,
                format_trigger(run.trigger, short=True),
                format_time(run.started_at),
                _run_duration(run),
                str(run.repair_count) if run.repair_count else "",
            )
        )
    return "\n".join(_table(rows, right=(5,)))


def format_trigger(trigger: RunTrigger, *, short: bool = False) -> str:
    """What started a run: ``cron``, ``backfill 3f2a9c1d`` (its group); in full with its time."""
    text = trigger.type
    if trigger.backfill_id:
        text += f" {trigger.backfill_id[:8] if short else trigger.backfill_id}"
    if short:
        return text
    if trigger.time is not None:
        text += f", scheduled {format_time(trigger.time)}"
    if trigger.file_arrival_location:
        text += f", files in {escape(trigger.file_arrival_location)}"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def format_compute(seconds: float, attempts: int) -> str:
    """``compute: 12.3s in 5 attempts``: the attempts' wall seconds, summed."""
    return f"compute: {format_duration(seconds)} in {_count(attempts, 'attempt')}"


def format_cluster(cluster: ClusterReport) -> str:
    """``cluster: ephemeral, 2 workers, up 8.1s (start-up 1.2s)``.

    An external cluster (``--address``) was up before the run and stays up after
    it: it shows its address and how long the run held it, connecting included.
    """
    workers = _count(cluster.workers, "worker")
    if cluster.ephemeral:
        held = f"up {format_duration(cluster.lifetime_seconds)}"
        setup = f"start-up {format_duration(cluster.startup_seconds)}"
        return f"cluster: ephemeral, {workers}, {held} ({setup})"
    held = f"used {format_duration(cluster.lifetime_seconds)}"
    setup = f"connecting {format_duration(cluster.startup_seconds)}"
    return f"cluster: {cluster.address}, {workers}, {held} ({setup})"


def compact_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


def format_run(
    run: RunRecord, tasks: Mapping[str, TaskRecord], attempts: Sequence[AttemptRecord]
) -> str:
    """The ``flowkit show`` page: the run's header, one row per task, the compute it took.

    Compute seconds count every attempt of every pass (run and repairs) that has
    ended: what the run has cost so far. In a repaired run, a task's error says
    which pass (``run``, ``repair 1``, ...) and attempt it comes from.
    """
    params = ", ".join(f"{key}={compact_json(value)}" for key, value in run.params.items())
    if run.state is RunState.INTERRUPTED:
        seen = last_seen(run, list(tasks.values()), attempts)
        ended = f"unknown; last seen {format_time(seen)}" if seen > run.started_at else "unknown"
    else:
        seen, ended = None, format_time(run.ended_at)
    header = [
        f"run       {run.run_id}",
        f"flow      {escape(run.flow_name)}",
        f"state     {run.state.value}",
        f"params    {escape(params) or 'none'}",
        f"started   {format_time(run.started_at)}",
        f"ended     {ended}",
        f"duration  {_run_duration(run, seen)}",
        f"trigger   {format_trigger(run.trigger)}",
        f"repairs   {run.repair_count}",
        f"executor  {escape(run.executor or '-')}",
    ]
    if run.state is RunState.RUNNING:
        header.append(f"orchestrator  pid {run.pid} on {escape(run.hostname)}")
    compute = compute_by_task(attempts)
    failed = latest_attempts([attempt for attempt in attempts if attempt.error is not None])
    rows = [("task", "state", "attempts", "duration", "compute", "error", "values")]
    for name, task in tasks.items():
        error = ""
        if task.error is not None:
            message = first_line(task.error.message)
            error = f"{task.error.type_name}: {message}" if message else task.error.type_name
            if run.repair_count and name in failed:
                where = failed[name]
                error += f" ({pass_name(where.repair)}, attempt {where.attempt})"
        elif task.state is TaskState.QUEUED and task.waiting_for:
            error = f"({task.waiting_for})"
        row = (
            name,
            task.state.value,
            str(task.attempts),
            _duration(task.started_at, task.ended_at),
            format_duration(compute[name]) if name in compute else "-",
            escape(error),
            compact_json(dict(task.values)) if task.values else "",
        )
        rows.append(row)
    ended = sum(1 for attempt in attempts if attempt.duration is not None)
    footer = [format_compute(sum(compute.values()), ended)]
    if ended < len(attempts):  # running, or cut off when the orchestrator died
        footer[0] += f" ({_count(len(attempts) - ended, 'attempt')} without an end not counted)"
    if run.cluster is not None:
        footer.append(format_cluster(run.cluster))
    if len({attempt.repair for attempt in attempts}) > 1:
        footer.append(f"attempts by pass: {_attempts_by_pass(attempts)}")
    return "\n".join([*header, "", *_table(rows, right=(2, 3, 4)), "", *footer])


def format_deliveries(deliveries: Sequence[DeliveryRecord]) -> str:
    """Every try to deliver a notification: when, event, task, destination (masked), outcome."""
    rows = [("at", "event", "task", "destination", "try", "outcome")]
    for delivery in deliveries:
        outcome = "ok" if delivery.ok else f"error: {first_line(delivery.error or '')}"
        rows.append(
            (
                format_time(delivery.at),
                delivery.event,
                escape(delivery.task_key or "-"),
                escape(delivery.destination),
                str(delivery.attempt),
                escape(outcome),
            )
        )
    return "\n".join(_table(rows, right=(4,)))


def pass_name(repair: int) -> str:
    """``run`` for the original pass, ``repair N`` for the N-th repair."""
    return "run" if repair == 0 else f"repair {repair}"


def _attempts_by_pass(attempts: Sequence[AttemptRecord]) -> str:
    counts: dict[int, int] = {}
    for attempt in attempts:
        counts[attempt.repair] = counts.get(attempt.repair, 0) + 1
    return ", ".join(f"{pass_name(repair)}: {count}" for repair, count in sorted(counts.items()))


def latest_attempts(attempts: Sequence[AttemptRecord]) -> dict[str, AttemptRecord]:
    """The latest attempt of each task (the last pass, the highest number), in task order."""
    latest: dict[str, AttemptRecord] = {}
    for attempt in attempts:
        known = latest.get(attempt.task_key)
        if known is None or (attempt.repair, attempt.attempt) > (known.repair, known.attempt):
            latest[attempt.task_key] = attempt
    return latest


def log_file(attempt: AttemptRecord, home: Path) -> Path | None:
    """Where ``attempt``'s output is: its recorded log path, else the local executor's place.

    An attempt whose orchestrator was killed while it ran has no recorded log
    path (it is recorded when the attempt ends), but the local executor wrote
    its output to ``HOME/logs/RUN_ID[/repair-N]/TASK.ATTEMPT.log`` as it went.
    """
    if attempt.log_path:
        return Path(attempt.log_path)
    folder = home / "logs" / attempt.run_id
    if attempt.repair:
        folder = folder / f"repair-{attempt.repair}"
    guess = folder / f"{attempt.task_key}.{attempt.attempt}.log"
    return guess if guess.is_file() else None


def attempt_heading(attempt: AttemptRecord) -> str:
    which = f"attempt {attempt.attempt}"
    if attempt.repair:
        which += f" (repair {attempt.repair})"
    return f"== {attempt.task_key}, {which}: {attempt.state.value} =="


def attempt_error(attempt: AttemptRecord) -> str | None:
    """The stored traceback of a failed attempt (its error when it has none), or None."""
    if attempt.error is None:
        return None
    text = attempt.error.traceback.rstrip() or attempt.error.summary
    return f"-- error of attempt {attempt.attempt} --\n{text}"


def read_log(attempt: AttemptRecord, home: Path) -> str:
    """The attempt's captured output, or a line that says why there is none."""
    path = log_file(attempt, home)
    if path is None:
        return "(no output captured)"
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(its log {path} cannot be read: {error.strerror or error})"
    return text.rstrip("\n") if text.strip() else "(no output captured)"
