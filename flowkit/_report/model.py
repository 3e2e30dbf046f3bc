"""What a picture of a run shows, read from the history alone: ``RunView``.

``read_run`` gathers one run from the store (its record, tasks, attempts,
values, the shape of the flow it ran, its child runs) and the tail of each
task's latest log, then works out the run's waits and its critical path.
Everything here is plain data: the HTML report, the ui's JSON API and the
terminal draw from it, and none of them reads the store itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

import attrs

from flowkit._home import home_folder
from flowkit._state import ErrorInfo, TaskState
from flowkit._store.base import AttemptRecord, RunRecord, RunStore, TaskRecord

#: The lines of a task's log a report shows, and the most bytes read for them.
LOG_TAIL_LINES = 200
LOG_TAIL_BYTES = 32 * 1024
#: The most bytes of log tails one report holds: a run of many tasks shows less of each
#: (down to MIN_TAIL_BYTES), so 10,000 tasks stay a file a browser opens. The ui and
#: ``flowkit logs`` give the whole log.
LOG_BUDGET_BYTES = 1024 * 1024
MIN_TAIL_BYTES = 64
#: Task kinds whose task value ``run_id`` names a child run.
CHILD_RUN_KINDS = ("for_each", "run_flow")


@attrs.frozen
class TaskView:
    """One task as the picture shows it: its record, attempts, edges, log tail, child run."""

    key: str
    record: TaskRecord
    attempts: tuple[AttemptRecord, ...]
    kind: str = "python"
    depends_on: tuple[tuple[str, bool | None], ...] = ()
    run_if: str = "all_success"
    #: When its last upstream task ended (or the pass began): the start of its queue wait.
    ready_at: float | None = None
    critical: bool = False
    #: On the critical path: the upstream task it waited for that is on it too.
    critical_from: str | None = None
    log_tail: str = ""
    log_path: str | None = None
    child_run_id: str | None = None

    @property
    def state(self) -> TaskState:
        return self.record.state

    @property
    def compute(self) -> float:
        return sum(attempt.duration or 0.0 for attempt in self.attempts)

    @property
    def duration(self) -> float | None:
        return self.record.duration

    @property
    def error(self) -> ErrorInfo | None:
        return self.record.error


@attrs.frozen
class RunView:
    """One run and everything a picture of it shows; ``now`` ends what is still running."""

    run: RunRecord
    tasks: tuple[TaskView, ...]
    now: float
    #: Each pass's start: index 0 the run, n the n-th repair.
    pass_starts: tuple[float, ...] = ()
    child_runs: tuple[RunRecord, ...] = ()

    @property
    def end(self) -> float:
        return self.run.ended_at if self.run.ended_at is not None else self.now

    @property
    def live(self) -> bool:
        return self.run.state.is_live


def read_run(store: RunStore, run_id: str, *, now: float | None = None) -> RunView | None:
    """The run ``run_id`` as a picture shows it; None when the store has no such run."""
    run = store.get_run(run_id)
    if run is None:
        return None
    now = time.time() if now is None else now
    records = store.get_tasks(run_id)
    attempts: dict[str, list[AttemptRecord]] = {key: [] for key in records}
    for attempt in store.get_attempts(run_id):
        attempts.setdefault(attempt.task_key, []).append(attempt)
    shape = store.get_shape(run_id) or {}
    declared = {task["key"]: task for task in shape.get("tasks", ()) if "key" in task}
    values = store.get_values(run_id)
    keys = [key for key in declared if key in records]
    keys += [key for key in records if key not in declared]
    pass_starts = _pass_starts(run, attempts)
    home = home_folder().resolve()
    tail_bytes = max(MIN_TAIL_BYTES, min(LOG_TAIL_BYTES, LOG_BUDGET_BYTES // max(1, len(keys))))
    ends = {key: _last_end(attempts.get(key, [])) for key in keys}
    tasks = []
    for key in keys:
        spec = declared.get(key, {})
        depends_on = tuple(
            (str(edge["task"]), edge.get("outcome"))
            for edge in spec.get("depends_on", ())
            if edge.get("task") in records
        )
        task_attempts = tuple(attempts.get(key, ()))
        log_path = next(
            (a.log_path for a in reversed(task_attempts) if a.log_path is not None), None
        )
        kind = str(spec.get("kind", "python"))
        child = values.get(key, {}).get("run_id") if kind in CHILD_RUN_KINDS else None
        tasks.append(
            TaskView(
                key=key,
                record=attrs.evolve(records[key], values=values.get(key, {})),
                attempts=task_attempts,
                kind=kind,
                depends_on=depends_on,
                run_if=str(spec.get("run_if", "all_success")),
                ready_at=_ready_at(task_attempts, depends_on, ends, pass_starts, attempts),
                log_tail=read_tail(log_path, tail_bytes, home=home),
                log_path=log_path,
                child_run_id=child if isinstance(child, str) else None,
            )
        )
    critical = critical_path(tasks)
    tasks = [
        attrs.evolve(task, critical=task.key in critical, critical_from=critical.get(task.key))
        for task in tasks
    ]
    children = tuple(
        child
        for child in (store.get_run(task.child_run_id) for task in tasks if task.child_run_id)
        if child is not None
    )
    return RunView(
        run=run, tasks=tuple(tasks), now=now, pass_starts=pass_starts, child_runs=children
    )


def _pass_starts(run: RunRecord, attempts: Mapping[str, list[AttemptRecord]]) -> tuple[float, ...]:
    """The run's start, then each repair pass's first attempt start."""
    starts = [run.started_at]
    for number in range(1, run.repair_count + 1):
        begun = [
            attempt.started_at
            for task_attempts in attempts.values()
            for attempt in task_attempts
            if attempt.repair == number and attempt.started_at is not None
        ]
        starts.append(min(begun) if begun else starts[-1])
    return tuple(starts)


def _last_end(attempts: list[AttemptRecord]) -> dict[int, float]:
    """Per pass: when the task's last attempt in it ended."""
    ends: dict[int, float] = {}
    for attempt in attempts:
        if attempt.ended_at is not None:
            ends[attempt.repair] = max(ends.get(attempt.repair, 0.0), attempt.ended_at)
    return ends


def _ready_at(
    task_attempts: tuple[AttemptRecord, ...],
    depends_on: tuple[tuple[str, bool | None], ...],
    ends: Mapping[str, dict[int, float]],
    pass_starts: tuple[float, ...],
    attempts: Mapping[str, list[AttemptRecord]],
) -> float | None:
    """When the task's first attempt of its latest pass could have started: its queue wait."""
    if not task_attempts or task_attempts[-1].started_at is None:
        return None
    repair = task_attempts[-1].repair
    ready = pass_starts[min(repair, len(pass_starts) - 1)]
    for upstream, _ in depends_on:
        upstream_ends = ends.get(upstream, {})
        # An upstream task that did not run again in this pass was done before it began.
        if repair in upstream_ends:
            ready = max(ready, upstream_ends[repair])
    first = next(a for a in task_attempts if a.repair == repair)
    if first.started_at is None:
        return None
    return min(ready, first.started_at)


def critical_path(tasks: list[TaskView]) -> dict[str, str | None]:
    """The chain of tasks that decided when the run ended: task -> the one it waited for.

    From the task that ended last, step to its upstream task that ended last,
    until a task waited on nothing that ran.
    """
    by_key = {task.key: task for task in tasks}
    ends = {
        task.key: max((a.ended_at or a.started_at or 0.0) for a in task.attempts)
        for task in tasks
        if task.attempts
    }
    if not ends:
        return {}
    current: str | None = max(ends, key=lambda key: ends[key])
    path: dict[str, str | None] = {}
    while current is not None and current not in path:
        candidates = [name for name, _ in by_key[current].depends_on if name in ends]
        waited_for = max(candidates, key=lambda key: ends[key]) if candidates else None
        path[current] = waited_for
        current = waited_for
    return path


def read_tail(path: str | None, limit: int = LOG_TAIL_BYTES, *, home: Path | None = None) -> str:
    """The last lines (up to ``LOG_TAIL_LINES``, ``limit`` bytes) of a log inside the home."""
    if path is None:
        return ""
    resolved = inside_home(path, home=home)
    if resolved is None:
        return ""
    try:
        with resolved.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > limit and len(lines) > 1:
        lines = lines[1:]  # the first line read is cut
    return "\n".join(lines[-LOG_TAIL_LINES:])


def inside_home(path: str | os.PathLike[str], *, home: Path | None = None) -> Path | None:
    """``path`` resolved (links followed) if it is a file inside the home; else None."""
    home = home or home_folder().resolve()
    try:
        resolved = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not resolved.is_file() or not resolved.is_relative_to(home):
        return None
    return resolved
