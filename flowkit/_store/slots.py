"""Slots: how many runs of a flow (or users of any named resource) may be live at once.

A run takes one of a resource's ``limit`` slots (``"flow:NAME"`` for the
flow's ``max_concurrent_runs``) or waits for one, first come, first served.
A slot belongs to a process: the row of a process that is gone (killed with
SIGKILL, say), or of a run that has ended, is free again, so a dead
orchestrator never holds a flow up. The decision (``decide``) is shared by
the SQLite table and the memory twin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

import attrs

from flowkit._store.base import Admission
from flowkit._store.liveness import process_alive, this_host


@attrs.frozen
class SlotRow:
    seq: int
    run_id: str
    held: bool
    pid: int
    hostname: str
    since: float


def gone(row: SlotRow) -> bool:
    """Whether the process that took ``row`` is gone (only this host's can be checked)."""
    return row.hostname == this_host() and not process_alive(row.pid, alive_since=row.since)


def decide(rows: Sequence[SlotRow], run_id: str, *, limit: int, queue: bool) -> Admission:
    """Whether ``run_id`` holds a slot now, waits for one, or is refused, given the live rows."""
    mine = next((row for row in rows if row.run_id == run_id), None)
    if mine is not None and mine.held:
        return Admission.HELD
    free = limit - sum(row.held for row in rows)
    ahead = [row for row in rows if not row.held and (mine is None or row.seq < mine.seq)]
    if free > len(ahead):
        return Admission.HELD
    return Admission.WAITING if queue or mine is not None else Admission.REFUSED


def acquire(
    db: sqlite3.Connection,
    resource: str,
    run_id: str,
    *,
    limit: int,
    queue: bool,
    pid: int,
    now: float,
) -> Admission:
    """``decide`` on the slots table, inside the caller's write transaction."""
    fetched = db.execute(
        "SELECT s.seq, s.run_id, s.held, s.pid, s.hostname, s.since, r.state FROM slots AS s "
        "LEFT JOIN runs AS r ON r.run_id = s.run_id WHERE s.resource = ? ORDER BY s.seq",
        (resource,),
    ).fetchall()
    live, dead = _split(fetched)
    db.executemany("DELETE FROM slots WHERE seq = ?", [(row.seq,) for row in dead])
    admission = decide(live, run_id, limit=limit, queue=queue)
    if admission is Admission.REFUSED:
        return admission
    held = int(admission is Admission.HELD)
    db.execute(
        "INSERT INTO slots (resource, run_id, held, pid, hostname, since) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (resource, run_id) DO UPDATE SET held = ?",
        (resource, run_id, held, pid, this_host(), now, held),
    )
    return admission


def release(db: sqlite3.Connection, resource: str, run_id: str) -> None:
    db.execute("DELETE FROM slots WHERE resource = ? AND run_id = ?", (resource, run_id))


def _split(fetched: Iterable[Sequence[object]]) -> tuple[list[SlotRow], list[SlotRow]]:
    """The rows of live holders and waiters, and the others (a run ended, a process gone)."""
    live, dead = [], []
    for seq, run_id, held, pid, hostname, since, state in fetched:
        row = SlotRow(int(seq), str(run_id), bool(held), int(pid), str(hostname), float(since))
        ended = state is not None and state not in ("running", "queued")
        (dead if ended or gone(row) else live).append(row)
    return live, dead
