"""Whether a run's orchestrator is gone: a dead pid on this host, a stale heartbeat elsewhere.

On the orchestrator's own host its pid is the truth: a process that is gone,
a zombie, or a newer process that reused the pid (it started after the last
heartbeat was written) means the run was interrupted. A live pid wins over an
old heartbeat there, because a task that runs long in the orchestrator's own
process (the inline executor) writes no heartbeat while it runs. From another
host the pid cannot be checked, so a heartbeat older than ``stale_after``
seconds decides.
"""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path

import attrs

from flowkit._state import RunState
from flowkit._store.base import RunRecord

#: How often a recorder writes a heartbeat while the run is active, in seconds.
HEARTBEAT_INTERVAL = 10.0
#: A heartbeat older than this marks a run from another host interrupted.
STALE_AFTER = 3 * HEARTBEAT_INTERVAL
#: /proc start times are rounded to the boot time's whole second: allow for it.
_START_TIME_SLACK = 5.0


def this_host() -> str:
    return socket.gethostname()


def orchestrator_gone(run: RunRecord, *, now: float, stale_after: float = STALE_AFTER) -> bool:
    """Whether ``run`` is recorded as running but nothing runs it any more."""
    if not run.state.is_live:
        return False
    if run.pid is not None and run.hostname == this_host():
        return not process_alive(run.pid, alive_since=run.heartbeat_at)
    last_sign = run.heartbeat_at if run.heartbeat_at is not None else run.started_at
    return now - last_sign > stale_after


def as_interrupted(run: RunRecord) -> RunRecord:
    """``run`` marked interrupted, ended at its last sign of life."""
    last_sign = max(run.started_at, run.heartbeat_at or run.started_at)
    return attrs.evolve(run, state=RunState.INTERRUPTED, ended_at=last_sign)


def process_alive(pid: int, *, alive_since: float | None = None) -> bool:
    """Whether ``pid`` is a live process, and the same one that was alive at ``alive_since``."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    if stat is None:  # no /proc (not Linux): the signal check is all there is
        return True
    state, started_at = stat
    if state in ("Z", "X"):
        return False
    if alive_since is None or started_at is None:
        return True
    # A process that started after the last heartbeat cannot have written it.
    return started_at <= alive_since + _START_TIME_SLACK


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """The process state letter and start time (epoch seconds) from /proc, if readable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = text.rsplit(")", 1)[-1].split()
    if not fields:
        return None
    state = fields[0]
    try:
        ticks = int(fields[19])  # field 22 of proc(5), starttime, in clock ticks since boot
    except (IndexError, ValueError):
        return state, None
    boot = _boot_time()
    if boot is None:
        return state, None
    return state, boot + ticks / os.sysconf("SC_CLK_TCK")


@functools.cache
def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
