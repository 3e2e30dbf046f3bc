"""The scheduler of one run: its tasks in named buckets, and the moves between them.

A pure state machine (Dagster's ActiveExecution): no executor, no listener, no
I/O. Every task is in one bucket: ``pending`` (waiting on dependencies, counted
in ``_remaining``), ``ready`` (queued), ``waiting_for_retry`` (with a deadline),
``in_flight`` (with a timeout deadline) or ``done``. The loop (``loop.py``)
takes ready tasks, hands in outcomes, and asks how long it may sleep; each state
change is reported through ``on_change`` as a copy of the task.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

import attrs
from loguru import logger

from flowkit._clock import Clock
from flowkit._engine.gate import Gate
from flowkit._engine.ready import ReadyTasks
from flowkit._errors import RunError
from flowkit._planning import rules
from flowkit._planning.plan import Plan
from flowkit._state import ErrorInfo, KeptTask, RunState, TaskRun, TaskState
from flowkit.executors import AttemptOutcome

#: Seconds between two looks at the memory a queued task waits for.
ADMISSION_POLL = 0.25


@attrs.define
class InFlight:
    """An attempt that was handed to the executor and has not been reported over."""

    attempt: int
    deadline: float | None  # monotonic; None when no timeout is enforced (or it passed)
    started: float  # the run clock's wall time when the task was marked running
    #: Set when the scheduler stops the attempt (a timeout or a cancel): the state and
    #: error it ends with, whatever it reports. In flight until its process tree is gone.
    stopping: TaskState | None = None
    stop_error: ErrorInfo | None = None


class Scheduler:
    """The buckets of one run of ``plan``; see the module docstring."""

    def __init__(
        self,
        plan: Plan,
        clock: Clock,
        *,
        kept: Mapping[str, KeptTask] | None = None,
        on_change: Callable[[TaskRun], None] | None = None,
        gate: Gate | None = None,
    ) -> None:
        self.plan = plan
        self.clock = clock
        self.on_change = on_change
        self.tasks = {name: TaskRun(name=name) for name in plan.order}
        self.values: dict[str, dict[str, Any]] = {}
        self.results: dict[str, Any] = {}
        self.cancelled = False
        self.in_flight: dict[str, InFlight] = {}
        self._remaining = {name: len(plan.upstream[name]) for name in plan.order}
        self._position = {name: index for index, name in enumerate(plan.order)}
        self._waiting_for_retry: dict[str, float] = {}
        self._done: set[str] = set()
        #: Pools, memory and CPUs a ready task may have to wait for (DESIGN.md §9).
        self.gate = gate if gate is not None else Gate(plan, machine_resources=False)
        self._ready = ReadyTasks(self._position, self.gate.group, fresh=self.gate.active)
        #: Why each group of ready tasks waited when ``note_waiting`` last looked.
        self._noted: dict[Hashable, str | None] = {}
        self._keep(kept or {})

    def _keep(self, kept: Mapping[str, KeptTask]) -> None:
        """Take final tasks of an earlier run as they were: a repair re-runs only the rest."""
        for name, kept_task in kept.items():
            if name not in self.tasks:
                continue  # the task is gone from the flow's current code
            if not kept_task.task.state.is_final:
                msg = (
                    f"flow {self.plan.name!r}: kept task {name!r} is "
                    f"{kept_task.task.state}, not final"
                )
                raise RunError(msg)
            self.tasks[name] = kept_task.task.copy()
            self._done.add(name)
            if kept_task.values:
                self.values[name] = dict(kept_task.values)
            if kept_task.task.state is TaskState.SUCCEEDED:
                self.results[name] = kept_task.result
        for name in self._done:
            for dependent in self.plan.downstream[name]:
                self._remaining[dependent] -= 1

    # -- what the loop asks --------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return len(self._done) == len(self.tasks)

    @property
    def has_ready(self) -> bool:
        """Whether a ready task may start now (nothing it declared makes it wait)."""
        if not self.gate.active:
            return bool(self._ready)
        return any(
            self.gate.blocker(name, self.in_flight) is None for _, name in self._ready.heads()
        )

    @property
    def stuck(self) -> bool:
        """Nothing to run, wait for or retry, yet some task is not final."""
        return not (self.finished or self.in_flight or self._waiting_for_retry or self._ready)

    def next_deadline(self) -> float | None:
        """The soonest timeout or retry deadline (monotonic), None when there is none."""
        deadlines = [flight.deadline for flight in self.in_flight.values() if flight.deadline]
        deadlines.extend(self._waiting_for_retry.values())
        if self.gate.polling and any(
            self.tasks[name].waiting_for and self.gate.polls(name)
            for _, name in self._ready.heads()
        ):  # memory (a shared pool's slot) frees up without an event: look again soon
            deadlines.append(self.clock.monotonic() + ADMISSION_POLL)
        return min(deadlines) if deadlines else None

    # -- moves -------------------------------------------------------------------------------
    def start(self) -> None:
        """Judge every task whose dependencies are all final (the roots, at first)."""
        for name in self.plan.order:
            if name not in self._done and not self._remaining[name]:
                self._judge(name)

    def take(self, timeout_enforced: bool) -> tuple[str, int, float | None] | None:
        """Mark the first ready task that may start running; its name, attempt and timeout.

        None when a shared pool turned every ready task away (``has_ready`` could not
        know: asking takes the slot).
        """
        # The first in plan order that nothing makes wait (a shared pool's slot, claimed).
        for group, head in self._ready.heads():
            if not self.gate.active or self.gate.blocker(head, self.in_flight, claim=True) is None:
                name = self._ready.pop(group)
                break
        else:
            return None  # the home's shared pools turned every ready task away
        task = self.tasks[name]
        task.waiting_for = None
        task.attempts += 1
        started = self.clock.time()
        timeout = self.plan.tasks[name].timeout if timeout_enforced else None
        deadline = self.clock.monotonic() + timeout if timeout is not None else None
        self.in_flight[name] = InFlight(attempt=task.attempts, deadline=deadline, started=started)
        if task.started_at is None:
            task.started_at = started
        self._change(task, TaskState.RUNNING)
        return name, task.attempts, timeout

    def note_waiting(self) -> None:
        """Say why each ready task that may not start waits (a change when the reason does)."""
        if not self.gate.active:
            return
        # One question per group; the tasks of a group whose answer did not change
        # already carry it, except those that became ready since.
        reasons = {
            group: self.gate.blocker(head, self.in_flight) for group, head in self._ready.heads()
        }
        changed = [
            group for group, reason in reasons.items() if self._noted.get(group, "") != reason
        ]
        self._noted = reasons
        names = {name for group in changed for name in self._ready.members(group)}
        names.update(name for group, name in self._ready.take_fresh() if group in reasons)
        for name in sorted(names, key=self._position.__getitem__):
            task = self.tasks[name]
            reason = reasons[self._ready.group_of(name)]
            if task.state is TaskState.QUEUED and reason != task.waiting_for:
                task.waiting_for = reason
                self._change(task, TaskState.QUEUED)

    def expire(self) -> list[str]:
        """Mark every attempt past its timeout as stopping; the names to stop."""
        now = self.clock.monotonic()
        expired = []
        for name, flight in self.in_flight.items():
            if flight.deadline is not None and now >= flight.deadline:
                timeout = self.plan.tasks[name].timeout
                flight.deadline = None
                flight.stopping = TaskState.TIMED_OUT
                flight.stop_error = ErrorInfo(
                    type_name="TimeoutError",
                    message=f"attempt {flight.attempt} timed out after {timeout:g}s; "
                    "its process tree was killed",
                )
                expired.append(name)
        return expired

    def release_retries(self) -> None:
        now = self.clock.monotonic()
        for name, deadline in list(self._waiting_for_retry.items()):
            if now >= deadline:
                del self._waiting_for_retry[name]
                self._queue(name)

    def complete(self, outcome: AttemptOutcome) -> None:
        """An attempt is over: succeed, retry or finish its task per its options."""
        flight = self.in_flight.get(outcome.task_key)
        if flight is None or flight.attempt != outcome.attempt:
            return  # a late report of an attempt already given up on
        del self.in_flight[outcome.task_key]
        self.gate.release(outcome.task_key)
        if flight.stopping is not None:  # stopped by the scheduler: it ends as it was told
            outcome = attrs.evolve(
                outcome, state=flight.stopping, error=flight.stop_error, values={}, result=None
            )
        task = self.tasks[outcome.task_key]
        # Before any state change, so that listeners see the attempt counted as it ends.
        task.compute_seconds += self.clock.time() - flight.started
        if outcome.state is TaskState.SUCCEEDED and self.plan.tasks[task.name].condition:
            outcome = self._check_condition(outcome)
        task.error = outcome.error
        task.log_path = outcome.log_path
        task.exit_code, task.signal = outcome.exit_code, outcome.signal
        if outcome.state is TaskState.SUCCEEDED:
            if outcome.values:
                self.values[task.name] = dict(outcome.values)
            self.results[task.name] = outcome.result
            self._finish(task.name, TaskState.SUCCEEDED)
            return
        retry = self.plan.tasks[task.name].retry
        timed_out = outcome.state is TaskState.TIMED_OUT
        logger.debug(
            "task {} attempt {} ended {}: {}",
            task.name,
            outcome.attempt,
            outcome.state.value,
            outcome.error.summary if outcome.error else "",
        )
        if retry.allows(task.attempts, timed_out=timed_out):
            delay = retry.delay_before(task.attempts)
            self._waiting_for_retry[task.name] = self.clock.monotonic() + delay
            self._change(task, TaskState.WAITING_FOR_RETRY)
            if delay <= 0:
                self.release_retries()
        else:
            self._finish(task.name, outcome.state)

    def stopped(self, outcome: AttemptOutcome) -> None:
        """A cancelled attempt's tree is gone: count its compute, keep how it ended."""
        flight = self.in_flight.get(outcome.task_key)
        if flight is None or flight.attempt != outcome.attempt:
            return
        del self.in_flight[outcome.task_key]
        self.gate.release(outcome.task_key)
        task = self.tasks[outcome.task_key]
        task.compute_seconds += self.clock.time() - flight.started
        task.exit_code, task.signal = outcome.exit_code, outcome.signal
        task.log_path = outcome.log_path or task.log_path

    def lose(self, error: ErrorInfo) -> None:
        """The executor was lost: every attempt in flight ends with ``error``."""
        for name in self.in_flight:
            self.tasks[name].error = error

    def cancel(self) -> None:
        """Mark every unfinished task cancelled; attempts still in flight are given up on."""
        self.cancelled = True
        now = self.clock.time()  # the attempts held their compute until they were stopped
        for name, flight in self.in_flight.items():
            self.tasks[name].compute_seconds += now - flight.started
        self.in_flight.clear()
        self.gate.release_all()
        self._ready.clear()
        self._noted.clear()
        self._waiting_for_retry.clear()
        for task in self.tasks.values():
            if not task.state.is_final:
                if task.started_at is not None:
                    task.ended_at = now
                self._done.add(task.name)
                self._change(task, TaskState.CANCELLED)

    # -- state changes -----------------------------------------------------------------------
    def _check_condition(self, outcome: AttemptOutcome) -> AttemptOutcome:
        """A condition task must return a bool; anything else fails the attempt."""
        if isinstance(outcome.result, bool):
            return outcome
        message = (
            f"flow {self.plan.name!r}, condition task {outcome.task_key!r} returned "
            f"{type(outcome.result).__name__} {outcome.result!r}; a condition returns True "
            "or False (e.g. `return rows > 0`)"
        )
        return attrs.evolve(
            outcome,
            state=TaskState.FAILED,
            error=ErrorInfo(type_name="TypeError", message=message),
            result=None,
        )

    def _queue(self, name: str) -> None:
        self._ready.push(name)
        self._change(self.tasks[name], TaskState.QUEUED)

    def _dependency_states(self, name: str) -> list[TaskState]:
        """The final states of ``name``'s dependencies, as ``name`` sees them.

        Across an outcome edge, a condition that came out the other way is
        ``excluded``: the branch not taken (DESIGN.md §2 then propagates it).
        """
        followed = self.plan.outcomes.get(name, {})
        states = []
        for dep in self.plan.upstream[name]:
            state = self.tasks[dep].state
            if dep in followed and state is TaskState.SUCCEEDED:
                state = (
                    TaskState.SUCCEEDED
                    if self.results.get(dep) is followed[dep]
                    else TaskState.EXCLUDED
                )
            states.append(state)
        return states

    def _judge(self, name: str) -> None:
        """Every dependency of ``name`` is final: queue it, or make it final per its run_if."""
        decision = rules.decide(self.plan.tasks[name].run_if, self._dependency_states(name))
        if decision is rules.Decision.RUN:
            self._queue(name)
        else:
            self._finish(name, decision.final_state)

    def _finish(self, name: str, state: TaskState) -> None:
        """Make ``name`` final, then judge every dependent whose dependencies are all final."""
        work = [(name, state)]
        while work:  # a worklist, not recursion: a 10,000-task chain may end at once
            current, final_state = work.pop()
            task = self.tasks[current]
            if task.started_at is not None:
                task.ended_at = self.clock.time()
            self._done.add(current)
            self._change(task, final_state)
            for dependent in self.plan.downstream[current]:
                self._remaining[dependent] -= 1
                if self._remaining[dependent] or dependent in self._done:
                    continue  # still waiting, or kept final from an earlier run (a repair)
                decision = rules.decide(
                    self.plan.tasks[dependent].run_if, self._dependency_states(dependent)
                )
                if decision is rules.Decision.RUN:
                    self._queue(dependent)
                else:
                    work.append((dependent, decision.final_state))

    def _change(self, task: TaskRun, state: TaskState) -> None:
        task.state = state
        if self.on_change is not None:
            self.on_change(task.copy())

    # -- views -------------------------------------------------------------------------------
    def run_state(self) -> RunState:
        states = {name: task.state for name, task in self.tasks.items()}
        return rules.run_state(states, self.plan.leaves, cancelled=self.cancelled)

    def stuck_message(self, run_id: str) -> str:
        """Every bucket's contents, for the loud error of a run that cannot go on."""
        pending = sorted(set(self.tasks) - self._done)
        return (
            f"flow {self.plan.name!r}, run {run_id}: the scheduler has nothing to wait for but "
            f"tasks are not final. pending={pending}, ready={self._ready.names()}, "
            f"waiting_for_retry={sorted(self._waiting_for_retry)}, "
            f"in_flight={sorted(self.in_flight)}, done={len(self._done)}"
        )
