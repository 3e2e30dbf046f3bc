"""The in-memory run store: SqliteStore's twin for tests, same behaviour, nothing on disk.

Values go through JSON on the way in and out, as they do in SQLite, so what a
test reads back is what a real store would give.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from flowkit._errors import StoreError
from flowkit._state import ClusterReport, RunState
from flowkit._store import liveness, slots
from flowkit._store.base import (
    Admission,
    AttemptRecord,
    DeliveryRecord,
    RunRecord,
    TaskRecord,
    check_limit,
    check_prefix,
    pick_run_id,
    repair_refusal,
    to_json,
)


class MemoryStore:
    """A ``RunStore`` in dictionaries, safe to share between threads."""

    def __init__(self, *, stale_after: float = liveness.STALE_AFTER) -> None:
        self.stale_after = stale_after
        self._lock = threading.RLock()
        self._runs: dict[str, RunRecord] = {}
        self._slots: dict[str, list[slots.SlotRow]] = {}  # resource -> rows in queue order
        self._slot_seq = 0
        self._deliveries: list[DeliveryRecord] = []
        self._order: list[str] = []  # creation order breaks ties in started_at
        self._tasks: dict[str, dict[str, TaskRecord]] = {}
        self._attempts: dict[tuple[str, str], dict[tuple[int, int], AttemptRecord]] = {}
        #: (run id, task) -> the pickled return value: a copy, as SQLite's file is.
        self._results: dict[tuple[str, str], bytes] = {}
        self._shapes: dict[str, str] = {}  # run id -> its flow's shape, as JSON text

    def __repr__(self) -> str:
        return f"<MemoryStore: {len(self._runs)} runs>"

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------
    def create_run(self, run: RunRecord, task_keys: Sequence[str] = ()) -> None:
        params = json.loads(to_json(dict(run.params), what=f"the params of run {run.run_id}"))
        with self._lock:
            if run.run_id in self._runs:
                msg = f"run {run.run_id} is already recorded in {self._where()}"
                raise StoreError(msg)
            heartbeat_at = run.heartbeat_at if run.heartbeat_at is not None else time.time()
            self._runs[run.run_id] = attrs.evolve(run, params=params, heartbeat_at=heartbeat_at)
            self._order.append(run.run_id)
            self._tasks[run.run_id] = {
                key: TaskRecord(run_id=run.run_id, task_key=key) for key in task_keys
            }

    def update_run_state(
        self,
        run_id: str,
        state: RunState,
        *,
        ended_at: float | None = None,
        cluster: ClusterReport | None = None,
        started_at: float | None = None,
    ) -> None:
        with self._lock:
            run = self._run(run_id)
            self._runs[run_id] = attrs.evolve(
                run,
                state=state,
                ended_at=ended_at,
                cluster=cluster if cluster is not None else run.cluster,
                started_at=run.started_at if started_at is None else started_at,
            )

    def acquire_slot(
        self, resource: str, run_id: str, *, limit: int, queue: bool, pid: int
    ) -> Admission:
        with self._lock:
            rows = [
                row
                for row in self._slots.get(resource, [])
                if not slots.gone(row)
                and (row.run_id not in self._runs or self._runs[row.run_id].state.is_live)
            ]
            admission = slots.decide(rows, run_id, limit=limit, queue=queue)
            if admission is not Admission.REFUSED:
                held = admission is Admission.HELD
                mine = [row for row in rows if row.run_id == run_id]
                if mine:
                    rows[rows.index(mine[0])] = attrs.evolve(mine[0], held=held)
                else:
                    self._slot_seq += 1
                    rows.append(
                        slots.SlotRow(
                            self._slot_seq, run_id, held, pid, liveness.this_host(), time.time()
                        )
                    )
            self._slots[resource] = rows
            return admission

    def release_slot(self, resource: str, run_id: str) -> None:
        with self._lock:
            rows = self._slots.get(resource, [])
            self._slots[resource] = [row for row in rows if row.run_id != run_id]

    def heartbeat(self, run_id: str, *, at: float | None = None) -> None:
        with self._lock:
            run = self._run(run_id)
            state = RunState.RUNNING if run.state is RunState.INTERRUPTED else run.state
            ended_at = None if run.state is RunState.INTERRUPTED else run.ended_at
            self._runs[run_id] = attrs.evolve(
                run,
                heartbeat_at=time.time() if at is None else at,
                state=state,
                ended_at=ended_at,
            )

    def increment_repair_count(
        self,
        run_id: str,
        *,
        pid: int,
        hostname: str,
        params: Mapping[str, Any] | None = None,
        executor: str | None = None,
        target: str | None = None,
    ) -> RunRecord:
        new_params = None
        if params is not None:
            new_params = json.loads(to_json(dict(params), what=f"the params of run {run_id}"))
        with self._lock:
            run = self._settle(self._run(run_id))
            if run.state is RunState.RUNNING:
                raise StoreError(repair_refusal(run))
            repaired = attrs.evolve(
                run,
                state=RunState.RUNNING,
                ended_at=None,
                repair_count=run.repair_count + 1,
                pid=pid,
                hostname=hostname,
                heartbeat_at=time.time(),
                params=run.params if new_params is None else new_params,
                executor=run.executor if executor is None else executor,
                cluster=None,
                target=run.target if target is None else target,
            )
            self._runs[run_id] = repaired
            return repaired

    def record_task(self, task: TaskRecord, *, values: Mapping[str, Any] | None = None) -> None:
        if values is not None:
            what = f"the task values of {task.task_key!r} in run {task.run_id}"
            values = json.loads(to_json(dict(values), what=what))
        with self._lock:
            tasks = self._tasks_of(task.run_id)
            old = tasks.get(task.task_key)
            # values and result_ref have writers of their own: keep what they stored.
            if values is None:
                values = old.values if old else {}
            tasks[task.task_key] = attrs.evolve(
                task, values=values, result_ref=old.result_ref if old else None
            )

    def record_attempt(self, attempt: AttemptRecord) -> None:
        with self._lock:
            tasks = self._tasks_of(attempt.run_id)
            if attempt.task_key not in tasks:
                tasks[attempt.task_key] = TaskRecord(
                    run_id=attempt.run_id, task_key=attempt.task_key
                )
            key = (attempt.run_id, attempt.task_key)
            self._attempts.setdefault(key, {})[(attempt.repair, attempt.attempt)] = attempt

    def set_task_values(self, run_id: str, task_key: str, values: Mapping[str, Any]) -> None:
        text = to_json(dict(values), what=f"the task values of {task_key!r} in run {run_id}")
        self._update_task(run_id, task_key, values=json.loads(text))

    def set_result(self, run_id: str, task_key: str, data: bytes | None) -> None:
        with self._lock:
            self._tasks_of(run_id)
            if data is None:
                self._results.pop((run_id, task_key), None)
                self._update_task(run_id, task_key, result_ref=None)
                return
            self._results[(run_id, task_key)] = bytes(data)
            self._update_task(run_id, task_key, result_ref=f"memory:{run_id}/{task_key}")

    def get_result(self, run_id: str, task_key: str) -> bytes | None:
        with self._lock:
            return self._results.get((run_id, task_key))

    def mark_interrupted_runs(self) -> list[str]:
        with self._lock:
            running = [run for run in self._runs.values() if run.state.is_live]
            settled = [self._settle(run) for run in running]
            return [run.run_id for run in settled if run.state is RunState.INTERRUPTED]

    def set_shape(self, run_id: str, shape: Mapping[str, Any]) -> None:
        text = to_json(dict(shape), what=f"the flow shape of run {run_id}")
        with self._lock:
            self._run(run_id)
            self._shapes[run_id] = text

    def record_delivery(self, delivery: DeliveryRecord) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    def get_deliveries(self, run_id: str) -> list[DeliveryRecord]:
        with self._lock:
            return [delivery for delivery in self._deliveries if delivery.run_id == run_id]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Writes here take effect at once; the block only mirrors ``SqliteStore.batch``."""
        yield

    def close(self) -> None:
        """Nothing to release; the records stay readable."""

    # -- reads -------------------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            run = self._runs.get(run_id)
            return None if run is None else self._settle(run)

    def resolve_run_id(self, prefix: str) -> str:
        check_prefix(prefix)
        with self._lock:
            matches = [self._runs[run_id] for run_id in self._order if run_id.startswith(prefix)]
        return pick_run_id(prefix, _newest_first(matches, self._order), where=self._where())

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        check_limit(limit, offset)
        with self._lock:
            self.mark_interrupted_runs()
            runs = [self._runs[run_id] for run_id in self._order]
        if flow is not None:
            runs = [run for run in runs if run.flow_name == flow]
        if state is not None:
            runs = [run for run in runs if run.state is RunState(state)]
        newest = _newest_first(runs, self._order)
        return newest[offset : None if limit is None else offset + limit]

    def get_shape(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            shape = self._shapes.get(run_id)
            return None if shape is None else json.loads(shape)

    def get_tasks(self, run_id: str) -> dict[str, TaskRecord]:
        with self._lock:
            return dict(self._tasks.get(run_id, {}))

    def get_attempts(self, run_id: str, task_key: str | None = None) -> list[AttemptRecord]:
        with self._lock:
            keys = [task_key] if task_key is not None else list(self._tasks.get(run_id, {}))
            return [
                attempt
                for key in keys
                for _, attempt in sorted(self._attempts.get((run_id, key), {}).items())
            ]

    def get_values(self, run_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            tasks = self._tasks.get(run_id, {})
            return {key: json.loads(json.dumps(t.values)) for key, t in tasks.items() if t.values}

    # -- internals ---------------------------------------------------------------------
    def _where(self) -> str:
        return "the in-memory run store"

    def _run(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            msg = f"no run {run_id!r} in {self._where()}"
            raise StoreError(msg)
        return run

    def _tasks_of(self, run_id: str) -> dict[str, TaskRecord]:
        self._run(run_id)
        return self._tasks[run_id]

    def _update_task(self, run_id: str, task_key: str, **changes: Any) -> None:
        with self._lock:
            tasks = self._tasks_of(run_id)
            task = tasks.get(task_key) or TaskRecord(run_id=run_id, task_key=task_key)
            tasks[task_key] = attrs.evolve(task, **changes)

    def _settle(self, run: RunRecord) -> RunRecord:
        """The run, marked interrupted (and stored so) if its orchestrator is gone."""
        if not liveness.orchestrator_gone(run, now=time.time(), stale_after=self.stale_after):
            return run
        settled = liveness.as_interrupted(run)
        self._runs[run.run_id] = settled
        return settled


def _newest_first(runs: list[RunRecord], order: list[str]) -> list[RunRecord]:
    position = {run_id: index for index, run_id in enumerate(order)}
    return sorted(runs, key=lambda run: (run.started_at, position[run.run_id]), reverse=True)
