"""Deliveries in a background thread, and ``Notifier``: a run's events as notifications.

``Deliveries`` tries each notification up to three times with a growing
pause, in a thread of its own, so a slow or dead destination never delays the
scheduler and never changes a run's state or exit code. Every try is recorded
in the store (destination masked, event, ok or error) and ``flowkit show``
lists them. ``drain`` waits for what is queued: the orchestrator calls it when
the run has ended, so the process does not exit with alerts unsent.

``Notifier`` is the run listener: run start, success and failure, the health
rule's warning, and each task's start, success and failure after its last
attempt (a retried attempt ends ``waiting_for_retry``, never ``failed``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from loguru import logger

from flowkit._definition.notify import Notify, fill_parameters, masked
from flowkit._events import RunFinished, RunListener, RunStarted, RunTooLong, TaskChanged
from flowkit._notify.payload import failed_tasks, payload
from flowkit._notify.send import DeliveryFailed, send
from flowkit._secrets import Redactor
from flowkit._state import RunResult, RunState, TaskRun, TaskState
from flowkit._store.base import DeliveryRecord, RunRecord, TaskRecord

#: Pauses between the tries of one notification, in seconds: three tries in all.
RETRY_DELAYS = (1.0, 4.0)
#: The longest ``drain`` waits for queued notifications when a run ends, in seconds.
DRAIN_PATIENCE = 90.0

_SUCCESS = (RunState.SUCCEEDED, RunState.SUCCEEDED_WITH_FAILURES)


@attrs.frozen
class Job:
    run_id: str
    event: str
    destination: Any
    payload: Mapping[str, Any]
    task_key: str | None = None


class Deliveries:
    """Sends notifications in a background thread; see the module docstring.

    Args:
        store: where each try is recorded (None: only logged).
        retry_delays: the pauses between tries (``RETRY_DELAYS`` by default); their
            number + 1 is the number of tries.
        sender: what makes one try (tests may pass their own).
    """

    def __init__(
        self,
        store: Any = None,
        *,
        retry_delays: Sequence[float] | None = None,
        sender: Callable[[Any, dict[str, Any]], None] = send,
    ) -> None:
        self.store = store
        self.retry_delays = tuple(RETRY_DELAYS if retry_delays is None else retry_delays)
        self.sender = sender
        self._redactor = Redactor.for_run()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def put(self, job: Job) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._work, name="flowkit-notifications", daemon=True
            )
            self._thread.start()
        self._queue.put(job)

    def drain(self, patience: float = DRAIN_PATIENCE) -> None:
        """Wait until every queued notification was tried (at most ``patience`` seconds)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._queue.put(None)
        thread.join(patience)
        if thread.is_alive():
            logger.warning("notifications still being sent after {:g}s; not waiting", patience)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            self._deliver(job)

    def _deliver(self, job: Job) -> None:
        data = self._redactor.data(dict(job.payload))
        shown = masked(job.destination)
        for attempt in range(1, len(self.retry_delays) + 2):
            error = None
            try:
                self.sender(job.destination, data)
            except DeliveryFailed as failed:
                error = self._redactor.text(str(failed))
            except Exception as failed:  # a delivery never takes the run down
                error = self._redactor.text(f"{type(failed).__name__}: {failed}")
            self._record(job, shown, attempt, error)
            if error is None:
                return
            logger.warning("{} to {} failed (try {}): {}", job.event, shown, attempt, error)
            if attempt <= len(self.retry_delays):
                time.sleep(self.retry_delays[attempt - 1])

    def _record(self, job: Job, shown: str, attempt: int, error: str | None) -> None:
        if self.store is None:
            return
        record = DeliveryRecord(
            run_id=job.run_id,
            event=job.event,
            destination=shown,
            attempt=attempt,
            ok=error is None,
            at=time.time(),
            task_key=job.task_key,
            error=error,
        )
        try:
            self.store.record_delivery(record)
        except Exception as failed:
            logger.warning("cannot record a notification try: {}", failed)


def run_event(state: RunState) -> str:
    """The run-level event of a run that ended in ``state``."""
    return "on_success" if state in _SUCCESS else "on_failure"


def wanted(notify: Notify, state: RunState) -> bool:
    """Whether a run that ended in ``state`` is notified, after the ``no_alert_for_*`` switches."""
    if state is RunState.SKIPPED and notify.no_alert_for_skipped_runs:
        return False
    return not (state is RunState.CANCELLED and notify.no_alert_for_canceled_runs)


def run_ended(
    deliveries: Deliveries, notify: Notify, result: RunResult, *, trigger: str | None = None
) -> None:
    """Queue the notifications of a run that ended (serve uses it for interrupted runs)."""
    if not wanted(notify, result.state):
        return
    event = run_event(result.state)
    failed = failed_tasks(result.tasks)
    reason = f" ({result.cancel_reason})" if result.cancel_reason else ""
    body = payload(
        event,
        flow=result.flow_name,
        run_id=result.run_id,
        state=result.state.value,
        trigger=trigger or result.trigger.type,
        started_at=result.started_at,
        params=result.params,
        duration=result.duration,
        failed=failed,
        message=f"flow {result.flow_name}: run {result.run_id[:12]} {result.state.value}{reason}",
    )
    for destination in notify.destinations(event):
        filled = fill_parameters(destination, result.params)
        if filled != "":  # a parameter left empty: nobody to tell
            deliveries.put(Job(result.run_id, event, filled, body))


def orchestrator_died(
    deliveries: Deliveries, notify: Notify, run: RunRecord, tasks: Mapping[str, TaskRecord]
) -> None:
    """Queue ``on_failure`` for a run whose orchestrator died (serve saw it): ``interrupted``."""
    result = RunResult(
        run_id=run.run_id,
        flow_name=run.flow_name,
        state=run.state,
        tasks={
            name: TaskRun(name, state=task.state, attempts=task.attempts, error=task.error)
            for name, task in tasks.items()
        },
        values={},
        params=dict(run.params),
        started_at=run.started_at,
        ended_at=run.ended_at or run.started_at,
        cancel_reason="its orchestrator died",
        trigger=run.trigger,
    )
    run_ended(deliveries, notify, result)


class Notifier(RunListener):
    """Turns one run's events into notifications (see the module docstring).

    Args:
        notify: the flow's ``Notify``, or None.
        task_notify: each task's ``Notify``, by task key.
        deliveries: where the notifications go.
    """

    def __init__(
        self, notify: Notify | None, task_notify: Mapping[str, Notify], deliveries: Deliveries
    ) -> None:
        self.notify = notify
        self.task_notify = dict(task_notify)
        self.deliveries = deliveries
        self._started: RunStarted | None = None

    def _put(
        self, event: str, destinations: Sequence[Any], body: dict[str, Any], task: str | None
    ) -> None:
        run_id = body["run_id"]
        for destination in destinations:
            filled = fill_parameters(destination, body["params"])
            if filled != "":  # a parameter left empty: nobody to tell
                self.deliveries.put(Job(run_id, event, filled, body, task_key=task))

    def _payload(self, event: str, state: str, **fields: Any) -> dict[str, Any]:
        started = self._started
        assert started is not None
        return payload(
            event,
            flow=started.flow_name,
            run_id=started.run_id,
            state=state,
            trigger=started.trigger.type,
            started_at=started.started_at,
            params=started.params,
            **fields,
        )

    def run_started(self, event: RunStarted) -> None:
        self._started = event
        if self.notify is not None and self.notify.on_start:
            self._put("on_start", self.notify.on_start, self._payload("on_start", "running"), None)

    def task_changed(self, event: TaskChanged) -> None:
        task = event.task
        notify = self.task_notify.get(task.name)
        if notify is None or self._started is None:
            return
        if task.state is TaskState.RUNNING and task.attempts == 1:
            name = "on_start"
        elif task.state is TaskState.SUCCEEDED:
            name = "on_success"
        elif task.state in (TaskState.FAILED, TaskState.TIMED_OUT):
            name = "on_failure"  # final: a retried attempt ends waiting_for_retry
        else:
            return
        if not notify.destinations(name):
            return
        duration = None if task.started_at is None else event.at - task.started_at
        failed = failed_tasks({task.name: task}) if name == "on_failure" else []
        body = self._payload(
            name,
            task.state.value,
            task=task.name,
            duration=duration if name != "on_start" else None,
            failed=failed,
        )
        self._put(name, notify.destinations(name), body, task.name)

    def run_too_long(self, event: RunTooLong) -> None:
        if self.notify is None or not self.notify.on_duration_warning or self._started is None:
            return
        message = (
            f"flow {self._started.flow_name}: run {event.run_id[:12]} has run "
            f"{event.duration:.1f}s, over its health limit of {event.limit:g}s"
        )
        body = self._payload(
            "on_duration_warning", "running", duration=event.duration, message=message
        )
        self._put("on_duration_warning", self.notify.on_duration_warning, body, None)

    def run_finished(self, event: RunFinished) -> None:
        if self.notify is not None:
            run_ended(self.deliveries, self.notify, event.result)
        self.deliveries.drain()

    def run_skipped(self, result: RunResult) -> None:
        """The run never started (``max_concurrent_runs`` reached, ``queue=False``)."""
        if self.notify is not None:
            run_ended(self.deliveries, self.notify, result)
        self.deliveries.drain()
