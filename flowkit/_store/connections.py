"""The SQLite store's connections: one per thread and process, and its transactions.

Each thread, and each process after a fork, opens its own connection, checked
(and the store set up or upgraded) on first use; a read-only one never writes.
Every write is a short ``BEGIN IMMEDIATE`` transaction, or part of the batch
that encloses it; a sqlite error leaves as a StoreError that says what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flowkit._errors import StoreError
from flowkit._home import open_private_file
from flowkit._store import problems, rows, schema

#: Connections inherited through a fork: never used, and never closed in the child,
#: since closing one could checkpoint or unlock on behalf of the parent.
_FORKED_AWAY: list[sqlite3.Connection] = []
#: How many run ids a store remembers as recorded before it starts over (a bound for serve).
_KNOWN_RUNS_LIMIT = 10_000


class Connections:
    """The connections to the store at ``path``, and the transactions on them.

    Args:
        path: the database file.
        busy_timeout: seconds a write waits for another writer before failing.
        read_only: open connections that cannot write; every write is a StoreError.
    """

    def __init__(self, path: Path, *, busy_timeout: float, read_only: bool) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        #: The runs columns to select: an older store read without upgrading lacks some.
        self.run_columns = rows.RUN_COLUMNS
        self.task_columns = rows.TASK_COLUMNS
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        #: Run ids seen recorded by a committed transaction: a run is never deleted, so
        #: a write need not look its run up again.
        self._known_runs: set[str] = set()

    def knows_run(self, run_id: str) -> bool:
        """Whether ``run_id`` was seen recorded (committed, or in this transaction)."""
        if run_id in self._known_runs:
            return True
        checked = getattr(self._local, "checked", None)
        return checked is not None and run_id in checked

    def saw_run(self, run_id: str) -> None:
        """``run_id`` is recorded, as this transaction sees it: known once it commits."""
        self._local.checked.add(run_id)

    def _committed(self) -> None:
        checked, self._local.checked = self._local.checked, None
        if checked:
            if len(self._known_runs) >= _KNOWN_RUNS_LIMIT:
                self._known_runs = set()
            self._known_runs |= checked

    def close(self) -> None:
        """Close this process's connections; the next operation opens a new one."""
        with self._lock:
            mine = [(pid, db) for pid, db in self._connections if pid == os.getpid()]
            self._connections = []
            self._local = threading.local()
        for _, db in mine:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def connect(self) -> sqlite3.Connection:
        """This thread's connection in this process, opened (and checked) on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            return connection
        if connection is not None:
            _FORKED_AWAY.append(connection)
        with self._translated("opening it"):
            if self.read_only:
                connection = self._open_for_reading()
            else:
                connection = self._open(str(self.path))
                try:
                    schema.prepare(connection, self.path, busy_timeout=self.busy_timeout)
                    connection.execute("PRAGMA synchronous = NORMAL")
                except BaseException:
                    connection.close()
                    raise
        self._local.connection = connection
        self._local.pid = os.getpid()
        with self._lock:
            self._connections.append((os.getpid(), connection))
        return connection

    def _open(self, database: str, *, uri: bool = False) -> sqlite3.Connection:
        connection = sqlite3.connect(
            database,
            timeout=self.busy_timeout,
            isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE .. COMMIT
            check_same_thread=False,  # only so close() may close every thread's
            uri=uri,
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            connection.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            connection.close()
            raise
        return connection

    def _open_for_reading(self) -> sqlite3.Connection:
        """A connection that cannot write; on a read-only mount, one that assumes no writer.

        A WAL store needs its ``-shm`` file to be read; where it is missing and
        cannot be created (a read-only folder), nothing can be writing the store
        either, so it is opened ``immutable``.
        """
        location = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
        try:
            return self._prepared_for_reading(location)
        except sqlite3.OperationalError as error:
            if not problems.cannot_open(error):
                raise
        return self._prepared_for_reading(f"{location}&immutable=1")

    def _prepared_for_reading(self, location: str) -> sqlite3.Connection:
        connection = self._open(location, uri=True)
        try:
            version = schema.prepare_for_reading(connection, self.path)
            if version < schema.SCHEMA_VERSION:
                self.run_columns = schema.columns_present(connection, "runs", rows.RUN_COLUMNS)
                self.task_columns = schema.columns_present(connection, "tasks", rows.TASK_COLUMNS)
        except BaseException:
            connection.close()
            raise
        return connection

    @contextlib.contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise problems.translate(
                error, self.path, doing=doing, busy_timeout=self.busy_timeout
            ) from error

    @contextlib.contextmanager
    def read(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._translated(doing):
            yield self.connect()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside share one transaction, committed when the block ends.

        A scheduler step (a task succeeds, the next is queued and dispatched) is
        then one commit, not one per change. Keep the block short: it holds the
        write lock.
        """
        if getattr(self._local, "batching", False):
            yield
            return
        with self.write("recording a batch of changes"):
            self._local.batching = True
            try:
                yield
            finally:
                self._local.batching = False

    def write(self, doing: str) -> Write:
        """One short transaction: it takes the write lock first, so it never deadlocks."""
        if self.read_only:
            msg = (
                f"run store {self.path} is open for reading only; {doing} needs a store "
                "opened for writing"
            )
            raise StoreError(msg)
        return Write(self, doing)


class Write:
    """A ``with`` block of writes: a transaction of its own, or part of the enclosing batch.

    A class, not a generator: every recorded change passes through one.
    """

    __slots__ = ("_connections", "_db", "_doing", "_own")

    def __init__(self, connections: Connections, doing: str) -> None:
        self._connections = connections
        self._doing = doing
        self._own = False
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> sqlite3.Connection:
        connections = self._connections
        local = connections._local
        try:
            if getattr(local, "batching", False) and local.pid == os.getpid():
                return connections.connect()  # part of the batch's transaction
            db = self._db = connections.connect()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._translate(error) from error
        self._own = True
        local.checked = set()  # runs seen recorded in this transaction
        return db

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        if self._own:
            db = self._db
            assert db is not None
            if kind is None:
                try:
                    db.execute("COMMIT")
                except sqlite3.Error as commit_error:
                    self._roll_back(db)
                    raise self._translate(commit_error) from commit_error
                self._connections._committed()
                return
            self._roll_back(db)
        if isinstance(error, sqlite3.Error):
            raise self._translate(error) from error

    def _roll_back(self, db: sqlite3.Connection) -> None:
        self._connections._local.checked = None
        if db.in_transaction:  # never leave one open: the next BEGIN would fail
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    def _translate(self, error: sqlite3.Error) -> StoreError:
        connections = self._connections
        return problems.translate(
            error, connections.path, doing=self._doing, busy_timeout=connections.busy_timeout
        )


def create_private(path: Path) -> None:
    """Create the database file, mode 0600, before SQLite does: its -wal and -shm files
    take the database's mode, so no moment exists where any of them is world-readable."""
    try:
        os.close(open_private_file(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        pass
    except OSError as error:
        raise problems.file_error(path, "creating it", error) from error


def tables_present(db: sqlite3.Connection, *names: str) -> bool:
    """Whether the store has every table in ``names`` (an older one, read as is, may not)."""
    found = db.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
        f"({', '.join('?' for _ in names)})",
        names,
    ).fetchone()[0]
    return found == len(names)
