"""SQLite rows to and from store records: the column lists and the conversions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from flowkit._state import ClusterReport, ErrorInfo, RunTrigger
from flowkit._store.base import AttemptRecord, RunRecord, TaskRecord

RUN_COLUMNS = (
    "run_id, flow_name, params, state, started_at, ended_at, repair_count, pid, hostname, "
    "heartbeat_at, parent_run_id, executor, cluster_address, cluster_ephemeral, "
    "cluster_workers, cluster_startup_seconds, cluster_lifetime_seconds, target, "
    "trigger_type, trigger_time, trigger_location, backfill_id"
)
#: The runs columns that hold a ClusterReport, in cluster_columns' order.
CLUSTER_COLUMNS = (
    "cluster_address, cluster_ephemeral, cluster_workers, cluster_startup_seconds, "
    "cluster_lifetime_seconds"
)
TASK_COLUMNS = (
    "run_id, task_key, state, attempts, started_at, ended_at, error_type, error_message, "
    "error_traceback, task_values, result_ref, waiting_for"
)
ATTEMPT_COLUMNS = (
    "run_id, task_key, attempt, state, started_at, ended_at, exit_code, signal, error_type, "
    "error_message, error_traceback, log_path, repair"
)

# The writes of every scheduler step, as upserts: a row is updated where it is, not
# deleted and inserted again as INSERT OR REPLACE does (half the work, and SQLite
# writes only the pages whose bytes changed).
_TASK_WRITTEN = (
    "run_id, task_key, state, attempts, started_at, ended_at, "
    "error_type, error_message, error_traceback, waiting_for"
)
_TASK_UPDATES = (
    "state = excluded.state, attempts = excluded.attempts, started_at = excluded.started_at, "
    "ended_at = excluded.ended_at, error_type = excluded.error_type, "
    "error_message = excluded.error_message, error_traceback = excluded.error_traceback, "
    "waiting_for = excluded.waiting_for"
)
TASK_UPSERT = (
    f"INSERT INTO tasks ({_TASK_WRITTEN}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (run_id, task_key) DO UPDATE SET {_TASK_UPDATES}"
)
#: TASK_UPSERT with the task's values (JSON text, or NULL for none) as an 11th value.
TASK_UPSERT_WITH_VALUES = (
    f"INSERT INTO tasks ({_TASK_WRITTEN}, task_values) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    f"ON CONFLICT (run_id, task_key) DO UPDATE SET {_TASK_UPDATES}, "
    "task_values = excluded.task_values"
)
ATTEMPT_UPSERT = (
    f"INSERT INTO attempts ({ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, task_key, repair, attempt) DO UPDATE SET state = excluded.state, "
    "started_at = excluded.started_at, ended_at = excluded.ended_at, "
    "exit_code = excluded.exit_code, signal = excluded.signal, "
    "error_type = excluded.error_type, error_message = excluded.error_message, "
    "error_traceback = excluded.error_traceback, log_path = excluded.log_path"
)


def error_columns(error: ErrorInfo | None) -> tuple[str | None, str | None, str | None]:
    if error is None:
        return None, None, None
    return error.type_name, error.message, error.traceback


def _error(type_name: str | None, message: str | None, traceback: str | None) -> ErrorInfo | None:
    if type_name is None:
        return None
    return ErrorInfo(type_name=type_name, message=message or "", traceback=traceback or "")


def cluster_columns(
    cluster: ClusterReport | None,
) -> tuple[str | None, int | None, int | None, float | None, float | None]:
    if cluster is None:
        return None, None, None, None, None
    return (
        cluster.address,
        int(cluster.ephemeral),
        cluster.workers,
        cluster.startup_seconds,
        cluster.lifetime_seconds,
    )


def _cluster(row: Sequence[Any]) -> ClusterReport | None:
    address, ephemeral, workers, startup_seconds, lifetime_seconds = row
    if address is None:
        return None
    return ClusterReport(
        address=address,
        ephemeral=bool(ephemeral),
        workers=workers or 0,
        startup_seconds=startup_seconds or 0.0,
        lifetime_seconds=lifetime_seconds or 0.0,
    )


def run_record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        flow_name=row[1],
        params=json.loads(row[2]),
        state=row[3],
        started_at=row[4],
        ended_at=row[5],
        repair_count=row[6],
        pid=row[7],
        hostname=row[8],
        heartbeat_at=row[9],
        parent_run_id=row[10],
        executor=row[11],
        cluster=_cluster(row[12:17]),
        target=row[17],
        trigger=RunTrigger(
            type=row[18] or "manual",
            time=row[19],
            file_arrival_location=row[20],
            backfill_id=row[21],
        ),
    )


def trigger_columns(trigger: RunTrigger) -> tuple[str, float | None, str | None, str | None]:
    return trigger.type, trigger.time, trigger.file_arrival_location, trigger.backfill_id


def task_record(row: Sequence[Any]) -> TaskRecord:
    return TaskRecord(
        run_id=row[0],
        task_key=row[1],
        state=row[2],
        attempts=row[3],
        started_at=row[4],
        ended_at=row[5],
        error=_error(row[6], row[7], row[8]),
        values=json.loads(row[9]) if row[9] is not None else {},
        result_ref=row[10],
        waiting_for=row[11],
    )


def attempt_record(row: Sequence[Any]) -> AttemptRecord:
    return AttemptRecord(
        run_id=row[0],
        task_key=row[1],
        attempt=row[2],
        state=row[3],
        started_at=row[4],
        ended_at=row[5],
        exit_code=row[6],
        signal=row[7],
        error=_error(row[8], row[9], row[10]),
        log_path=row[11],
        repair=row[12],
    )
