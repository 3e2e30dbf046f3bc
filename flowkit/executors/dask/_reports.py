"""What comes back from the dask workers: output events, stops, and each attempt's outcome.

``Reports`` is the part of ``DaskExecutor`` that turns the events of the run's topic
and the futures' results into ``AttemptOutcome``s (``_pump`` feeds ``wait``). A
small attempt's whole report is an event, which comes before dask says its task
is done (the same worker's stream to the scheduler, then the same stream to this
client): the attempt ends then, its result never fetched. A bigger one's report
is its task's result.

Until dask says such a task is done, its scheduler counts the worker's thread as
busy; a task submitted in between may go to a worker whose threads are all
running (dask lets a worker take a few more tasks than it has threads) and wait
there for one of them to end, up to a whole task's time. So at capacity a new
attempt waits, briefly, for dask to free a thread first (``_wait_for_a_thread``).
"""

from __future__ import annotations

import queue
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import attrs

from flowkit._errors import ExecutorError
from flowkit._home import write_private_file
from flowkit._secrets import Redactor
from flowkit._state import ErrorInfo, TaskState
from flowkit.executors._base import AttemptOutcome, PumpedWait, failed_outcome
from flowkit.executors._wire import reported_outcome

#: How long past its grace period a worker may take to say it stopped an attempt.
STOP_REPORT_SECONDS = 15.0
#: How many futures of reported attempts are held before they are let go of together.
HELD_FUTURES = 1000
#: The longest a new attempt waits at capacity for dask to hear that a reported one ended.
THREAD_WAIT_SECONDS = 0.05


@attrs.define
class Attempt:
    task_key: str
    attempt: int
    token: str
    future: Any
    submitted_at: float
    lines_seen: int = 0
    started: bool = False
    stopped: bool = False
    killed: bool = False
    #: When a stopped attempt is given up on (monotonic): a worker that had not started it
    #: will not; one that had says "stopped" within its grace period.
    stop_deadline: float = 0.0


class Reports(PumpedWait):
    """Events and results of attempts on dask, into outcomes; ``DaskExecutor`` is one."""

    _attempts: dict[str, Attempt]
    _by_token: dict[str, Attempt]
    #: Tokens of attempts reported from their event whose futures dask has not ended yet,
    #: guarded by ``_freed``, which is told when one ends.
    _reported: set[str]
    _freed: threading.Condition
    #: Futures of attempts reported from their event: held, their results are a few bytes,
    #: and let go of together (``HELD_FUTURES`` at a time, the rest at shutdown); one by
    #: one, each would cost the client, the scheduler and a worker a round of messages.
    _spent: list[Any]
    _events: queue.Queue[tuple[str, Any]]
    _client: Any
    _run_log_dir: Path | None
    _redactor: Redactor
    address: str | None
    grace_period: float
    on_output: Any

    def _pump(self, timeout: float | None) -> None:
        """Handle the events that come within ``timeout``: output, starts, stops, ends."""
        try:
            kind, data = self._events.get(timeout=0.5 if timeout is None else min(timeout, 0.5))
        except queue.Empty:
            self._check_scheduler()
            self._report_stopped()
            return
        while True:
            if kind == "event":
                self._on_event(data[1])
            else:
                self._on_done(data)
            try:
                kind, data = self._events.get_nowait()
            except queue.Empty:
                break
        self._report_stopped()

    def _check_scheduler(self) -> None:
        client = self._client
        if client is None or client.status in ("running", "connecting", "newly-created"):
            return
        raise ExecutorError(self._lost_message())

    def _lost_message(self) -> str:
        return (
            f"lost the connection to the dask scheduler at "
            f"{self.address or 'the ephemeral cluster'}; the run cannot go on"
        )

    def _on_event(self, message: Any) -> None:
        attempt = self._by_token.get(message.get("token")) if isinstance(message, dict) else None
        if attempt is None:
            return
        if message.get("started"):
            attempt.started = True
        if message.get("stopped"):
            attempt.stopped = True
        if "report" in message and self._attempts.get(attempt.task_key) is attempt:
            # The attempt is over, and what it left is here: no need to wait for dask's
            # word (or to fetch the result) before the next task goes.
            del self._by_token[attempt.token]
            del self._attempts[attempt.task_key]
            with self._freed:  # unless dask has said it is done already
                if not attempt.future.done():
                    self._reported.add(attempt.token)
            self._spent.append(attempt.future)
            self._finished.append(self._from_report(attempt, message["report"]))
            return
        if "lines" in message and not attempt.killed:
            lines = message["lines"]
            first = message["first"]
            if first == attempt.lines_seen:  # in order; a gap is filled from the result
                self._emit(attempt, lines)

    def _emit(self, attempt: Attempt, lines: list[str]) -> None:
        attempt.lines_seen += len(lines)
        if self.on_output is not None:
            for line in lines:
                self.on_output(attempt.task_key, attempt.attempt, line)

    def _future_done(self, token: str) -> None:
        """A future ended (in dask's callback thread): a word for ``wait``, unless reported."""
        with self._freed:
            if token in self._reported:
                self._reported.discard(token)
                self._freed.notify_all()
                return
        self._events.put(("done", token))

    def _wait_for_a_thread(self, capacity: int) -> None:
        """At ``capacity``, wait (``THREAD_WAIT_SECONDS`` at most) for dask to free a thread.

        Attempts reported from their event count against ``capacity`` until dask says
        their tasks are done.
        """

        def free() -> bool:
            return not self._reported or len(self._attempts) + len(self._reported) < capacity

        with self._freed:
            self._freed.wait_for(free, THREAD_WAIT_SECONDS)

    def _on_done(self, token: str) -> None:
        with self._freed:
            self._reported.discard(token)
        attempt = self._by_token.get(token)
        if attempt is None:
            return
        if attempt.killed or self._attempts.get(attempt.task_key) is not attempt:
            # Cancelling a future ends it here at once; only the worker knows when its
            # processes are gone (the "stopped" event), unless the attempt really ended.
            if attempt.future.status in ("finished", "error"):
                attempt.stopped = True
            return
        del self._by_token[token]
        del self._attempts[attempt.task_key]
        self._finished.append(self._outcome(attempt))

    def _outcome(self, attempt: Attempt) -> AttemptOutcome:
        future = attempt.future
        where = f"task {attempt.task_key!r} attempt {attempt.attempt}"
        if future.status == "finished":
            try:
                report = future.result()
            except Exception as error:
                return attempt_failed(attempt, "WorkerError", f"{where}: {error}")
            return self._from_report(attempt, report)
        if future.status == "cancelled":
            if self._client is None or self._client.status != "running":
                raise ExecutorError(self._lost_message())
            return attempt_failed(
                attempt, "Cancelled", f"{where} was cancelled by the dask scheduler"
            )
        error = future.exception()
        if type(error).__name__ == "KilledWorker":
            message = f"{where}: the dask worker running it died ({error})"
            return attempt_failed(attempt, "WorkerLost", message)
        if isinstance(error, ModuleNotFoundError):
            message = (
                f"{where} could not start on the dask worker: {error}. Install flowkit (and the "
                "flow's dependencies) on every worker"
            )
            return attempt_failed(attempt, "WorkerSetupError", message)
        return attempt_failed(attempt, type(error).__name__, f"{where}: {error}")

    def _from_report(self, attempt: Attempt, report: dict[str, Any]) -> AttemptOutcome:
        where = f"task {attempt.task_key!r} attempt {attempt.attempt}"
        if "lost" in report:
            message = (
                f"{where}: the dask worker running it ({report['lost']}) died; "
                "flowkit retries it per its retries, dask does not run it again"
            )
            return attempt_failed(attempt, "WorkerLost", message)
        output = self._redactor.bytes(report.get("output", b""))
        log_path = self._write_log(attempt, output)
        if output:
            lines = output.decode(errors="replace").split("\n")
            if lines and not lines[-1]:
                lines.pop()
            if len(lines) > attempt.lines_seen:
                self._emit(attempt, lines[attempt.lines_seen :])
        if report.get("timed_out") and not report.get("memory"):
            return attempt_failed(
                attempt,
                "TimeoutError",
                f"{where} timed out on worker {report.get('worker')}; its process tree was killed",
                state=TaskState.TIMED_OUT,
                log_path=log_path,
            )
        memory = report.get("memory")
        return reported_outcome(
            attempt.task_key,
            attempt.attempt,
            data=report.get("outcome") or b"",
            status=report.get("status"),
            process=f"{where} on dask worker {report.get('worker')}",
            memory=tuple(memory) if memory else None,
            note=report.get("note"),
            log_path=log_path,
            started_at=report.get("started_at") or attempt.submitted_at,
            ended_at=report.get("ended_at"),
        )

    def _write_log(self, attempt: Attempt, output: bytes) -> str | None:
        if not output or self._run_log_dir is None:
            return None
        path = self._run_log_dir / f"{attempt.task_key}.{attempt.attempt}.log"
        try:
            write_private_file(path, output)
        except OSError as error:  # a full disk: the log is lost, the attempt's outcome stands
            msg = (
                f"task {attempt.task_key!r}, attempt {attempt.attempt}: its log {path} cannot "
                f"be written ({error.strerror or error}); its output is not kept"
            )
            warnings.warn(msg, RuntimeWarning, stacklevel=1)
            return None
        return str(path)

    def _report_stopped(self) -> None:
        """Report every stopped attempt whose processes are gone, or that was given up on."""
        now = time.monotonic()
        for attempt in list(self._attempts.values()):
            if not attempt.killed:
                continue
            if attempt.started and attempt.stop_deadline < now + self.grace_period:
                # It started after all: its worker needs the grace period to stop it.
                attempt.stop_deadline = max(
                    attempt.stop_deadline, now + self.grace_period + STOP_REPORT_SECONDS
                )
            if attempt.stopped or now >= attempt.stop_deadline:
                del self._attempts[attempt.task_key]
                self._by_token.pop(attempt.token, None)
                where = f"task {attempt.task_key!r} attempt {attempt.attempt}"
                self._finished.append(attempt_failed(attempt, "Stopped", f"{where} was stopped"))


def attempt_failed(attempt: Attempt, type_name: str, message: str, **fields: Any) -> AttemptOutcome:
    """A failed outcome of ``attempt``, started when it was submitted unless ``fields`` say."""
    fields.setdefault("started_at", attempt.submitted_at)
    return failed_outcome(
        attempt.task_key,
        attempt.attempt,
        ErrorInfo(type_name=type_name, message=message),
        **fields,
    )
