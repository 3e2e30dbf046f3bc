"""A store of an older schema version is upgraded in place, its history intact."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from flowkit._errors import StoreError
from flowkit._state import ClusterReport, RunState, RunTrigger, TaskState
from flowkit._store import SqliteStore, schema
from flowkit._store.liveness import this_host
from flowkit.cli import main

#: flowkit/store/schema.py's SCHEMA at version 1, word for word.
V1_SCHEMA = """
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY,
    flow_name     TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',   -- JSON object
    state         TEXT NOT NULL,                -- RunState value
    started_at    REAL NOT NULL,                -- seconds since the epoch
    ended_at      REAL,
    repair_count  INTEGER NOT NULL DEFAULT 0,
    pid           INTEGER,                      -- the orchestrator's process
    hostname      TEXT,                         -- ... and its host
    heartbeat_at  REAL,                         -- its last sign of life
    parent_run_id TEXT
);
CREATE INDEX runs_by_start ON runs (started_at DESC);
CREATE INDEX runs_by_flow ON runs (flow_name, started_at DESC);
CREATE INDEX runs_running ON runs (state) WHERE state = 'running';

CREATE TABLE tasks (
    run_id          TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task_key        TEXT NOT NULL,
    state           TEXT NOT NULL,              -- TaskState value
    attempts        INTEGER NOT NULL DEFAULT 0,
    started_at      REAL,
    ended_at        REAL,
    error_type      TEXT,
    error_message   TEXT,
    error_traceback TEXT,
    task_values     TEXT,                       -- JSON object, set when the task succeeds
    result_ref      TEXT,                       -- where its return value was persisted
    PRIMARY KEY (run_id, task_key)
);

CREATE TABLE attempts (
    run_id          TEXT NOT NULL,
    task_key        TEXT NOT NULL,
    repair          INTEGER NOT NULL DEFAULT 0, -- 0 the original run, n the n-th repair
    attempt         INTEGER NOT NULL,           -- 1-based
    state           TEXT NOT NULL,
    started_at      REAL,
    ended_at        REAL,
    exit_code       INTEGER,
    signal          INTEGER,
    error_type      TEXT,
    error_message   TEXT,
    error_traceback TEXT,
    log_path        TEXT,
    PRIMARY KEY (run_id, task_key, repair, attempt),  -- a repair never overwrites
    FOREIGN KEY (run_id, task_key) REFERENCES tasks (run_id, task_key) ON DELETE CASCADE
);
"""


REPORT = ClusterReport(
    address="tcp://10.0.0.5:8786",
    ephemeral=False,
    workers=3,
    startup_seconds=0.5,
    lifetime_seconds=42.0,
)


def make_v1_store(path: Path) -> None:
    """A version 1 store as flowkit 1 left it: WAL mode, one finished run with two attempts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("BEGIN IMMEDIATE")
        for statement in V1_SCHEMA.split(";"):
            if statement.strip():
                raw.execute(statement)
        raw.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        raw.execute("PRAGMA user_version = 1")
        raw.execute(
            "INSERT INTO runs (run_id, flow_name, params, state, started_at, ended_at, "
            "repair_count, pid, hostname, heartbeat_at) VALUES "
            "('old-run', 'lakehouse', '{\"day\": \"monday\"}', 'succeeded', 1000.0, 1020.0, "
            "0, ?, ?, 1020.0)",
            (os.getpid(), this_host()),
        )
        raw.execute(
            "INSERT INTO tasks (run_id, task_key, state, attempts, started_at, ended_at, "
            "task_values) VALUES ('old-run', 'ingest', 'succeeded', 2, 1000.0, 1019.0, "
            "'{\"rows\": 42}')"
        )
        raw.executemany(
            "INSERT INTO attempts (run_id, task_key, attempt, state, started_at, ended_at) "
            "VALUES ('old-run', 'ingest', ?, ?, ?, ?)",
            [(1, "failed", 1000.0, 1003.0), (2, "succeeded", 1013.0, 1019.0)],
        )
        raw.execute("COMMIT")
        raw.execute("PRAGMA journal_mode = WAL")
    finally:
        raw.close()


def header_and_columns(path: Path) -> tuple[int, list[tuple[str, str]]]:
    raw = sqlite3.connect(path)
    try:
        version = raw.execute("PRAGMA user_version").fetchone()[0]
        # Tables that upgrades added columns to, column by column (ALTER TABLE writes
        # their SQL text differently); every other table by its SQL.
        altered = ("runs", "tasks")
        columns = [
            (row[1], row[2])
            for table in altered
            for row in raw.execute(f"PRAGMA table_info({table})")
        ]
        tables = raw.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        columns += sorted((name, sql) for name, sql in tables if name not in altered)
    finally:
        raw.close()
    return version, columns


@pytest.fixture
def v1_path(home: Path) -> Path:
    path = home / "flowkit.db"
    make_v1_store(path)
    return path


def test_opening_a_version_1_store_upgrades_it_and_keeps_its_runs(v1_path: Path) -> None:
    assert header_and_columns(v1_path)[0] == 1

    with SqliteStore(v1_path) as store:
        run = store.get_run("old-run")
        tasks = store.get_tasks("old-run")
        attempts = store.get_attempts("old-run")
        values = store.get_values("old-run")

    assert header_and_columns(v1_path)[0] == schema.SCHEMA_VERSION == 7
    assert run is not None
    assert (run.flow_name, run.state, run.params) == (
        "lakehouse",
        RunState.SUCCEEDED,
        {"day": "monday"},
    )
    assert (run.started_at, run.ended_at) == (1000.0, 1020.0)
    # version 1 did not record them
    assert (run.executor, run.cluster, run.target) == (None, None, None)
    assert run.trigger == RunTrigger(type="manual")  # a run before triggers was started by hand
    assert tasks["ingest"].state is TaskState.SUCCEEDED
    assert tasks["ingest"].attempts == 2
    assert tasks["ingest"].waiting_for is None  # added by version 7
    assert values == {"ingest": {"rows": 42}}
    assert [attempt.duration for attempt in attempts] == [3.0, 6.0]


def test_an_upgraded_store_has_the_layout_of_a_new_one(v1_path: Path, tmp_path: Path) -> None:
    SqliteStore(v1_path).close()
    fresh = tmp_path / "fresh" / "flowkit.db"
    SqliteStore(fresh).close()
    assert header_and_columns(v1_path) == header_and_columns(fresh)
    assert ("cluster_lifetime_seconds", "REAL") in header_and_columns(fresh)[1]
    assert ("waiting_for", "TEXT") in header_and_columns(fresh)[1]


def test_an_upgraded_store_records_clusters_and_repairs(v1_path: Path) -> None:
    with SqliteStore(v1_path) as store:
        store.increment_repair_count(
            "old-run", pid=os.getpid(), hostname=this_host(), executor="dask"
        )
        store.update_run_state("old-run", RunState.SUCCEEDED, ended_at=1100.0, cluster=REPORT)
    with SqliteStore(v1_path) as reopened:
        run = reopened.get_run("old-run")
    assert run is not None
    assert (run.repair_count, run.executor, run.cluster) == (1, "dask", REPORT)


def test_a_failed_upgrade_leaves_the_store_at_version_1(
    v1_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = header_and_columns(v1_path)
    broken = (*schema.UPGRADES[1], "ALTER TABLE no_such_table ADD COLUMN nothing TEXT")
    monkeypatch.setitem(schema.UPGRADES, 1, broken)

    with pytest.raises(StoreError, match="no_such_table"):
        SqliteStore(v1_path)

    # One transaction: not even the columns added before the failing statement stay.
    assert header_and_columns(v1_path) == before
    monkeypatch.undo()
    with SqliteStore(v1_path) as store:  # the real upgrade still goes through afterwards
        assert store.get_run("old-run") is not None
    assert header_and_columns(v1_path)[0] == 7


def test_a_version_without_an_upgrade_is_still_refused(
    v1_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(schema.UPGRADES, 1)
    with pytest.raises(
        StoreError, match=f"schema version 1, older than this flowkit's {schema.SCHEMA_VERSION}"
    ):
        SqliteStore(v1_path)
    assert header_and_columns(v1_path)[0] == 1


def test_show_reads_a_run_recorded_by_version_1(
    v1_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "old"]) == 0
    out = capsys.readouterr().out
    assert "executor  -" in out
    row = next(line for line in out.splitlines() if line.startswith("ingest"))
    assert row.split()[1:5] == ["succeeded", "2", "19.0s", "9.00s"]
    assert "compute: 9.00s in 2 attempts" in out.splitlines()


def test_an_upgraded_store_records_the_target_of_a_repair(v1_path: Path) -> None:
    with SqliteStore(v1_path) as store:
        store.increment_repair_count(
            "old-run", pid=os.getpid(), hostname=this_host(), target="/flows/etl.py:flow"
        )
    with SqliteStore(v1_path) as reopened:
        assert reopened.get_run("old-run").target == "/flows/etl.py:flow"  # type: ignore[union-attr]


def test_a_store_opened_for_reading_reads_an_older_version_without_upgrading_it(
    v1_path: Path,
) -> None:
    before = v1_path.read_bytes()
    with SqliteStore(v1_path, read_only=True) as store:
        run = store.get_run("old-run")
        (listed,) = store.list_runs()
        values = store.get_values("old-run")
    assert run is not None
    assert run == listed
    assert (run.flow_name, run.state, run.executor, run.target) == (
        "lakehouse",
        RunState.SUCCEEDED,
        None,
        None,
    )
    assert values == {"ingest": {"rows": 42}}
    assert header_and_columns(v1_path)[0] == 1
    assert v1_path.read_bytes() == before
