"""The SQLite store's reads of run history, and the settling of runs whose orchestrator is gone.

``SqliteStore`` is this mixin plus its writes (``sqlite``): a read first settles
a run whose orchestrator died (``_settle``), marking it ``interrupted`` unless
the store is read-only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from flowkit._errors import StoreError
from flowkit._state import RunState
from flowkit._store import liveness, problems, rows
from flowkit._store.base import (
    AttemptRecord,
    DeliveryRecord,
    RunRecord,
    TaskRecord,
    check_limit,
    check_prefix,
    pick_run_id,
)
from flowkit._store.connections import Connections, tables_present


class HistoryReads:
    """Reads of runs, tasks, attempts, values, return values and notification tries."""

    path: Path
    stale_after: float
    read_only: bool
    _db: Connections

    def get_result(self, run_id: str, task_key: str) -> bytes | None:
        with self._db.read(f"reading the return value of {task_key!r} in run {run_id}") as db:
            found = db.execute(
                "SELECT result_ref FROM tasks WHERE run_id = ? AND task_key = ?",
                (run_id, task_key),
            ).fetchone()
        if found is None or found[0] is None:
            return None
        try:
            return Path(found[0]).read_bytes()
        except OSError as error:
            raise problems.file_error(Path(found[0]), "reading a return value", error) from error

    def get_deliveries(self, run_id: str) -> list[DeliveryRecord]:
        with self._db.read(f"reading the notifications of run {run_id}") as db:
            present = db.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'deliveries'"
            ).fetchone()[0]
            if not present:  # an older store, read as it is
                return []
            fetched = db.execute(
                "SELECT run_id, event, destination, try, ok, at, task_key, error "
                "FROM deliveries WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            ).fetchall()
        return [DeliveryRecord(*row[:4], bool(row[4]), *row[5:]) for row in fetched]

    def mark_interrupted_runs(self) -> list[str]:
        with self._db.read("looking for interrupted runs") as db:
            fetched = db.execute(
                f"SELECT {self._db.run_columns} FROM runs WHERE state IN ('running', 'queued')"
            ).fetchall()
        settled = self._settle([rows.run_record(row) for row in fetched])
        return [run.run_id for run in settled if run.state is RunState.INTERRUPTED]

    def get_run(self, run_id: str) -> RunRecord | None:
        with self._db.read(f"reading run {run_id}") as db:
            row = db.execute(f"SELECT {self._db.run_columns} FROM runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return None if found is None else self._settle([rows.run_record(found)])[0]

    def resolve_run_id(self, prefix: str) -> str:
        check_prefix(prefix)
        with self._db.read(f"looking up run id {prefix!r}") as db:
            fetched = db.execute(
                f"SELECT {self._db.run_columns} FROM runs WHERE substr(run_id, 1, ?) = ? "
                "ORDER BY started_at DESC, rowid DESC",
                (len(prefix), prefix),
            ).fetchall()
        return pick_run_id(prefix, [rows.run_record(row) for row in fetched], where=str(self.path))

    def list_runs(
        self,
        *,
        flow: str | None = None,
        state: RunState | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        check_limit(limit, offset)
        conditions, arguments = [], []
        if flow is not None:
            conditions.append("flow_name = ?")
            arguments.append(flow)
        if state is not None:
            if RunState(state).is_live:
                self.mark_interrupted_runs()  # a dead orchestrator's run is not live
            conditions.append("state = ?")
            arguments.append(RunState(state).value)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db.read("listing runs") as db:
            fetched = db.execute(
                f"SELECT {self._db.run_columns} FROM runs {where} "
                "ORDER BY started_at DESC, rowid DESC LIMIT ? OFFSET ?",
                (*arguments, -1 if limit is None else limit, offset),
            ).fetchall()
        return self._settle([rows.run_record(row) for row in fetched])

    def get_shape(self, run_id: str) -> dict[str, Any] | None:
        with self._db.read(f"reading the flow shape of run {run_id}") as db:
            if not tables_present(db, "run_shapes"):
                return None  # an older store, read as it is
            found = db.execute(
                "SELECT shape FROM run_shapes WHERE run_id = ?", (run_id,)
            ).fetchone()
        return None if found is None else dict(json.loads(found[0]))

    def get_tasks(self, run_id: str) -> dict[str, TaskRecord]:
        with self._db.read(f"reading the tasks of run {run_id}") as db:
            fetched = db.execute(
                f"SELECT {self._db.task_columns} FROM tasks WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            ).fetchall()
        return {row[1]: rows.task_record(row) for row in fetched}

    def get_attempts(self, run_id: str, task_key: str | None = None) -> list[AttemptRecord]:
        only_task = "AND a.task_key = ?" if task_key is not None else ""
        arguments = (run_id, task_key) if task_key is not None else (run_id,)
        columns = ", ".join(f"a.{column.strip()}" for column in rows.ATTEMPT_COLUMNS.split(","))
        with self._db.read(f"reading the attempts of run {run_id}") as db:
            fetched = db.execute(
                f"SELECT {columns} FROM attempts a JOIN tasks t "
                "ON t.run_id = a.run_id AND t.task_key = a.task_key "
                f"WHERE a.run_id = ? {only_task} ORDER BY t.rowid, a.repair, a.attempt",
                arguments,
            ).fetchall()
        return [rows.attempt_record(row) for row in fetched]

    def get_values(self, run_id: str) -> dict[str, dict[str, Any]]:
        with self._db.read(f"reading the task values of run {run_id}") as db:
            fetched = db.execute(
                "SELECT task_key, task_values FROM tasks "
                "WHERE run_id = ? AND task_values IS NOT NULL ORDER BY rowid",
                (run_id,),
            ).fetchall()
        return {key: json.loads(text) for key, text in fetched}

    def _require_run(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        row = db.execute(f"SELECT {self._db.run_columns} FROM runs WHERE run_id = ?", (run_id,))
        found = row.fetchone()
        if found is None:
            msg = f"no run {run_id!r} in {self.path}"
            raise StoreError(msg)
        return rows.run_record(found)

    def _settle(self, runs: list[RunRecord]) -> list[RunRecord]:
        """``runs``, each marked interrupted (and stored so) if its orchestrator is gone."""
        now = time.time()
        settled = []
        for run in runs:
            if liveness.orchestrator_gone(run, now=now, stale_after=self.stale_after):
                run = self._mark_interrupted(run)  # noqa: PLW2901 - the settled record
            settled.append(run)
        return settled

    def _mark_interrupted(self, run: RunRecord) -> RunRecord:
        interrupted = liveness.as_interrupted(run)
        if self.read_only:
            return interrupted  # shown so, and marked by the next store that writes
        try:
            with self._db.write(f"marking run {run.run_id} interrupted") as db:
                # Only if nothing changed since it was read: a heartbeat or a repair wins.
                changed = db.execute(
                    "UPDATE runs SET state = 'interrupted', ended_at = ? WHERE run_id = ? "
                    "AND state IN ('running', 'queued') AND repair_count = ? AND pid IS ? "
                    "AND heartbeat_at IS ?",
                    (interrupted.ended_at, run.run_id, run.repair_count, run.pid, run.heartbeat_at),
                ).rowcount
                if not changed:
                    return self._require_run(db, run.run_id)
        except StoreError:
            pass  # a read-only or busy store still shows the run as it is
        return interrupted
