"""What operating flows keeps in the home: serve's lease, paused flows, trigger state.

Beside the runs, in the same SQLite file (schema version 4):

    leases         one row per thing only one process may do at a time: ``serve``
    flow_settings  flows paused with ``flowkit pause`` (and resumed)
    trigger_state  what serve remembers of a flow's trigger between two serves, as
                   JSON: a schedule's last fire, the files a folder held
    flows          every flow a run or serve saw, with its latest shape (the ui's flows page)

A lease belongs to a live process: one whose process is gone is free again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

import attrs

from flowkit._store.base import to_json
from flowkit._store.connections import Connections, tables_present
from flowkit._store.liveness import process_alive, this_host


@attrs.frozen
class Lease:
    """Who holds a lease: a process on a host, since when."""

    name: str
    pid: int
    hostname: str
    since: float


class Operations:
    """Serve's lease, paused flows and trigger state in the store at ``connections``."""

    def __init__(self, connections: Connections) -> None:
        self._db = connections

    # -- leases ------------------------------------------------------------------------
    def take_lease(self, name: str, *, pid: int | None = None) -> Lease | None:
        """Take lease ``name`` for this process; None when taken, else who holds it.

        A lease whose holder is gone (on this host) is taken over; one held by a
        process on another host is left to it.
        """
        pid = os.getpid() if pid is None else pid
        with self._db.write(f"taking the {name} lease") as db:
            row = db.execute(
                "SELECT name, pid, hostname, since FROM leases WHERE name = ?", (name,)
            ).fetchone()
            if row is not None:
                holder = Lease(*row)
                mine = holder.pid == pid and holder.hostname == this_host()
                if not mine and _alive(holder):
                    return holder
            db.execute(
                "INSERT OR REPLACE INTO leases (name, pid, hostname, since) VALUES (?, ?, ?, ?)",
                (name, pid, this_host(), time.time()),
            )
        return None

    def release_lease(self, name: str, *, pid: int | None = None) -> None:
        """Give lease ``name`` back, if this process holds it."""
        pid = os.getpid() if pid is None else pid
        with self._db.write(f"releasing the {name} lease") as db:
            db.execute(
                "DELETE FROM leases WHERE name = ? AND pid = ? AND hostname = ?",
                (name, pid, this_host()),
            )

    # -- paused flows ------------------------------------------------------------------
    def set_paused(self, flow_name: str, *, paused: bool) -> None:
        with self._db.write(f"{'pausing' if paused else 'resuming'} flow {flow_name!r}") as db:
            db.execute(
                "INSERT OR REPLACE INTO flow_settings (flow_name, paused, changed_at) "
                "VALUES (?, ?, ?)",
                (flow_name, int(paused), time.time()),
            )

    def paused_settings(self) -> dict[str, bool]:
        """Flows paused or resumed from the command line: flow name -> paused."""
        with self._reading("reading paused flows") as db:
            if db is None:
                return {}
            fetched = db.execute("SELECT flow_name, paused FROM flow_settings").fetchall()
        return {name: bool(paused) for name, paused in fetched}

    # -- trigger state -----------------------------------------------------------------
    def trigger_state(self, flow_name: str) -> dict[str, Any]:
        """What serve last kept for ``flow_name``'s trigger; empty when nothing."""
        with self._reading(f"reading the trigger state of flow {flow_name!r}") as db:
            if db is None:
                return {}
            row = db.execute(
                "SELECT state FROM trigger_state WHERE flow_name = ?", (flow_name,)
            ).fetchone()
        return {} if row is None else dict(json.loads(row[0]))

    def set_trigger_state(self, flow_name: str, state: Mapping[str, Any]) -> None:
        text = to_json(dict(state), what=f"the trigger state of flow {flow_name!r}")
        with self._db.write(f"keeping the trigger state of flow {flow_name!r}") as db:
            db.execute(
                "INSERT OR REPLACE INTO trigger_state (flow_name, state) VALUES (?, ?)",
                (flow_name, text),
            )

    # -- flows as last seen ------------------------------------------------------------
    def note_flow(self, shape: Mapping[str, Any]) -> None:
        """Remember a flow's shape (serve does, for flows that have not run yet)."""
        text = to_json(dict(shape), what=f"the shape of flow {shape.get('flow')!r}")
        with self._db.write(f"remembering flow {shape.get('flow')!r}") as db:
            remember_flow(db, text, shape)

    def flow_shapes(self) -> dict[str, tuple[dict[str, Any], float]]:
        """Every flow a run or serve saw: name -> (its latest shape, when last seen)."""
        with self._reading("reading the flows", table="flows") as db:
            if db is None:
                return {}
            fetched = db.execute(
                "SELECT flow_name, shape, seen_at FROM flows ORDER BY flow_name"
            ).fetchall()
        return {name: (dict(json.loads(text)), seen_at) for name, text, seen_at in fetched}

    def _reading(self, doing: str, *, table: str = "flow_settings") -> Any:
        """A read of tables an older store (read as it is) may lack: None there."""
        return _TolerantRead(self._db, doing, table)


def remember_flow(db: sqlite3.Connection, text: str, shape: Mapping[str, Any]) -> None:
    """Keep ``shape`` (``text`` its JSON) as its flow's latest, seen now.

    An upsert, so that a shape like the one stored is updated in place: SQLite then
    writes only the page whose bytes changed (the time), not the whole shape again.
    """
    db.execute(
        "INSERT INTO flows (flow_name, shape, seen_at) VALUES (?, ?, ?) "
        "ON CONFLICT (flow_name) DO UPDATE SET shape = excluded.shape, seen_at = excluded.seen_at",
        (str(shape.get("flow")), text, time.time()),
    )


class _TolerantRead:
    def __init__(self, connections: Connections, doing: str, table: str) -> None:
        self._context = connections.read(doing)
        self._table = table

    def __enter__(self) -> sqlite3.Connection | None:
        db = self._context.__enter__()
        return db if tables_present(db, self._table) else None

    def __exit__(self, *exc_info: Any) -> Any:
        return self._context.__exit__(*exc_info)


def _alive(lease: Lease) -> bool:
    if lease.hostname != this_host():
        return True  # another host's process cannot be checked: its lease stands
    return process_alive(lease.pid, alive_since=lease.since)
