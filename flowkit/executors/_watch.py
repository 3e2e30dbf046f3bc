"""The memory watcher: every attempt's process tree sampled on one timer, not a thread per task.

The fork server (and the Dask worker's zygote) adds each attempt process it
starts with the task's ``memory`` limit, if any, asks ``next_sample`` how long
its loop may sleep, and calls ``sample`` when that time comes. An attempt whose
tree holds more than its limit is returned to be killed, and fails with
``MemoryLimitExceeded`` (DESIGN.md §9). Trees without a limit are sampled too,
less often, so that an attempt killed by the kernel's out-of-memory killer can
be told apart from one killed by anything else: its last size is kept.
"""

from __future__ import annotations

import time

import attrs

from flowkit._definition.sizes import format_size
from flowkit._state import ErrorInfo
from flowkit.executors import _machine as machine

#: Seconds between two samples of a tree with a memory limit, and of one without.
LIMITED_INTERVAL = 0.1
UNLIMITED_INTERVAL = 0.5
#: An attempt killed by SIGKILL that flowkit did not send is "probably out of memory"
#: when, at its last sample, the machine had less than this share of its memory free,
#: or the attempt's tree alone held at least ``TREE_SHARE`` of it.
LOW_MEMORY_SHARE = 0.1
TREE_SHARE = 0.5


@attrs.define
class Watched:
    limit: int | None
    next_at: float
    rss: int = 0
    #: The machine's free share of memory at the last sample (1.0 before any).
    free_share: float = 1.0


class MemoryWatch:
    """The attempt trees being watched, by the pid of their attempt process."""

    def __init__(self) -> None:
        self._watched: dict[int, Watched] = {}

    def add(self, pid: int, limit: int | None) -> None:
        interval = LIMITED_INTERVAL if limit is not None else UNLIMITED_INTERVAL
        self._watched[pid] = Watched(limit=limit, next_at=time.monotonic() + interval)

    def remove(self, pid: int) -> Watched | None:
        return self._watched.pop(pid, None)

    def next_sample(self) -> float | None:
        """Seconds until a tree is due for a sample; None when nothing is watched."""
        if not self._watched:
            return None
        return max(0.0, min(w.next_at for w in self._watched.values()) - time.monotonic())

    def sample(self) -> list[tuple[int, int, int]]:
        """Sample the trees that are due: (pid, rss, limit) of each one over its limit.

        A tree over its limit is no longer watched: it is the caller's to kill.
        """
        now = time.monotonic()
        due = [pid for pid, watched in self._watched.items() if watched.next_at <= now]
        if not due:
            return []
        state = machine.memory()
        free_share = state.available / state.total if state and state.total else 1.0
        over = []
        for pid in due:
            watched = self._watched[pid]
            watched.rss = machine.tree_rss(pid)
            watched.free_share = free_share
            limited = watched.limit is not None
            watched.next_at = now + (LIMITED_INTERVAL if limited else UNLIMITED_INTERVAL)
            if watched.limit is not None and watched.rss > watched.limit:
                over.append((pid, watched.rss, watched.limit))
                del self._watched[pid]
        return over


def limit_exceeded(task_key: str, attempt: int, rss: int, limit: int) -> ErrorInfo:
    """The error of an attempt killed for holding more memory than its task declared."""
    message = (
        f"{format_size(rss)} > {format_size(limit)}: task {task_key!r} attempt {attempt} held "
        f"more memory than its memory={format_size(limit)!r} (its whole process tree, sampled "
        "every 0.1 s), so the tree was killed; raise the task's memory= or make it use less"
    )
    return ErrorInfo(type_name="MemoryLimitExceeded", message=message)


def out_of_memory_note(watched: Watched | None) -> str | None:
    """Words for an attempt killed by a SIGKILL flowkit did not send, when memory was short."""
    if watched is None or watched.rss == 0:
        return None
    state = machine.memory()
    total = state.total if state else 0
    tree_share = watched.rss / total if total else 0.0
    if watched.free_share >= LOW_MEMORY_SHARE and tree_share < TREE_SHARE:
        return None
    return (
        f"probably out of memory: the kernel's out-of-memory killer sends SIGKILL, and at its "
        f"last sample the attempt's tree held {format_size(watched.rss)} with "
        f"{watched.free_share:.0%} of the machine's memory free; give the task a memory= limit "
        "to fail it cleanly first"
    )
