"""The SQLite file: where it lives, its schema and version, and sqlite errors as StoreErrors.

A flowkit store is marked with ``PRAGMA application_id`` and carries its
schema version in ``PRAGMA user_version``; both sit in the file's header, so
they are read before anything else and a file that is not a flowkit store is
never written to. A store of an older version is upgraded in place, in one
transaction (``UPGRADES``); one of a newer version is refused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from flowkit._errors import StoreError
from flowkit._home import make_private_folder
from flowkit._store.problems import HOME_HINT, is_busy, read_only_message

#: The schema this flowkit reads and writes. Bump it with every change to SCHEMA, and
#: add the statements that bring the previous version up to it to UPGRADES.
SCHEMA_VERSION = 7
#: "fkit": marks a SQLite file as a flowkit run store.
APPLICATION_ID = 0x666B6974
DATABASE_NAME = "flowkit.db"

#: One statement per ``;`` (run one by one, inside the transaction that sets up a store).
SCHEMA = """
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
    parent_run_id TEXT,
    -- Version 2: the executor of the latest pass and the cluster it held (dask).
    executor                 TEXT,
    cluster_address          TEXT,              -- NULL: no cluster
    cluster_ephemeral        INTEGER,           -- 1 started for the run, 0 an external one
    cluster_workers          INTEGER,
    cluster_startup_seconds  REAL,
    cluster_lifetime_seconds REAL,
    -- Version 3: what the latest pass was started from (PATH.py:ATTR or MODULE:ATTR).
    target                   TEXT,
    -- Version 4: what started the run (manual, cron, periodic, file_arrival, backfill).
    trigger_type             TEXT,
    trigger_time             REAL,              -- its scheduled time
    trigger_location         TEXT,              -- file arrival: the folder
    backfill_id              TEXT
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
    waiting_for     TEXT,                       -- why it is queued: a pool, memory, CPUs
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

#: Version 4's tables for operating flows (DESIGN.md §5), part of SCHEMA.
OPERATIONS_SCHEMA = """-- Version 4: operating flows (DESIGN.md §5).
-- A run holding, or queued for, one of a resource's slots ("flow:NAME": the flow's
-- max_concurrent_runs), in queue order (seq). A row of a dead process is free.
CREATE TABLE slots (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    resource    TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    held        INTEGER NOT NULL,                 -- 1 holds a slot, 0 waits for one
    pid         INTEGER NOT NULL,
    hostname    TEXT NOT NULL,
    since       REAL NOT NULL,
    UNIQUE (resource, run_id)
);
-- Leases: one row per thing only one process may do at a time (name 'serve').
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    pid         INTEGER NOT NULL,
    hostname    TEXT NOT NULL,
    since       REAL NOT NULL
);
-- Flows paused with `flowkit pause` (resumed: the row says paused = 0).
CREATE TABLE flow_settings (
    flow_name   TEXT PRIMARY KEY,
    paused      INTEGER NOT NULL,
    changed_at  REAL NOT NULL
);
-- What serve remembers of a flow's trigger between two serves (JSON).
CREATE TABLE trigger_state (
    flow_name   TEXT PRIMARY KEY,
    state       TEXT NOT NULL
);
"""
SCHEMA += OPERATIONS_SCHEMA

#: Version 5: every try to deliver a notification (DESIGN.md §5), part of SCHEMA.
DELIVERIES_SCHEMA = """
CREATE TABLE deliveries (
    run_id      TEXT NOT NULL,
    task_key    TEXT,                         -- NULL: a notification of the run
    event       TEXT NOT NULL,                -- on_start, on_success, on_failure, ...
    destination TEXT NOT NULL,                -- masked: no credential, token or path
    try         INTEGER NOT NULL,             -- 1-based
    ok          INTEGER NOT NULL,
    error       TEXT,
    at          REAL NOT NULL
);
CREATE INDEX deliveries_by_run ON deliveries (run_id);
"""
SCHEMA += DELIVERIES_SCHEMA

#: Version 6: the shape of the flow each run ran, and of each flow as last seen
#: (DESIGN.md §6: the report and the ui draw a run's graph from the history alone).
SHAPES_SCHEMA = """
CREATE TABLE run_shapes (
    run_id      TEXT PRIMARY KEY REFERENCES runs (run_id) ON DELETE CASCADE,
    shape       TEXT NOT NULL                 -- JSON: tasks, edges, schedule (_planning.shape)
);
CREATE TABLE flows (
    flow_name   TEXT PRIMARY KEY,
    shape       TEXT NOT NULL,                -- JSON, as in run_shapes
    seen_at     REAL NOT NULL                 -- when a run or serve last saw the flow
);
"""
SCHEMA += SHAPES_SCHEMA


def statements(script: str) -> list[str]:
    """The statements of ``script``, one per ``;``."""
    return [statement for statement in script.split(";") if statement.strip()]


#: version -> the statements that upgrade a store of that version to the next one.
#: The columns they add come last in SCHEMA's tables too, so an upgraded store and a
#: new one have the same layout.
UPGRADES: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE runs ADD COLUMN executor TEXT",
        "ALTER TABLE runs ADD COLUMN cluster_address TEXT",
        "ALTER TABLE runs ADD COLUMN cluster_ephemeral INTEGER",
        "ALTER TABLE runs ADD COLUMN cluster_workers INTEGER",
        "ALTER TABLE runs ADD COLUMN cluster_startup_seconds REAL",
        "ALTER TABLE runs ADD COLUMN cluster_lifetime_seconds REAL",
    ),
    2: ("ALTER TABLE runs ADD COLUMN target TEXT",),
    3: (
        "ALTER TABLE runs ADD COLUMN trigger_type TEXT",
        "ALTER TABLE runs ADD COLUMN trigger_time REAL",
        "ALTER TABLE runs ADD COLUMN trigger_location TEXT",
        "ALTER TABLE runs ADD COLUMN backfill_id TEXT",
        *statements(OPERATIONS_SCHEMA),
    ),
    4: tuple(statements(DELIVERIES_SCHEMA)),
    5: tuple(statements(SHAPES_SCHEMA)),
    6: ("ALTER TABLE tasks ADD COLUMN waiting_for TEXT",),
}


def make_folder(path: Path, *, create: bool) -> None:
    """Check the store's file and folder; create the folder (mode 0700) when allowed.

    Raises:
        StoreError: the path is a folder, the store is missing and ``create`` is
            false, or the folder cannot be created or written.
    """
    folder = path.parent
    if path.is_dir():
        msg = f"run store {path} is a folder, not a file; {HOME_HINT}"
        raise StoreError(msg)
    if path.exists():
        return
    if not create:
        msg = (
            f"no run store at {path}: nothing has been recorded there yet. "
            f"Runs are recorded by `flowkit run`; to read another store, {HOME_HINT}"
        )
        raise StoreError(msg)
    try:
        make_private_folder(folder)
    except OSError as error:
        msg = f"cannot create the run store folder {folder}: {error.strerror}; {HOME_HINT}"
        raise StoreError(msg) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(read_only_message(path, "creating it"))


def prepare(connection: sqlite3.Connection, path: Path, *, busy_timeout: float) -> None:
    """Check that ``path`` is a flowkit store of this schema version; set up a new one.

    A store of an older version that ``UPGRADES`` can bring up to this one is
    upgraded first, in one transaction: it is either upgraded whole or left as it was.

    Raises:
        StoreError: another application's database, or a schema version this
            flowkit does not read. Nothing is written in either case.
    """
    application_id, version, objects = _header(connection)
    if (application_id, version, objects) == (0, 0, 0):
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have set the store up while this one waited.
            application_id, version, objects = _header(connection)
            if (application_id, version, objects) == (0, 0, 0):
                for statement in statements(SCHEMA):
                    connection.execute(statement)
                connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        application_id, version, _ = _header(connection)
    if application_id == APPLICATION_ID and _can_upgrade(version):
        _upgrade(connection)
        application_id, version, _ = _header(connection)
    check_version(path, application_id, version)
    _set_wal(connection, busy_timeout)


def prepare_for_reading(connection: sqlite3.Connection, path: Path) -> int:
    """Check, without writing, that ``path`` is a flowkit store this flowkit reads; its version.

    An older version is read as it is (the columns it lacks read as empty): only
    a store opened for writing is upgraded.

    Raises:
        StoreError: not a flowkit store (or an empty file), or a newer schema version.
        sqlite3.OperationalError: the file cannot be read.
    """
    application_id, version, objects = _header(connection)
    if (application_id, version, objects) == (0, 0, 0):
        msg = (
            f"no run store at {path}: the file is empty, nothing has been recorded there yet. "
            f"Runs are recorded by `flowkit run`; to read another store, {HOME_HINT}"
        )
        raise StoreError(msg)
    if application_id == APPLICATION_ID and 0 < version < SCHEMA_VERSION:
        return version
    check_version(path, application_id, version)
    return version


def columns_present(connection: sqlite3.Connection, table: str, columns: str) -> str:
    """``columns`` of ``table`` to select, each missing one as ``NULL AS name``."""
    present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
    names = [name.strip() for name in columns.split(",")]
    return ", ".join(name if name in present else f"NULL AS {name}" for name in names)


def _can_upgrade(version: int) -> bool:
    """Whether UPGRADES has every step from ``version`` up to SCHEMA_VERSION."""
    return 0 < version < SCHEMA_VERSION and all(
        step in UPGRADES for step in range(version, SCHEMA_VERSION)
    )


def _upgrade(connection: sqlite3.Connection) -> None:
    """Bring an older store up to SCHEMA_VERSION, every step in one transaction."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have upgraded it while this one waited for the lock.
        application_id, version, _ = _header(connection)
        if application_id == APPLICATION_ID and _can_upgrade(version):
            for step in range(version, SCHEMA_VERSION):
                for statement in UPGRADES[step]:
                    connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def check_version(path: Path, application_id: int, version: int) -> None:
    if application_id != APPLICATION_ID:
        msg = (
            f"{path} is a SQLite database, but not a flowkit run store (its application id "
            f"is {application_id:#x}). flowkit has not changed it; {HOME_HINT}"
        )
        raise StoreError(msg)
    if version < SCHEMA_VERSION:
        msg = (
            f"run store {path} has schema version {version}, older than this flowkit's "
            f"{SCHEMA_VERSION}, and flowkit cannot upgrade it in place. flowkit has not "
            f"changed it: move it aside (its history stays readable with the flowkit that "
            f"wrote it) to start a new one, or {HOME_HINT}"
        )
        raise StoreError(msg)
    if version > SCHEMA_VERSION:
        msg = (
            f"run store {path} has schema version {version}, which this flowkit (schema "
            f"{SCHEMA_VERSION}) does not know: a newer flowkit wrote it. Upgrade flowkit, "
            f"or {HOME_HINT}"
        )
        raise StoreError(msg)


def _header(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """Application id, schema version and how many schema objects: one consistent read."""
    row = connection.execute(
        "SELECT a.application_id, v.user_version, (SELECT count(*) FROM sqlite_master) "
        "FROM pragma_application_id() AS a, pragma_user_version() AS v"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _set_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL, once per file; the switch does not wait on a busy file, so retry it."""
    deadline = time.monotonic() + busy_timeout
    while connection.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            connection.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)
