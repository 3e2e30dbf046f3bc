"""The loop of one run: the scheduler's moves driven by an executor, told to listeners.

``ActiveRun`` starts the executor, takes ready tasks from the ``Scheduler`` and
submits their attempts, hands outcomes back, stops attempts past their timeout,
and tells its listeners, as immutable events (``_events``). It never busy-waits:
it blocks in the executor, or sleeps on the clock, until the next completion,
retry deadline, timeout deadline or listener tick.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from loguru import logger

from flowkit import _channel
from flowkit._clock import Clock, SystemClock
from flowkit._engine.attempts import AttemptBuilder
from flowkit._engine.deadlines import RunDeadlines, sooner
from flowkit._engine.gate import Gate, PoolClaims
from flowkit._engine.listeners import Ticks
from flowkit._engine.scheduler import Scheduler
from flowkit._errors import ExecutorError, RunError, RunInterrupted
from flowkit._events import (
    RunFinished,
    RunListener,
    RunStarted,
    StepEnded,
    TaskChanged,
    TaskOutput,
)
from flowkit._planning.plan import Plan
from flowkit._planning.shape import flow_shape
from flowkit._secrets import Redactor
from flowkit._state import (
    ClusterReport,
    ErrorInfo,
    KeptTask,
    RunResult,
    RunState,
    RunTrigger,
    TaskRun,
    TaskState,
)
from flowkit.executors import AttemptOutcome, Executor
from flowkit.executors._base import failed_outcome

#: How long a cancel waits for the attempts it stopped before leaving them to shutdown.
_STOP_PATIENCE = 120.0


def new_run_id() -> str:
    return uuid.uuid4().hex


class ActiveRun:
    """One run of a plan on an executor, told to its listeners as events (``_events``)."""

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
        trigger: RunTrigger | None = None,
        claims: PoolClaims | None = None,
    ) -> None:
        self.plan = plan
        self.trigger = trigger or RunTrigger()
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
        self.started_at = clock.time()
        # Memory and CPUs are this machine's to admit when the attempts run on it.
        gate = Gate(
            plan,
            machine_resources=executor.runs_attempts_here,
            claims=claims,
            clock=clock,
        )
        self.scheduler = Scheduler(
            plan, clock, kept=kept, on_change=self._changed if self.listeners else None, gate=gate
        )
        self._attempts = AttemptBuilder(
            plan,
            run_id=self.run_id,
            params=self.params,
            repair_count=repair_count,
            run_started_at=self.started_at,
            trigger=self.trigger,
        )
        #: The flow's timeout and health rule; ``timed_out`` once the timeout cancelled the run.
        self._deadlines = RunDeadlines(plan, clock, run_id=self.run_id, started_at=self.started_at)
        self.timed_out = False
        self._provisioned = False
        self._step_ended = StepEnded(run_id=self.run_id)  # the same for every step
        #: Every secret value the run can read: none of them reaches a listener.
        self._redactor = Redactor.for_run()
        self._ticks = Ticks(self.listeners, self.run_id)

    # -- what the run is now ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def tasks(self) -> dict[str, TaskRun]:
        return self.scheduler.tasks

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        return self.scheduler.values

    @property
    def results(self) -> dict[str, Any]:
        return self.scheduler.results

    @property
    def target(self) -> str | None:
        """Where the flow can be loaded from again: ``run`` looks for it once, before."""
        return self.plan.flow.origin

    @property
    def executor_name(self) -> str:
        """The executor's name, or its class's for one without a name."""
        name = getattr(self.executor, "name", None)
        return name if isinstance(name, str) else type(self.executor).__name__

    # -- the loop ----------------------------------------------------------------------------
    def execute(self) -> RunResult:
        """Run every task to a final state and return the result.

        Raises:
            RunInterrupted: Ctrl-C, once the run was cancelled and recorded.
        """
        self._warn_unenforced_timeouts()
        self.scheduler.gate.check()  # a task too big for this machine: nothing runs
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
            if self.listeners:
                started = self._started_event()
                for listener in self.listeners:
                    listener.run_started(started)
        except BaseException:
            self.executor.shutdown()
            raise
        interrupted = False
        try:
            self._drive()
        except KeyboardInterrupt:
            logger.warning("run {} of flow {!r} interrupted: cancelling", self.run_id, self.name)
            interrupted = True
            try:
                self._cancel(stop_running=True)
            except KeyboardInterrupt:  # a second Ctrl-C: no more grace, shutdown kills all
                logger.warning("interrupted again: killing every running attempt now")
                self._cancel(stop_running=False)
        except ExecutorError as error:  # the executor lost its workers: no task can go on
            logger.error("run {} of flow {!r}: {}; cancelling", self.run_id, self.name, error)
            self.cancel_reason = str(error)
            self.scheduler.lose(ErrorInfo(type_name="ExecutorError", message=str(error)))
            self._cancel(stop_running=True)
        finally:
            self.executor.shutdown()
            self.scheduler.gate.release_all()
            _channel.remove_run(self.run_id)  # what killed attempts left behind
        self.cluster = getattr(self.executor, "cluster_report", None)
        result = self.result()
        finished = RunFinished(run_id=self.run_id, result=result)
        for listener in self.listeners:
            listener.run_finished(finished)
        if interrupted:  # cancelled and recorded: now the caller stops, as Ctrl-C asked
            raise RunInterrupted(result)
        return result

    def _drive(self) -> None:
        """The scheduler's moves until every task is final, or the run's timeout."""
        self.scheduler.start()
        while not self.scheduler.finished:
            if self._deadlines.timed_out():
                self._time_out()
                return
            self._dispatch()
            if self.scheduler.stuck:
                raise RunError(self.scheduler.stuck_message(self.run_id))
            self._wait_for_events()

    def _time_out(self) -> None:
        """The run passed its flow's ``timeout``: stop every attempt, cancel what is left."""
        self.timed_out = True
        self.cancel_reason = f"the run passed its flow's timeout of {self._deadlines.timeout:g}s"
        logger.warning(
            "run {} of flow {!r}: {}; cancelling", self.run_id, self.name, self.cancel_reason
        )
        self._cancel(stop_running=True)

    def _dispatch(self) -> None:
        scheduler = self.scheduler
        if scheduler.has_ready and not self._provisioned:
            # An executor with compute to set up (an ephemeral cluster) does it now, when
            # the first task is ready, and not in an attempt's time.
            provision = getattr(self.executor, "provision", None)
            if provision is not None:
                provision()
            self._provisioned = True
        while scheduler.has_ready and len(scheduler.in_flight) < self.max_parallel:
            taken = scheduler.take(timeout_enforced=self.executor.can_preempt)
            if taken is None:
                break
            name, attempt, timeout = taken
            self._flush()  # every change is on record before the attempt starts
            request = self._attempts.request(
                name, attempt, timeout, values=scheduler.values, results=scheduler.results
            )
            self.executor.submit(request)
        scheduler.note_waiting()

    def _flush(self) -> None:
        for listener in self.listeners:
            flush = getattr(listener, "flush", None)
            if flush is not None:
                flush(self._step_ended)

    def _wait_for_events(self) -> None:
        self._flush()
        deadline = sooner(self.scheduler.next_deadline(), self._deadlines.next())
        timeout = max(0.0, deadline - self.clock.monotonic()) if deadline is not None else None
        if isinstance(self.clock, SystemClock):  # a fake clock's waits take no real time
            timeout = sooner(timeout, self._ticks.until_next())
        if self.scheduler.in_flight:
            for outcome in self.executor.wait(timeout):
                self.scheduler.complete(outcome)
        elif timeout is not None and not self.scheduler.has_ready:
            self.clock.sleep(timeout)
        for name in self.scheduler.expire():
            if (outcome := self._stop(name)) is not None:
                self.scheduler.complete(outcome)
        self.scheduler.release_retries()
        if (too_long := self._deadlines.too_long()) is not None:
            for listener in self.listeners:
                listener.run_too_long(too_long)
        self._ticks.tick()

    def _stop(self, name: str) -> AttemptOutcome | None:
        """Stop an attempt (``kill`` returns at once); it ends when the executor reports it.

        An executor whose ``kill`` returns a false value (an older one, which stops the
        attempt before it returns) will not report it: its outcome is returned, now.
        """
        if self.executor.kill(name):
            return None
        stopped = ErrorInfo(type_name="Stopped", message=f"task {name!r} was stopped")
        return failed_outcome(name, self.scheduler.in_flight[name].attempt, stopped)

    def _started_event(self) -> RunStarted:
        return RunStarted(
            run_id=self.run_id,
            flow_name=self.name,
            params=dict(self.params),
            started_at=self.started_at,
            tasks={name: task.copy() for name, task in self.tasks.items()},
            executor_name=self.executor_name,
            max_parallel=self.max_parallel,
            repair_count=self.repair_count,
            target=self.target,
            trigger=self.trigger,
            shape=flow_shape(self.plan),
        )

    def _changed(self, task: TaskRun) -> None:
        """A task changed (``task`` is a copy): one event, with its values on success."""
        succeeded = task.state is TaskState.SUCCEEDED
        redact = self._redactor
        values = self.scheduler.values.get(task.name) if succeeded else None
        event = TaskChanged(
            run_id=self.run_id,
            task=attrs.evolve(task, error=redact.error(task.error)) if redact.active else task,
            at=self.clock.time(),
            values=redact.data(values) if values is not None else None,
            result=self.scheduler.results.get(task.name) if succeeded else None,
        )
        for listener in self.listeners:
            listener.task_changed(event)

    def _output(self, task_key: str, attempt: int, line: str) -> None:
        line = self._redactor.text(line)
        event = TaskOutput(run_id=self.run_id, task_key=task_key, attempt=attempt, line=line)
        for listener in self.listeners:
            listener.task_output(event)

    def _cancel(self, *, stop_running: bool) -> None:
        """Mark every unfinished task cancelled; stop running attempts gracefully if asked.

        Every attempt is signalled at once and the executor escalates each to SIGKILL
        after its grace period: one grace period in total, however many attempts run.
        """
        if stop_running:
            self._stop_all()
        self.scheduler.cancel()

    def _stop_all(self) -> None:
        """Stop every attempt in flight and wait until each one's process tree is gone."""
        scheduler = self.scheduler
        try:
            for name in list(scheduler.in_flight):
                if (outcome := self._stop(name)) is not None:
                    scheduler.stopped(outcome)
            give_up = time.monotonic() + _STOP_PATIENCE
            while scheduler.in_flight and time.monotonic() < give_up:
                for outcome in self.executor.wait(1.0):
                    scheduler.stopped(outcome)
        except ExecutorError as error:  # nothing left to stop them with: shutdown kills all
            logger.warning("could not stop the running tasks: {}", error)

    # -- views -------------------------------------------------------------------------------
    def result(self) -> RunResult:
        scheduler = self.scheduler
        redact = self._redactor
        tasks = scheduler.tasks
        if redact.active:
            tasks = {
                name: attrs.evolve(task, error=redact.error(task.error))
                for name, task in tasks.items()
            }
        return RunResult(
            run_id=self.run_id,
            flow_name=self.name,
            state=RunState.TIMED_OUT if self.timed_out else scheduler.run_state(),
            tasks=dict(tasks),
            values={name: redact.data(dict(values)) for name, values in scheduler.values.items()},
            params=dict(self.params),
            started_at=self.started_at,
            ended_at=self.clock.time(),
            results={name: value for name, value in scheduler.results.items() if value is not None},
            cancel_reason=self.cancel_reason,
            cluster=self.cluster,
            trigger=self.trigger,
        )

    def _warn_unenforced_timeouts(self) -> None:
        """Say which timeouts and memory limits an executor without isolation cannot enforce."""
        if self.executor.can_preempt:
            return
        for option in ("timeout", "memory"):
            names = [spec.name for spec in self.plan.tasks.values() if getattr(spec, option)]
            if names:
                msg = (
                    f"flow {self.name!r}: the {self.executor_name} executor runs tasks in its "
                    f"own process, so {option} is not enforced for: {', '.join(names)}. "
                    "Use executor='local' to enforce it"
                )
                warnings.warn(msg, RuntimeWarning, stacklevel=4)
