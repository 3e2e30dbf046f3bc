"""The default run store: one SQLite file in WAL mode, every change committed as it happens.

WAL lets readers (``flowkit runs``) go on while a run writes, and several runs
write one file at once: each write is a short ``BEGIN IMMEDIATE`` transaction,
and a writer that finds the file busy waits up to ``busy_timeout`` seconds
(``connections``). A store opened ``read_only`` (the history commands) never
writes: it reads a home on a read-only mount, and an older schema as it is.
``synchronous=NORMAL`` keeps every commit through a killed process (a power
cut may lose the last few, never corrupt the file). Return values are files
beside the database, ``results/RUN_ID/TASK.pkl``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from flowkit._errors import StoreError
from flowkit._home import store_file, write_private_file
from flowkit._state import ClusterReport, RunState
from flowkit._store import liveness, problems, rows, schema, slots
from flowkit._store.base import (
    Admission,
    AttemptRecord,
    DeliveryRecord,
    RunRecord,
    TaskRecord,
    repair_refusal,
    to_json,
)
from flowkit._store.connections import Connections, create_private
from flowkit._store.operations import Operations, remember_flow
from flowkit._store.sqlite_reads import HistoryReads


class SqliteStore(HistoryReads):
    """A ``RunStore`` in a SQLite file; see the module docstring.

    Args:
        path: the database file; ``$FLOWKIT_HOME/flowkit.db`` when None.
        busy_timeout: seconds a write waits for another writer before failing.
        stale_after: seconds without a heartbeat after which a run from another
            host counts as interrupted.
        create: create the file (mode 0600, and its folder, mode 0700) when missing.
        read_only: open it for reading only: nothing is ever written (a run whose
            orchestrator is gone reads as interrupted without being marked so),
            and every write is a StoreError. Implies ``create=False``.

    Raises:
        StoreError: the file cannot be created, is not a flowkit store, has
            another schema version, is damaged, or its folder is read-only.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        busy_timeout: float = 10.0,
        stale_after: float = liveness.STALE_AFTER,
        create: bool = True,
        read_only: bool = False,
    ) -> None:
        self.path = Path(path).absolute() if path is not None else store_file()
        self.busy_timeout = busy_timeout
        self.stale_after = stale_after
        self.read_only = read_only
        schema.make_folder(self.path, create=create and not read_only)
        if not read_only:
            create_private(self.path)
        self._db = Connections(self.path, busy_timeout=busy_timeout, read_only=read_only)
        self._db.connect()

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------
    def create_run(self, run: RunRecord, task_keys: Sequence[str] = ()) -> None:
        params = to_json(dict(run.params), what=f"the params of run {run.run_id}")
        heartbeat_at = run.heartbeat_at if run.heartbeat_at is not None else time.time()
        with self._db.write(f"recording run {run.run_id}") as db:
            if _exists(db, run.run_id):
                msg = f"run {run.run_id} is already recorded in {self.path}"
                raise StoreError(msg)
            db.execute(
                f"INSERT INTO runs ({rows.RUN_COLUMNS}) "
                f"VALUES ({', '.join('?' for _ in rows.RUN_COLUMNS.split(','))})",
                (
                    run.run_id,
                    run.flow_name,
                    params,
                    run.state.value,
                    run.started_at,
                    run.ended_at,
                    run.repair_count,
                    run.pid,
                    run.hostname,
                    heartbeat_at,
                    run.parent_run_id,
                    run.executor,
                    *rows.cluster_columns(run.cluster),
                    run.target,
                    *rows.trigger_columns(run.trigger),
                ),
            )
            db.executemany(
                "INSERT INTO tasks (run_id, task_key, state) VALUES (?, ?, 'pending')",
                [(run.run_id, key) for key in task_keys],
            )
            self._db.saw_run(run.run_id)

    def update_run_state(
        self,
        run_id: str,
        state: RunState,
        *,
        ended_at: float | None = None,
        cluster: ClusterReport | None = None,
        started_at: float | None = None,
    ) -> None:
        with self._db.write(f"setting run {run_id} {RunState(state).value}") as db:
            self._check_run(db, run_id)
            db.execute(
                "UPDATE runs SET state = ?, ended_at = ?, "
                "started_at = coalesce(?, started_at) WHERE run_id = ?",
                (RunState(state).value, ended_at, started_at, run_id),
            )
            if cluster is not None:
                placeholders = ", ".join(
                    f"{column.strip()} = ?" for column in rows.CLUSTER_COLUMNS.split(",")
                )
                db.execute(
                    f"UPDATE runs SET {placeholders} WHERE run_id = ?",
                    (*rows.cluster_columns(cluster), run_id),
                )

    def heartbeat(self, run_id: str, *, at: float | None = None) -> None:
        with self._db.write(f"writing the heartbeat of run {run_id}") as db:
            self._check_run(db, run_id)
            # A heartbeat proves the orchestrator alive: undo an interrupted mark.
            db.execute(
                "UPDATE runs SET heartbeat_at = ?, "
                "ended_at = CASE WHEN state = 'interrupted' THEN NULL ELSE ended_at END, "
                "state = CASE WHEN state = 'interrupted' THEN 'running' ELSE state END "
                "WHERE run_id = ?",
                (time.time() if at is None else at, run_id),
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
            new_params = to_json(dict(params), what=f"the params of run {run_id}")
        self.get_run(run_id)  # settles the run if its orchestrator is gone
        with self._db.write(f"starting a repair of run {run_id}") as db:
            run = self._require_run(db, run_id)
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
                params=run.params if new_params is None else json.loads(new_params),
                executor=run.executor if executor is None else executor,
                cluster=None,
                target=run.target if target is None else target,
            )
            cleared = ", ".join(
                f"{column.strip()} = NULL" for column in rows.CLUSTER_COLUMNS.split(",")
            )
            db.execute(
                "UPDATE runs SET state = 'running', ended_at = NULL, repair_count = ?, "
                "pid = ?, hostname = ?, heartbeat_at = ?, params = coalesce(?, params), "
                f"executor = ?, target = ?, {cleared} WHERE run_id = ?",
                (
                    repaired.repair_count,
                    pid,
                    hostname,
                    repaired.heartbeat_at,
                    new_params,
                    repaired.executor,
                    repaired.target,
                    run_id,
                ),
            )
            return repaired

    def record_task(self, task: TaskRecord, *, values: Mapping[str, Any] | None = None) -> None:
        row: tuple[Any, ...] = (
            task.run_id,
            task.task_key,
            task.state.value,
            task.attempts,
            task.started_at,
            task.ended_at,
            *rows.error_columns(task.error),
            task.waiting_for,
        )
        statement = rows.TASK_UPSERT
        if values is not None:
            what = f"the task values of {task.task_key!r} in run {task.run_id}"
            text = to_json(dict(values), what=what)
            row, statement = (*row, text if values else None), rows.TASK_UPSERT_WITH_VALUES
        with self._db.write(f"recording task {task.task_key!r} of run {task.run_id}") as db:
            self._check_run(db, task.run_id)
            db.execute(statement, row)

    def record_attempt(self, attempt: AttemptRecord) -> None:
        doing = f"recording attempt {attempt.attempt} of {attempt.task_key!r}"
        row = (
            attempt.run_id,
            attempt.task_key,
            attempt.attempt,
            attempt.state.value,
            attempt.started_at,
            attempt.ended_at,
            attempt.exit_code,
            attempt.signal,
            *rows.error_columns(attempt.error),
            attempt.log_path,
            attempt.repair,
        )
        with self._db.write(f"{doing} in run {attempt.run_id}") as db:
            self._check_run(db, attempt.run_id)
            try:
                db.execute(rows.ATTEMPT_UPSERT, row)
            except sqlite3.IntegrityError:
                # Its task is not recorded yet (the foreign key): record it pending first.
                # A failed statement leaves the transaction as it was.
                _ensure_task(db, attempt.run_id, attempt.task_key)
                db.execute(rows.ATTEMPT_UPSERT, row)

    def set_task_values(self, run_id: str, task_key: str, values: Mapping[str, Any]) -> None:
        text = to_json(dict(values), what=f"the task values of {task_key!r} in run {run_id}")
        self._update_task(run_id, task_key, "task_values", text if values else None)

    def set_result(self, run_id: str, task_key: str, data: bytes | None) -> None:
        """Keep the return value in ``results/RUN_ID/TASK.pkl`` beside the database (0600)."""
        if data is None:  # the file stays until the task returns a value again
            self._update_task(run_id, task_key, "result_ref", None)
            return
        path = self.path.parent / "results" / run_id / f"{task_key}.pkl"
        doing = f"keeping the return value of {task_key!r} in run {run_id}"
        with self._db.write(doing) as db:
            self._check_run(db, run_id)
            try:
                write_private_file(path, data)
            except OSError as error:
                raise problems.file_error(path, doing, error) from error
            _set_task_column(db, run_id, task_key, "result_ref", str(path))

    def acquire_slot(
        self, resource: str, run_id: str, *, limit: int, queue: bool, pid: int
    ) -> Admission:
        with self._db.write(f"taking a slot of {resource} for run {run_id}") as db:
            return slots.acquire(
                db, resource, run_id, limit=limit, queue=queue, pid=pid, now=time.time()
            )

    def release_slot(self, resource: str, run_id: str) -> None:
        with self._db.write(f"releasing the slot of run {run_id}") as db:
            slots.release(db, resource, run_id)

    def record_delivery(self, delivery: DeliveryRecord) -> None:
        with self._db.write(f"recording a notification of run {delivery.run_id}") as db:
            db.execute(
                "INSERT INTO deliveries (run_id, task_key, event, destination, try, ok, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    delivery.run_id,
                    delivery.task_key,
                    delivery.event,
                    delivery.destination,
                    delivery.attempt,
                    int(delivery.ok),
                    delivery.error,
                    delivery.at,
                ),
            )

    def set_shape(self, run_id: str, shape: Mapping[str, Any]) -> None:
        text = to_json(dict(shape), what=f"the flow shape of run {run_id}")
        with self._db.write(f"recording the flow shape of run {run_id}") as db:
            self._check_run(db, run_id)
            db.execute(
                "INSERT OR REPLACE INTO run_shapes (run_id, shape) VALUES (?, ?)", (run_id, text)
            )
            remember_flow(db, text, shape)

    def operations(self) -> Operations:
        """Serve's lease, paused flows and trigger state, in this store's file."""
        return Operations(self._db)

    def close(self) -> None:
        """Close this process's connections; the next operation opens a new one."""
        self._db.close()

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """The writes inside share one transaction, committed when the block ends.

        A scheduler step (a task succeeds, the next is queued and dispatched) is
        then one commit, not one per change. Keep the block short: it holds the
        write lock.
        """
        return self._db.batch()

    # -- internals ---------------------------------------------------------------------
    def _check_run(self, db: sqlite3.Connection, run_id: str) -> None:
        """That ``run_id`` is stored, without reading it (once is enough: runs stay)."""
        if self._db.knows_run(run_id):
            return
        if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            msg = f"no run {run_id!r} in {self.path}"
            raise StoreError(msg)
        self._db.saw_run(run_id)

    def _update_task(self, run_id: str, task_key: str, column: str, value: Any) -> None:
        with self._db.write(f"recording the {column} of {task_key!r} in run {run_id}") as db:
            self._check_run(db, run_id)
            _set_task_column(db, run_id, task_key, column, value)


def _exists(db: sqlite3.Connection, run_id: str) -> bool:
    return db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None


def _set_task_column(
    db: sqlite3.Connection, run_id: str, task_key: str, column: str, value: Any
) -> None:
    """Set one column of a task's row, recording the task ``pending`` first if need be."""
    db.execute(
        f"INSERT INTO tasks (run_id, task_key, state, {column}) VALUES (?, ?, 'pending', ?) "
        f"ON CONFLICT (run_id, task_key) DO UPDATE SET {column} = excluded.{column}",
        (run_id, task_key, value),
    )


def _ensure_task(db: sqlite3.Connection, run_id: str, task_key: str) -> None:
    db.execute(
        "INSERT OR IGNORE INTO tasks (run_id, task_key, state) VALUES (?, ?, 'pending')",
        (run_id, task_key),
    )
