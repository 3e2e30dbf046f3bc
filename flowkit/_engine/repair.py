"""Repair runs: re-run, inside the same run, what failed or never ran (Databricks' repair run).

``select_tasks`` decides what a repair re-runs, from the stored states alone;
``repair`` takes the stored run over (refused while its orchestrator lives),
keeps every other task as it was, with its task values, and runs the rest on
the flow's current code, recording into the same run with its repair count + 1.
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowkit._engine.listeners import EchoOutput
from flowkit._engine.run import run
from flowkit._errors import DefinitionError, StoreError
from flowkit._events import RunListener
from flowkit._planning.plan import Plan, plan_of
from flowkit._state import KeptTask, RunResult, RunState, TaskRun, TaskState

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._flow import Flow
    from flowkit._store.base import AttemptRecord, RunRecord, RunStore, TaskRecord

#: Stored states that a repair leaves alone by default.
_KEPT_STATES = frozenset({TaskState.SUCCEEDED, TaskState.EXCLUDED})


def select_tasks(
    plan: Plan,
    states: Mapping[str, TaskState],
    *,
    tasks: Iterable[str] = (),
    rerun_dependents: bool = False,
) -> set[str]:
    """The tasks a repair re-runs.

    By default every task that did not succeed (failed, timed out, upstream
    failed, cancelled, or never final because the orchestrator died), every task
    the flow's current code added, and every ``excluded`` task downstream of
    those (its exclusion was judged on outcomes that are about to change). With
    ``tasks``, just those, and with ``rerun_dependents`` everything downstream too.

    Raises:
        DefinitionError: a named task is not in the flow.
    """
    named = list(tasks)
    unknown = [name for name in named if name not in plan.tasks]
    if unknown:
        msg = (
            f"flow {plan.name!r}: repair names unknown task(s) {', '.join(map(repr, unknown))}; "
            f"tasks: {', '.join(plan.order)}"
        )
        raise DefinitionError(msg)
    if named:
        selected = set(named)
        if rerun_dependents:
            for name in named:
                selected |= plan.descendants(name)
        return selected
    selected = {name for name in plan.order if states.get(name) not in _KEPT_STATES}
    for name in list(selected):
        selected |= {
            below for below in plan.descendants(name) if states.get(below) is TaskState.EXCLUDED
        }
    return selected


def repair(
    flow: Flow,
    run_id: str,
    *,
    tasks: Sequence[str] = (),
    rerun_dependents: bool = False,
    params: Mapping[str, Any] | None = None,
    params_from_text: bool = False,
    executor: Any = None,
    max_parallel: int | None = None,
    store: RunStore | None = None,
    listeners: Sequence[RunListener] = (),
    clock: Clock | None = None,
    echo_output: bool = True,
) -> RunResult:
    """Repair the stored run ``run_id`` (a unique prefix will do) of ``flow``.

    Returns the run's new result; when there is nothing to re-run (the run
    succeeded and no task is named), the stored result, and nothing runs.

    Raises:
        StoreError: the run id is unknown or ambiguous, or its orchestrator is alive.
        DefinitionError: the run belongs to another flow, or a named task is unknown.
    """
    from flowkit._store import StoreRecorder, open_store  # sqlite3: loaded when a run needs it

    store = store if store is not None else open_store(create=False)
    run_id = store.resolve_run_id(run_id)
    record = store.get_run(run_id)
    assert record is not None
    if record.flow_name != flow.name:
        msg = (
            f"run {run_id} is a run of flow {record.flow_name!r}, not of {flow.name!r}; "
            f"repair it with the flow that ran it"
        )
        raise DefinitionError(msg)
    _refuse_live_orchestrator(store, run_id)
    plan = plan_of(flow)
    stored = store.get_tasks(run_id)
    states = {name: task.state for name, task in stored.items()}
    selected = select_tasks(plan, states, tasks=tasks, rerun_dependents=rerun_dependents)
    values = store.get_values(run_id)
    compute = _compute_of_counted_attempts(stored, store.get_attempts(run_id))
    if not selected:
        return _stored_result(record, stored, values, compute)
    kept = {
        name: KeptTask(
            task=_task_run(task, compute.get(name, 0.0)),
            values=values.get(name, {}),
            result=_load_result(store, task),
        )
        for name, task in stored.items()
        if name in plan.tasks and name not in selected and task.state.is_final
    }
    overrides = {**record.params, **(params or {})}
    return run(
        plan,
        params=overrides,
        params_from_text=params_from_text,
        executor=executor,
        max_parallel=max_parallel,
        clock=clock,
        listeners=[StoreRecorder(store), *(listeners or ([EchoOutput()] if echo_output else []))],
        store=False,
        run_id=run_id,
        kept=kept,
        repair_count=record.repair_count + 1,
    )


def refuse_child_run(store: RunStore, record: RunRecord) -> None:
    """A for-each iteration or a run-flow task's run is repaired through the run that started it.

    The command line refuses to repair a child run by itself; the engine repairs
    one (``repair``) when a repair of its parent re-runs the task that started it.

    Raises:
        DefinitionError: ``record`` is a child run; the message names the run to repair.
    """
    if record.parent_run_id is None:
        return
    parent = record.parent_run_id
    seen = {record.run_id}
    while parent not in seen:  # up to the run a user started
        seen.add(parent)
        above = store.get_run(parent)
        if above is None or above.parent_run_id is None:
            break
        parent = above.parent_run_id
    msg = (
        f"run {record.run_id} (flow {record.flow_name!r}) is a child run of run {parent}: a "
        "for-each iteration or a run-flow task's run, repaired through the run that started "
        f"it. Repair that run instead: flowkit repair {parent}"
    )
    raise DefinitionError(msg)


def _refuse_live_orchestrator(store: RunStore, run_id: str) -> None:
    record = store.get_run(run_id)  # reading settles a dead orchestrator's run
    assert record is not None
    if record.state is RunState.RUNNING:
        where = f"pid {record.pid} on {record.hostname}" if record.pid else "another process"
        heartbeat = record.heartbeat_at or record.started_at
        seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(heartbeat))
        msg = (
            f"run {run_id} is still running ({where}, last heartbeat at {seen} local time); "
            "repair it once it has ended, or stop it first"
        )
        if record.pid == os.getpid():
            msg = f"run {run_id} is running in this very process; repair it once it has ended"
        raise StoreError(msg)


def _load_result(store: RunStore, record: TaskRecord) -> Any:
    """The kept return value of a kept task, or None when it returned none."""
    if not record.result_ref:
        return None
    try:
        data = store.get_result(record.run_id, record.task_key)
        return None if data is None else pickle.loads(data)
    except (StoreError, pickle.UnpicklingError, AttributeError, ImportError) as error:
        msg = (
            f"task {record.task_key!r} of run {record.run_id}: its return value "
            f"{record.result_ref} cannot be read back ({type(error).__name__}: {error}); "
            f"re-run it too with --task {record.task_key}"
        )
        raise DefinitionError(msg) from error


def _compute_of_counted_attempts(
    stored: Mapping[str, TaskRecord], attempts: Sequence[AttemptRecord]
) -> dict[str, float]:
    """Each task's compute seconds over the attempts its stored ``attempts`` counts.

    Those are the attempts of the last pass that ran the task (a task's record
    counts the attempts of the pass that last changed it), so a kept task's
    compute and attempts describe the same attempts, as a task that runs does.
    """
    latest_pass: dict[str, int] = {}
    for attempt in attempts:
        latest_pass[attempt.task_key] = max(attempt.repair, latest_pass.get(attempt.task_key, 0))
    compute: dict[str, float] = {}
    for attempt in attempts:
        task = stored.get(attempt.task_key)
        if task is None or not task.attempts or attempt.repair != latest_pass[attempt.task_key]:
            continue
        if attempt.duration is not None:
            compute[attempt.task_key] = compute.get(attempt.task_key, 0.0) + attempt.duration
    return compute


def _task_run(record: TaskRecord, compute_seconds: float = 0.0) -> TaskRun:
    return TaskRun(
        name=record.task_key,
        state=record.state,
        attempts=record.attempts,
        error=record.error,
        started_at=record.started_at,
        ended_at=record.ended_at,
        compute_seconds=compute_seconds,
    )


def _stored_result(
    record: RunRecord,
    stored: Mapping[str, TaskRecord],
    values: Mapping[str, Mapping[str, Any]],
    compute: Mapping[str, float],
) -> RunResult:
    return RunResult(
        run_id=record.run_id,
        flow_name=record.flow_name,
        state=record.state,
        tasks={name: _task_run(task, compute.get(name, 0.0)) for name, task in stored.items()},
        values={name: dict(task_values) for name, task_values in values.items() if task_values},
        params=dict(record.params),
        started_at=record.started_at,
        ended_at=record.ended_at if record.ended_at is not None else record.started_at,
        cluster=record.cluster,
    )
