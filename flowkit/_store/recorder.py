"""StoreRecorder: a run listener that writes the run into a store as it happens.

Every state change is kept until the scheduler's step ends (``flush``), then
committed in one transaction, each row written once, in its latest version; so
it is on disk before the next task is dispatched. A task's values are written in
the same row write as the change that makes it ``succeeded``, so a crash leaves
a task to re-run, never a succeeded task without its values.

It is a ``RunListener``: it consumes the run's events (``_events``) and never
sees the engine, which sits above the store (DESIGN.md §4).

When the store cannot write (a full disk), the run cannot go on unrecorded:
the recorder raises a ``RunError`` that says so, the runtime stops the
attempts, and the run is left ``interrupted``, with everything committed before
kept, for a repair once there is room.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cloudpickle
from loguru import logger

from flowkit._errors import RunError, StoreError
from flowkit._events import (
    RunFinished,
    RunListener,
    RunStarted,
    StepEnded,
    TaskChanged,
    TaskOutput,
    Tick,
)
from flowkit._state import RunState, TaskRun, TaskState
from flowkit._store.base import AttemptRecord, RunRecord, RunStore, TaskRecord, json_safe
from flowkit._store.liveness import HEARTBEAT_INTERVAL, this_host

if TYPE_CHECKING:
    pass

#: Task states that mean the attempt that was running is over.
_ATTEMPT_ENDS = frozenset(
    {
        TaskState.WAITING_FOR_RETRY,
        TaskState.SUCCEEDED,
        TaskState.FAILED,
        TaskState.TIMED_OUT,
        TaskState.CANCELLED,
    }
)


class StoreRecorder(RunListener):
    """Writes runs, tasks, attempts, task values and heartbeats into ``store``.

    Args:
        store: where to write.
        heartbeat_interval: the least time between two heartbeats, in seconds.
        parent_run_id: recorded with a run this recorder creates.
    """

    def __init__(
        self,
        store: RunStore,
        *,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        parent_run_id: str | None = None,
    ) -> None:
        self.store = store
        self.heartbeat_interval = heartbeat_interval
        self.parent_run_id = parent_run_id
        self._last_beat: dict[str, float] = {}  # run id -> time.monotonic()
        self._repair: dict[str, int] = {}  # run id -> which repair pass this is
        # (run id, task) -> the running attempt, its start, and the task's compute before it.
        self._running: dict[tuple[str, str], tuple[int, float, float]] = {}
        self._last_log_path: dict[tuple[str, str], str | None] = {}
        self._flow_names: dict[str, str] = {}  # run id -> its flow's name, for messages
        self._rerun: set[tuple[str, str]] = set()  # tasks a repair has started again
        #: Runs whose tasks started this pass with no values stored (this recorder made them).
        self._no_values: set[str] = set()
        #: The writes of this scheduler step, by the row each writes: its latest version.
        self._pending: dict[Any, tuple[Any, tuple[Any, ...]]] = {}
        self._writes = 0  # numbers the writes that are not of a row (heartbeats)

    # -- RunListener -------------------------------------------------------------------
    def run_started(self, event: RunStarted) -> None:
        """Record the run and its tasks, or, for a repair, take the stored run over."""
        run_id = event.run_id
        self._flow_names[run_id] = event.flow_name
        stored = self.store.get_run(run_id)
        if stored is None:
            self._create(event)
        else:
            self._take_over(event, stored)
            if event.shape is not None:
                self.store.set_shape(run_id, event.shape)
        self._last_beat[run_id] = time.monotonic()

    def _create(self, run: RunStarted) -> None:
        """Record a new run, its tasks pending and its flow's shape, in one commit."""
        record = RunRecord(
            run_id=run.run_id,
            flow_name=run.flow_name,
            params=json_safe(run.params),
            state=RunState.RUNNING,
            started_at=run.started_at,
            pid=os.getpid(),
            hostname=this_host(),
            heartbeat_at=time.time(),
            parent_run_id=self.parent_run_id,
            executor=run.executor_name or None,
            target=run.target,
            trigger=run.trigger,
        )
        try:
            with self.store.batch():
                self.store.create_run(record, task_keys=list(run.tasks))
                if run.shape is not None:
                    self.store.set_shape(run.run_id, run.shape)
        except StoreError as error:  # a full disk, most likely
            msg = (
                f"run {run.run_id} of flow {run.flow_name!r} did not start: its run store "
                f"cannot record it: {error}. Nothing ran"
            )
            raise RunError(msg) from error
        self._repair[run.run_id] = 0
        self._no_values.add(run.run_id)

    def _take_over(self, run: RunStarted, stored: RunRecord) -> None:
        """Start a run this process queued, or take a stored run over for a repair pass."""
        run_id = run.run_id
        if stored.state is RunState.QUEUED and stored.pid == os.getpid():
            # Queued by this process for a slot, which it now holds: the run starts.
            self.store.update_run_state(run_id, RunState.RUNNING, started_at=run.started_at)
            self._repair[run_id] = 0
            self._no_values.add(run_id)
            return
        if stored.state is not RunState.RUNNING or stored.pid != os.getpid():
            stored = self.store.increment_repair_count(
                run_id,
                pid=os.getpid(),
                hostname=this_host(),
                params=json_safe(run.params),
                executor=run.executor_name or None,
                target=run.target,
            )
        self._repair[run_id] = stored.repair_count
        known = self.store.get_tasks(run_id)
        for name in run.tasks:  # tasks the flow's current code added since
            if name not in known:
                self.store.record_task(TaskRecord(run_id=run_id, task_key=name))

    def flush(self, event: StepEnded) -> None:
        """Commit what this scheduler step changed, in one transaction.

        The runtime calls it before it waits and before it dispatches an attempt,
        so every change is on disk before the next attempt starts. Changes wait in
        memory until then: no write lock is held between two calls, so two
        recorders (two stores, two processes) can never wait on each other.
        """
        try:
            self._write_pending()
        except StoreError as error:
            raise self._cannot_record(event.run_id, error) from error

    def _write_pending(self) -> None:
        """Write the step's changes in one transaction, each row once: its last version.

        A task queued and started in one scheduler step is one upsert of its final
        row; the transaction makes both changes visible at once anyway.
        """
        if self._pending:
            pending, self._pending = self._pending, {}
            with self.store.batch():
                for write, args in pending.values():
                    write(*args)

    def _defer(self, row: Any, write: Any, *args: Any) -> None:
        """Write ``row`` with ``write(*args)`` at the next flush, unless a later change does."""
        self._pending[row] = (write, args)

    def task_changed(self, event: TaskChanged) -> None:
        run_id, task = event.run_id, event.task
        key = (run_id, task.name)
        state = task.state
        if state is TaskState.RUNNING:
            if self._repair.get(run_id) and key not in self._rerun:
                # A task re-run by a repair drops what an earlier pass left.
                self._rerun.add(key)
                self._defer(("values", key), self.store.set_task_values, run_id, task.name, {})
                self._defer(("result", key), self.store.set_result, run_id, task.name, None)
            started_at = event.at
            self._running[key] = (task.attempts, started_at, task.compute_seconds)
            self._record_attempt(run_id, task, state=TaskState.RUNNING, started_at=started_at)
        elif state in _ATTEMPT_ENDS and key in self._running:
            attempt, started_at, compute_before = self._running.pop(key)
            # The scheduler measured the attempt (its compute seconds): the stored attempt
            # lasts exactly that long, so `show` and the run's summary agree.
            self._record_attempt(
                run_id,
                task,
                state=_attempt_state(task),
                started_at=started_at,
                attempt=attempt,
                ended_at=started_at + (task.compute_seconds - compute_before),
            )
        values = None  # the stored values stay as they are
        if state is TaskState.SUCCEEDED:
            # Written with the task's row: the success and its values in one write. Stored
            # values are empty until a task succeeds (or a repair re-runs it): an empty
            # write changes nothing there.
            if event.values or (run_id not in self._no_values and key not in self._rerun):
                values = event.values or {}
                self._pending.pop(("values", key), None)  # a repair's clearing, superseded
            self._persist_result(run_id, task.name, event.result)
        # The row as it is now; its record is made at the flush, if no later change replaces
        # it (a success is final: nothing replaces it, or its values, in a run).
        row = (
            run_id,
            task.name,
            state,
            task.attempts,
            task.started_at,
            task.ended_at,
            task.error if state is not TaskState.SUCCEEDED else None,
            task.waiting_for,
        )
        self._defer(("task", key), self._record_task, row, values)
        self.heartbeat(run_id)

    def task_output(self, event: TaskOutput) -> None:
        self.heartbeat(event.run_id)

    def run_finished(self, event: RunFinished) -> None:
        run_id, result = event.run_id, event.result
        try:
            with self.store.batch():  # the last changes and the run's end: one commit
                self._write_pending()
                self.store.update_run_state(
                    run_id, result.state, ended_at=result.ended_at, cluster=result.cluster
                )
        except StoreError as error:
            raise self._cannot_record(run_id, error, ended=result.state) from error
        self._last_beat.pop(run_id, None)
        self._repair.pop(run_id, None)
        self._no_values.discard(run_id)
        self._flow_names.pop(run_id, None)
        for key in [key for key in self._last_log_path if key[0] == run_id]:
            del self._last_log_path[key]
        self._rerun = {key for key in self._rerun if key[0] != run_id}

    # -- the periodic hook -------------------------------------------------------------
    @property
    def tick_interval(self) -> float | None:
        """The scheduler calls ``tick`` this often, even while every task is quiet."""
        return self.heartbeat_interval or None

    def tick(self, event: Tick) -> None:
        self.heartbeat(event.run_id, force=True)
        self.flush(StepEnded(run_id=event.run_id))

    def heartbeat(self, run_id: str, *, force: bool = False) -> None:
        """Write the run's heartbeat if ``heartbeat_interval`` has passed (or ``force``)."""
        now = time.monotonic()
        last = self._last_beat.get(run_id)
        if force or last is None or now - last >= self.heartbeat_interval:
            self._last_beat[run_id] = now
            self._writes += 1
            self._defer(("heartbeat", self._writes), self.store.heartbeat, run_id)

    # -- internals ---------------------------------------------------------------------
    def _cannot_record(
        self, run_id: str, error: StoreError, *, ended: RunState | None = None
    ) -> RunError:
        """The error that stops a run its store cannot record; the run is left interrupted.

        Marking it interrupted is one small update, which may still fit where the
        failed batch did not; if not, the run reads as interrupted anyway once
        this process is gone.
        """
        with contextlib.suppress(StoreError):
            self.store.update_run_state(run_id, RunState.INTERRUPTED, ended_at=time.time())
        what = f"ended {ended.value}, but" if ended is not None else "stopped:"
        msg = (
            f"run {run_id} of flow {self._flow_names.get(run_id, '?')!r} {what} its run store "
            "cannot record "
            f"it: {error}. What was recorded before is kept and the run is left interrupted; "
            f"once the store can be written again, `flowkit repair {run_id}` re-runs what "
            "did not finish"
        )
        return RunError(msg)

    def _record_task(self, row: tuple[Any, ...], values: Mapping[str, Any] | None) -> None:
        run_id, task_key, state, attempts, started_at, ended_at, error, waiting_for = row
        record = TaskRecord(
            run_id=run_id,
            task_key=task_key,
            state=state,
            attempts=attempts,
            started_at=started_at,
            ended_at=ended_at,
            error=error,
            waiting_for=waiting_for,
        )
        if values is None:
            self.store.record_task(record)
        else:
            self.store.record_task(record, values=values)

    def _persist_result(self, run_id: str, task_key: str, result: Any) -> None:
        """Keep a task's return value, pickled, in the store, so a repair can hand it on."""
        if result is None:
            return
        try:
            data = cloudpickle.dumps(result)
        except Exception as error:
            logger.warning("task {}: return value not kept ({}): {}", task_key, type(error), error)
            return
        self._defer(("result", (run_id, task_key)), self.store.set_result, run_id, task_key, data)

    def _record_attempt(
        self,
        run_id: str,
        task: TaskRun,
        *,
        state: TaskState,
        started_at: float,
        attempt: int | None = None,
        ended_at: float | None = None,
    ) -> None:
        key = (run_id, task.name)
        ended = ended_at is not None
        log_path = None
        if ended:
            # A cancelled attempt leaves the task's log_path as the previous attempt's.
            fresh = state is not TaskState.CANCELLED or task.log_path != self._last_log_path.get(
                key
            )
            log_path = task.log_path if fresh else None
            self._last_log_path[key] = task.log_path
        failed = ended and state not in (TaskState.SUCCEEDED, TaskState.CANCELLED)
        number = attempt if attempt is not None else task.attempts
        repair = self._repair.get(run_id, 0)
        self._defer(
            ("attempt", key, number, repair),
            self.store.record_attempt,
            AttemptRecord(
                run_id=run_id,
                task_key=task.name,
                attempt=number,
                state=state,
                started_at=started_at,
                ended_at=ended_at,
                error=task.error if failed else None,
                log_path=log_path,
                exit_code=task.exit_code if ended else None,
                signal=task.signal if ended else None,
                repair=repair,
            ),
        )


def _attempt_state(task: TaskRun) -> TaskState:
    """How the attempt that just ended ended, from the state its task moved to."""
    if task.state is not TaskState.WAITING_FOR_RETRY:
        return task.state
    # The scheduler reports a timed-out attempt as a TimeoutError before retrying it.
    timed_out = task.error is not None and task.error.type_name == "TimeoutError"
    return TaskState.TIMED_OUT if timed_out else TaskState.FAILED
