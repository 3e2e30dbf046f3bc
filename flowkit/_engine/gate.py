"""What a ready task waits for besides its dependencies: a pool's slot, memory, CPUs.

The scheduler asks ``Gate.blocker`` before it starts a ready task; a task that
must wait stays ``queued`` with the reason in words (shown by the live display
and ``flowkit show``). Pools cap their tasks in flight across the run (DESIGN.md
§9). Memory and CPUs are admitted against what this machine really has
(``executors._machine``: cgroup-aware), when the run's attempts run on it: a
task declaring ``memory=`` starts only if that much is free beyond what the
tasks in flight declared (held for them whether or not they use it yet), and a
task declaring ``cpus=`` only if the CPUs declared in flight leave room for it.
On Dask the cluster's worker resources do that instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from typing import Protocol

from flowkit._clock import Clock, SystemClock
from flowkit._definition.sizes import format_size
from flowkit._errors import RunError
from flowkit._planning.plan import Plan
from flowkit.executors import _machine as machine

#: Seconds a task the home's shared pool turned away waits before it asks again.
SHARED_POLL = 0.25


class PoolClaims(Protocol):
    """Slots of the home's shared pools, taken and given back by a run's tasks."""

    def acquire(self, pool: str, task_key: str, size: int) -> bool: ...

    def release(self, pool: str, task_key: str) -> None: ...


class Gate:
    """Pools, and, with ``machine_resources``, this machine's memory and CPUs."""

    def __init__(
        self,
        plan: Plan,
        *,
        machine_resources: bool = True,
        memory: Callable[[], machine.Memory | None] | None = None,
        cpus: int | None = None,
        claims: PoolClaims | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.plan = plan
        self.pools = dict(plan.flow.pools)
        self.pool_of = {name: spec.pool for name, spec in plan.tasks.items() if spec.pool}
        self.memory_of: dict[str, int] = {}
        self.cpus_of: dict[str, float] = {}
        if machine_resources:
            self.memory_of = {n: s.memory for n, s in plan.tasks.items() if s.memory is not None}
            self.cpus_of = {n: s.cpus for n, s in plan.tasks.items() if s.cpus is not None}
        self._read_memory = memory
        self.cpus = cpus if cpus is not None else (machine.cpus() if self.cpus_of else 1)
        #: The home's slots of shared pools; without a store, a shared pool is the run's.
        self.claims = claims
        self.shared = set(plan.flow.shared_pools) if claims is not None else set()
        self.clock = clock if clock is not None else SystemClock()
        self._held: set[str] = set()
        self._turned_away: dict[str, float] = {}
        self.active = bool(self.pool_of or self.memory_of or self.cpus_of)
        #: Whether a task may wait for what changes without an event (memory, a shared pool).
        self.polling = bool(self.memory_of or self.shared)

    def group(self, name: str) -> Hashable:
        """What ``name`` may wait for; tasks of one group wait for the same (``ready``).

        A task of a shared pool is a group of its own: its place in the home's queue
        for the pool (``claims``) is its own, and must be asked about until it starts.
        """
        pool = self.pool_of.get(name)
        alone = name if pool in self.shared else None
        return (pool, self.cpus_of.get(name), self.memory_of.get(name), alone)

    def check(self) -> None:
        """Refuse, before anything runs, a task that could never fit this machine."""
        state = self._memory() if self.memory_of else None
        problems = []
        for name, needed in self.memory_of.items():
            if state is not None and needed > state.total:
                problems.append(
                    f"task {name!r}: memory={format_size(needed)!r} is more than this machine "
                    f"has ({format_size(state.total)})"
                )
        for name, wanted in self.cpus_of.items():
            if wanted > self.cpus:
                problems.append(
                    f"task {name!r}: cpus={wanted:g} is more than this machine has ({self.cpus})"
                )
        if problems:
            msg = (
                f"flow {self.plan.name!r} cannot run here: {'; '.join(problems)}. Lower the "
                "task's declaration, or run it on a machine or Dask cluster that has it"
            )
            raise RunError(msg)

    def blocker(self, name: str, in_flight: Collection[str], *, claim: bool = False) -> str | None:
        """Why ``name`` may not start beside ``in_flight`` now; None when it may.

        With ``claim``, a task of a shared pool takes its slot in the home (or its
        place in the pool's queue): the caller starts it when the answer is None.
        Without, a task the home's pool turned away less than ``SHARED_POLL``
        seconds ago still waits, and any other may (its claim will tell).
        """
        pool = self.pool_of.get(name)
        if pool is not None:
            used = sum(1 for other in in_flight if self.pool_of.get(other) == pool)
            if used >= self.pools[pool]:
                return f"pool {pool!r} is full ({used} of {self.pools[pool]} running)"
        wanted = self.cpus_of.get(name)
        if wanted is not None:
            held = sum(self.cpus_of.get(other, 0.0) for other in in_flight)
            if held + wanted > self.cpus:
                free = max(0.0, self.cpus - held)
                return f"waiting for {wanted:g} CPUs ({free:g} of {self.cpus} free)"
        needed = self.memory_of.get(name)
        if needed is not None:
            state = self._memory()
            if state is not None:
                held = sum(self.memory_of.get(other, 0) for other in in_flight)
                if needed > state.available - held:
                    # Not how much is free: that moves all the time, and the reason would too.
                    return f"waiting for {format_size(needed)} of memory to be free"
        if pool in self.shared and name not in self._held:
            return self._shared_slot(name, pool, claim=claim)
        return None

    def _shared_slot(self, name: str, pool: str, *, claim: bool) -> str | None:
        assert self.claims is not None
        full = f"pool {pool!r} is full (shared by the home's runs)"
        if not claim:
            asked = self._turned_away.get(name)
            recently = asked is not None and self.clock.monotonic() - asked < SHARED_POLL
            return full if recently else None
        if self.claims.acquire(pool, name, self.pools[pool]):
            self._held.add(name)
            self._turned_away.pop(name, None)
            return None
        self._turned_away[name] = self.clock.monotonic()
        return full

    def release(self, name: str) -> None:
        """``name`` left flight: its slot in the home's pool is free for the next task."""
        if name in self._held:
            assert self.claims is not None
            self._held.discard(name)
            self.claims.release(self.pool_of[name], name)

    def release_all(self) -> None:
        """The run is over: every slot it holds, and every place it has in a queue, goes."""
        if self.claims is None:
            return
        for name in [*self._held, *self._turned_away]:
            self.claims.release(self.pool_of[name], name)
        self._held.clear()
        self._turned_away.clear()

    def _memory(self) -> machine.Memory | None:
        return self._read_memory() if self._read_memory is not None else machine.memory()

    def polls(self, name: str) -> bool:
        """Whether ``name`` waits on what changes without an event (memory, a shared pool)."""
        return name in self.memory_of or self.pool_of.get(name) in self.shared
