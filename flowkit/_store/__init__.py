"""Run history: what ran, when, how it ended, and the values it left, in a store.

base       the RunStore protocol and its records: RunRecord, TaskRecord, AttemptRecord
liveness   when a running run's orchestrator is gone (the run is then interrupted)
schema     the SQLite file: location, schema, version check, errors in words
sqlite     SqliteStore, the default: $FLOWKIT_HOME/flowkit.db (its writes)
sqlite_reads  its reads, and the settling of runs whose orchestrator is gone
connections  its per-thread connections (read-only ones too) and transactions
memory     MemoryStore, its in-memory twin for tests
recorder   StoreRecorder, the run listener that writes a run as it happens
slots      max_concurrent_runs: slots of a flow held by live processes, and their queue
operations serve's lease, paused flows, trigger state (SQLite only)
origin     the target a run's flow was loaded from, recorded for ``flowkit repair``

``open_store`` is the front door: the default store, or the one under ``home``.
"""

from __future__ import annotations

import os

from flowkit._home import store_file
from flowkit._store.base import AttemptRecord, RunRecord, RunStore, TaskRecord
from flowkit._store.liveness import HEARTBEAT_INTERVAL, STALE_AFTER
from flowkit._store.memory import MemoryStore
from flowkit._store.recorder import StoreRecorder
from flowkit._store.schema import SCHEMA_VERSION
from flowkit._store.sqlite import SqliteStore

__all__ = [
    "HEARTBEAT_INTERVAL",
    "SCHEMA_VERSION",
    "STALE_AFTER",
    "AttemptRecord",
    "MemoryStore",
    "RunRecord",
    "RunStore",
    "SqliteStore",
    "StoreRecorder",
    "TaskRecord",
    "open_store",
]


def open_store(
    home: str | os.PathLike[str] | None = None, *, create: bool = True, read_only: bool = False
) -> SqliteStore:
    """The SQLite store in ``home`` (else ``$FLOWKIT_HOME``, else ``./.flowkit``).

    ``read_only`` opens it for reading only (the history commands): it never
    writes, so a home on a read-only mount reads as any other.

    Raises:
        StoreError: it cannot be opened; the message says why and what to do.
    """
    return SqliteStore(store_file(home), create=create, read_only=read_only)
