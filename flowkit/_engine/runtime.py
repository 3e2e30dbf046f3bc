"""The scheduler: a ready set fed by the plan, dispatch, retries, timeouts, cancellation.

``ActiveRun`` keeps every task in one named bucket (Dagster's ActiveExecution):
``pending`` (waiting on dependencies), ``ready`` (queued), ``waiting_for_retry``
(with a deadline), ``in_flight`` (with a timeout deadline) and ``done``. The
loop never busy-waits: it blocks in the executor, or sleeps on the clock,
until the next completion, retry deadline or timeout deadline.
"""

from __future__ import annotations

import heapq
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
from loguru import logger

from flowkit._clock import Clock, SystemClock
from flowkit._definition.spec import FlowSpec
from flowkit._engine.listeners import EchoOutput, RunListener
from flowkit._errors import DefinitionError, ExecutorError, RunError
from flowkit._planning import rules
from flowkit._planning.plan import Plan, plan_of, resolve_params, task_arguments
from flowkit._state import ClusterReport, ErrorInfo, KeptTask, RunResult, TaskRun, TaskState
from flowkit.executors import AttemptOutcome, AttemptRequest, Executor, resolve

if TYPE_CHECKING:
    from flowkit._flow import Flow


@attrs.define
class _InFlight:
    attempt: int
    deadline: float | None  # monotonic; None when no timeout is enforced
    started: float  # the run clock's wall time when the task was marked running


def _sooner(first: float | None, second: float | None) -> float | None:
    """The smaller of two timeouts, None standing for no timeout."""
    if first is None:
        return second
    return first if second is None else min(first, second)


_default_stores: dict[str, Any] = {}


def _default_store() -> Any:
    """The default store of this process, opened once per location (``FLOWKIT_HOME``)."""
    from flowkit._store import default_path, open_store

    path = str(default_path())
    if path not in _default_stores:
        _default_stores[path] = open_store()
    return _default_stores[path]


def new_run_id() -> str:
    return uuid.uuid4().hex


class ActiveRun:
    """One run of a plan: the buckets, and the loop that empties them."""

    def __init__(
        self,
        plan: Plan,
        *,
        executor: Executor,
        params: Mapping[str, Any],
        max_parallel: int,
        clock: Clock,
        listeners: Sequence[RunListener] = (),
        run_id: str | None = None,
        kept: Mapping[str, KeptTask] | None = None,
        repair_count: int = 0,
    ) -> None:
        self.plan = plan
        self.repair_count = repair_count
        self.run_id = run_id or new_run_id()
        self.executor = executor
        self.params = dict(params)
        self.max_parallel = max_parallel  # and no more than the executor's capacity
        #: Why the run was cancelled when no one asked (the executor lost its workers).
        self.cancel_reason: str | None = None
        #: The executor's cluster (``cluster_report``), read once it has shut down.
        self.cluster: ClusterReport | None = None
        self.clock = clock
        self.listeners = list(listeners)
        self.tasks = {name: TaskRun(name=name) for name in plan.order}
        self.values: dict[str, dict[str, Any]] = {}
        self.results: dict[str, Any] = {}
        self.started_at = clock.time()
        self.cancelled = False
        self._provisioned = False
        # The buckets.
        self._remaining = {name: len(plan.upstream[name]) for name in plan.order}
        self._position = {name: index for index, name in enumerate(plan.order)}
        self._ready: list[tuple[int, str]] = []  # heap by plan position
        self._waiting_for_retry: dict[str, float] = {}
        self._in_flight: dict[str, _InFlight] = {}
        self._done: set[str] = set()
        # Valid once every dependency is final, which dispatch guarantees.
        self._valued_upstream_memo: dict[str, frozenset[str]] = {}
        self._parameter_names: dict[str, tuple[str, ...]] = {}
        ticking = [
            interval
            for listener in self.listeners
            if (interval := getattr(listener, "tick_interval", None))
        ]
        # Ticks keep real time (a heartbeat says "alive now"), whatever clock the run uses.
        self._tick_interval = min(ticking) if ticking else None
        self._next_tick = time.monotonic() + self._tick_interval if ticking else None
        self._keep(kept or {})

    def _keep(self, kept: Mapping[str, KeptTask]) -> None:
        """Take final tasks of an earlier run as they were: a repair re-runs only the rest."""
        for name, kept_task in kept.items():
            if name not in self.tasks:
                continue  # the task is gone from the flow's current code
            if not kept_task.task.state.is_final:
                msg = f"flow {self.name!r}: kept task {name!r} is {kept_task.task.state}, not final"
                raise RunError(msg)
            self.tasks[name] = attrs.evolve(kept_task.task)
            self._done.add(name)
            if kept_task.values:
                self.values[name] = dict(kept_task.values)
            if kept_task.task.state is TaskState.SUCCEEDED:
                self.results[name] = kept_task.result
        for name in self._done:
            for dependent in self.plan.downstream[name]:
                self._remaining[dependent] -= 1

    # -- the loop ------------------------------------------------------------------------
    def execute(self) -> RunResult:
        """Run every task to a final state and return the result."""
        self._warn_unenforced_timeouts()
        # Before the run is recorded: an executor that cannot start (a scheduler out of
        # reach, a function that cannot be shipped) is an error before any task runs.
        try:
            self.executor.start(
                self.plan,
                self.clock,
                run_id=self.run_id,
                repair_count=self.repair_count,
                on_output=self._output if self.listeners else None,
            )
        except BaseException:
            self.executor.shutdown()
            raise
        capacity = self.executor.capacity
        if capacity:
            self.max_parallel = min(self.max_parallel, capacity)
        try:  # a run its store cannot record does not start: nothing may outlive it
            for listener in self.listeners:
                listener.run_started(self)
        except BaseException:
            self.executor.shutdown()
            raise
        try:
            for name in self.plan.order:
                if name not in self._done and not self._remaining[name]:
                    self._judge(name)
            while len(self._done) < len(self.tasks):
                self._dispatch()
                if not (self._in_flight or self._waiting_for_retry or self._ready):
                    raise RunError(self._stuck_message())
                self._wait_for_events()
        except KeyboardInterrupt:
            logger.warning("run {} of flow {!r} interrupted: cancelling", self.run_id, self.name)
            try:
                self._cancel(stop_running=True)
            except KeyboardInterrupt:  # a second Ctrl-C: no more grace, shutdown kills all
                logger.warning("interrupted again: killing every running attempt now")
                self._cancel(stop_running=False)
        except ExecutorError as error:  # the executor lost its workers: no task can go on
            logger.error("run {} of flow {!r}: {}; cancelling", self.run_id, self.name, error)
            self.cancel_reason = str(error)
            lost = ErrorInfo(type_name="ExecutorError", message=str(error))
            for name in self._in_flight:
                self.tasks[name].error = lost
            self._cancel(stop_running=True)
        finally:
            self.executor.shutdown()
        self.cluster = getattr(self.executor, "cluster_report", None)
        result = self.result()
        for listener in self.listeners:
            listener.run_finished(self, result)
        return result

    @property
    def name(self) -> str:
        return self.plan.name

    def _dispatch(self) -> None:
        if self._ready and not self._provisioned:
            # An executor with compute to set up (an ephemeral cluster) does it now, when
            # the first task is ready, and not in an attempt's time.
            provision = getattr(self.executor, "provision", None)
            if provision is not None:
                provision()
            self._provisioned = True
        while self._ready and len(self._in_flight) < self.max_parallel:
            _, name = heapq.heappop(self._ready)
            spec = self.plan.tasks[name]
            task = self.tasks[name]
            task.attempts += 1
            now = self.clock.monotonic()
            started = self.clock.time()
            timeout = spec.timeout if self.executor.can_preempt else None
            self._in_flight[name] = _InFlight(
                attempt=task.attempts,
                deadline=now + timeout if timeout is not None else None,
                started=started,
            )
            if task.started_at is None:
                task.started_at = started
            self._change(task, TaskState.RUNNING)
            self._flush()  # every change is on record before the attempt starts
            self.executor.submit(self._request(name, task.attempts, timeout))

    def _request(self, name: str, attempt: int, timeout: float | None) -> AttemptRequest:
        upstream_values = {key: self.values[key] for key in self._valued_upstream(name)}
        return AttemptRequest(
            run_id=self.run_id,
            flow_name=self.name,
            task_key=name,
            attempt=attempt,
            fn=self.plan.tasks[name].fn,
            params=self.params,
            upstream_values=upstream_values,
            upstream_edges=self.plan.upstream,
            timeout=timeout,
            arguments=self._arguments(name),
            repair_count=self.repair_count,
            run_started_at=self.started_at,
        )

    def _arguments(self, name: str) -> dict[str, Any]:
        """Each parameter of the task's function: a dependency's return value, or a param.

        A dependency that did not succeed (an ``all_done`` task's failed one) gives None.
        """
        arguments: dict[str, Any] = {}
        dependencies = self.plan.upstream[name]
        for parameter in self._parameters(name):
            if parameter in dependencies:
                arguments[parameter] = self.results.get(parameter)
            elif parameter in self.params:
                arguments[parameter] = self.params[parameter]
        return arguments

    def _parameters(self, name: str) -> tuple[str, ...]:
        parameters = self._parameter_names.get(name)
        if parameters is None:
            parameters = self._parameter_names[name] = task_arguments(self.plan.tasks[name])
        return parameters

    def _valued_upstream(self, name: str) -> frozenset[str]:
        """The upstream tasks (direct or transitive) of ``name`` that set values.

        Built from the dependencies' own sets, each computed once: a dispatch costs
        the size of these sets, not a walk over every ancestor (a long chain stays linear).
        """
        memo = self._valued_upstream_memo
        stack = [name]
        while stack:
            current = stack[-1]
            missing = [dep for dep in self.plan.upstream[current] if dep not in memo]
            if missing:
                stack.extend(missing)
                continue
            stack.pop()
            if current in memo:
                continue
            found: set[str] = set()
            for dep in self.plan.upstream[current]:
                found |= memo[dep]
                if dep in self.values:
                    found.add(dep)
            memo[current] = frozenset(found)
        return memo[name]

    def _flush(self) -> None:
        for listener in self.listeners:
            flush = getattr(listener, "flush", None)
            if flush is not None:
                flush(self)

    def _wait_for_events(self) -> None:
        self._flush()
        deadlines = [flight.deadline for flight in self._in_flight.values() if flight.deadline]
        deadlines.extend(self._waiting_for_retry.values())
        now = self.clock.monotonic()
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        if isinstance(self.clock, SystemClock):  # a fake clock's waits take no real time
            timeout = _sooner(timeout, self._until_tick())
        if self._in_flight:
            for outcome in self.executor.wait(timeout):
                self._complete(outcome)
        elif timeout is not None and not self._ready:
            self.clock.sleep(timeout)
        self._expire_timeouts()
        self._release_retries()
        self._tick()

    def _until_tick(self) -> float | None:
        if self._next_tick is None:
            return None
        return max(0.0, self._next_tick - time.monotonic())

    def _tick(self) -> None:
        if self._next_tick is None or time.monotonic() < self._next_tick:
            return
        for listener in self.listeners:
            if getattr(listener, "tick_interval", None):
                listener.tick(self)
        assert self._tick_interval is not None
        self._next_tick = time.monotonic() + self._tick_interval

    def _expire_timeouts(self) -> None:
        now = self.clock.monotonic()
        for name, flight in list(self._in_flight.items()):
            if flight.deadline is not None and now >= flight.deadline:
                self.executor.kill(name)
                timeout = self.plan.tasks[name].timeout
                error = ErrorInfo(
                    type_name="TimeoutError",
                    message=f"attempt {flight.attempt} timed out after {timeout:g}s; "
                    "its process tree was killed",
                )
                self._complete(
                    AttemptOutcome(
                        task_key=name,
                        attempt=flight.attempt,
                        state=TaskState.TIMED_OUT,
                        started_at=self.clock.time(),
                        ended_at=self.clock.time(),
                        error=error,
                    )
                )

    def _release_retries(self) -> None:
        now = self.clock.monotonic()
        for name, deadline in list(self._waiting_for_retry.items()):
            if now >= deadline:
                del self._waiting_for_retry[name]
                self._queue(name)

    # -- state changes -----------------------------------------------------------------
    def _complete(self, outcome: AttemptOutcome) -> None:
        flight = self._in_flight.get(outcome.task_key)
        if flight is None or flight.attempt != outcome.attempt:
            return  # a late report of an attempt already killed: its outcome was recorded
        del self._in_flight[outcome.task_key]
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
                self._release_retries()
        else:
            self._finish(task.name, outcome.state)

    def _check_condition(self, outcome: AttemptOutcome) -> AttemptOutcome:
        """A condition task must return a bool; anything else fails the attempt."""
        if isinstance(outcome.result, bool):
            return outcome
        message = (
            f"flow {self.name!r}, condition task {outcome.task_key!r} returned "
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
        heapq.heappush(self._ready, (self._position[name], name))
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
        if self.listeners:
            snapshot = attrs.evolve(task)
            for listener in self.listeners:
                listener.task_changed(self, snapshot)

    def _output(self, task_key: str, attempt: int, line: str) -> None:
        for listener in self.listeners:
            listener.task_output(self, task_key, attempt, line)

    def _cancel(self, *, stop_running: bool) -> None:
        """Mark every unfinished task cancelled; stop running attempts gracefully if asked."""
        self.cancelled = True
        if stop_running:
            for name in list(self._in_flight):
                try:
                    self.executor.kill(name)
                except ExecutorError as error:  # nothing left to stop it with
                    logger.warning("could not stop task {}: {}", name, error)
        now = self.clock.time()  # the attempts held their compute until they were stopped
        for name, flight in self._in_flight.items():
            self.tasks[name].compute_seconds += now - flight.started
        self._in_flight.clear()
        self._ready.clear()
        self._waiting_for_retry.clear()
        for task in self.tasks.values():
            if not task.state.is_final:
                if task.started_at is not None:
                    task.ended_at = self.clock.time()
                self._done.add(task.name)
                self._change(task, TaskState.CANCELLED)

    # -- views -------------------------------------------------------------------------
    def result(self) -> RunResult:
        states = {name: task.state for name, task in self.tasks.items()}
        return RunResult(
            run_id=self.run_id,
            flow_name=self.name,
            state=rules.run_state(states, self.plan.leaves, cancelled=self.cancelled),
            tasks=dict(self.tasks),
            values={name: dict(values) for name, values in self.values.items()},
            params=dict(self.params),
            started_at=self.started_at,
            ended_at=self.clock.time(),
            results={name: value for name, value in self.results.items() if value is not None},
            cancel_reason=self.cancel_reason,
            cluster=self.cluster,
        )

    def _stuck_message(self) -> str:
        pending = sorted(set(self.tasks) - self._done)
        return (
            f"flow {self.name!r}, run {self.run_id}: the scheduler has nothing to wait for but "
            f"tasks are not final. pending={pending}, ready={sorted(n for _, n in self._ready)}, "
            f"waiting_for_retry={sorted(self._waiting_for_retry)}, "
            f"in_flight={sorted(self._in_flight)}, done={len(self._done)}"
        )

    def _warn_unenforced_timeouts(self) -> None:
        if self.executor.can_preempt:
            return
        timed = [spec.name for spec in self.plan.tasks.values() if spec.timeout is not None]
        if timed:
            msg = (
                f"flow {self.name!r}: the {self.executor.name} executor cannot pre-empt a running "
                f"function, so timeout is not enforced for: {', '.join(timed)}. "
                "Use executor='local' to enforce it"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=4)


def run(
    flow: Flow | FlowSpec | Plan,
    *,
    params: Mapping[str, Any] | None = None,
    executor: Any = None,
    max_parallel: int | None = None,
    clock: Clock | None = None,
    listeners: Sequence[RunListener] = (),
    run_id: str | None = None,
    params_from_text: bool = False,
    echo_output: bool = True,
    kept: Mapping[str, KeptTask] | None = None,
    repair_count: int = 0,
    store: Any = None,
) -> RunResult:
    """Validate and run a flow to its end.

    Args:
        flow: a ``Flow``, its ``FlowSpec``, or an already built ``Plan``.
        params: overrides of the flow's declared parameters.
        executor: ``"inline"``, ``"local"``, ``"dask"``, an executor object, or None
            for the default.
        max_parallel: how many tasks at once; the flow's own setting when None.
        clock: where time comes from (tests pass ``FakeClock``).
        listeners: told of every state change.
        run_id: the run's id; a new one when None.
        params_from_text: convert text values to their defaults' types (the CLI's ``-p``).
        echo_output: print what isolated attempts print, as ``[task] line``, when no
            listener is given (the command line shows output itself).
        kept: final tasks of an earlier run to keep as they were, with their values
            and return values (a repair); the other tasks run.
        repair_count: which repair of ``run_id`` this is (0: the first run).
        store: where the run is recorded as it happens: a ``flowkit._store.RunStore``;
            None for the default store (``$FLOWKIT_HOME/flowkit.db``, ``FLOWKIT_HOME``
            defaulting to ``.flowkit``), unless a listener already is a ``StoreRecorder``;
            False to record nothing.

    Raises:
        DefinitionError: the flow, its parameters or the executor are invalid;
            nothing has run.
    """
    plan = plan_of(flow)
    resolved_params = resolve_params(plan.flow, params, from_text=params_from_text)
    if max_parallel is None:
        max_parallel = plan.flow.max_parallel
    elif not isinstance(max_parallel, int) or isinstance(max_parallel, bool) or max_parallel < 1:
        msg = (
            f"flow {plan.name!r}: max_parallel={max_parallel!r} is invalid; "
            "allowed: an integer >= 1"
        )
        raise DefinitionError(msg)
    listeners = list(listeners) or ([EchoOutput()] if echo_output else [])
    if store is not False:
        from flowkit._store import StoreRecorder

        # A caller that brings its own recorder (a repair, a test) has chosen the store.
        if store is not None or not any(isinstance(item, StoreRecorder) for item in listeners):
            listeners.insert(0, StoreRecorder(store if store is not None else _default_store()))
    active = ActiveRun(
        plan,
        executor=resolve(executor, flow_name=plan.name),
        params=resolved_params,
        max_parallel=max_parallel,
        clock=clock or SystemClock(),
        listeners=listeners,
        run_id=run_id,
        kept=kept,
        repair_count=repair_count,
    )
    return active.execute()
