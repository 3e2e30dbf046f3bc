"""The ready tasks of a run, grouped by what they may have to wait for.

Whether a ready task may start (``gate.Gate.blocker``) depends on its pool, the
CPUs and the memory it declared, and on what is in flight, not on the task
itself (but for a shared pool, where each task has its own place in the home's
queue, and is a group of its own: ``Gate.group``). So the ready tasks are kept
in groups of one declaration each, in plan order within a group, and the
scheduler asks about the first task of each group instead of every ready task:
a step costs the same with 10 ready tasks in a pool as with 10,000 (it was
proportional to them, so a pooled fan-out of thousands took quadratic time).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Hashable, Iterator, Mapping


class ReadyTasks:
    """Ready tasks in groups (``group_of``), each a heap by plan position."""

    def __init__(
        self,
        position: Mapping[str, int],
        group_of: Callable[[str], Hashable],
        *,
        fresh: bool = True,
    ) -> None:
        self._position = position
        self._group_of = group_of
        self._keep_fresh = fresh
        self._groups: dict[Hashable, list[tuple[int, str]]] = {}
        self._size = 0
        #: Tasks that became ready since ``take_fresh`` was last asked, with their group
        #: (kept only with ``fresh``).
        self._fresh: list[tuple[Hashable, str]] = []

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def push(self, name: str) -> None:
        group = self._group_of(name)
        heapq.heappush(self._groups.setdefault(group, []), (self._position[name], name))
        if self._keep_fresh:
            self._fresh.append((group, name))
        self._size += 1

    def heads(self) -> list[tuple[Hashable, str]]:
        """The first task of each group, the first in plan order first."""
        firsts = sorted((heap[0], group) for group, heap in self._groups.items() if heap)
        return [(group, name) for (_, name), group in firsts]

    def pop(self, group: Hashable) -> str:
        """Take the first task of ``group`` out."""
        heap = self._groups[group]
        _, name = heapq.heappop(heap)
        if not heap:
            del self._groups[group]
        self._size -= 1
        return name

    def group_of(self, name: str) -> Hashable:
        return self._group_of(name)

    def members(self, group: Hashable) -> Iterator[str]:
        return (name for _, name in self._groups.get(group, ()))

    def take_fresh(self) -> list[tuple[Hashable, str]]:
        """The tasks that became ready since the last call (still ready or not)."""
        fresh, self._fresh = self._fresh, []
        return fresh

    def names(self) -> list[str]:
        """Every ready task, in plan order."""
        return [name for _, name in sorted(e for heap in self._groups.values() for e in heap)]

    def clear(self) -> None:
        self._groups.clear()
        self._fresh.clear()
        self._size = 0
