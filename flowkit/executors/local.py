"""The local executor: every attempt in its own subprocess, forked from a pre-warmed server.

The orchestrator side: it forks the fork server (``forkserver.serve``) at the
start of a run, sends it one request per attempt with the write end of a pipe
for the attempt's stdout and stderr, streams that output line by line to a
per-attempt log file and to ``on_output``, and reads each attempt's outcome
from a file once the server reports that the process ended. A timeout or a
cancel signals the attempt's process group, waits ``grace_period`` seconds,
then kills it; the server then kills whatever the attempt left behind.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import attrs

from flowkit.errors import ExecutorError
from flowkit.executors import procs
from flowkit.executors.base import AttemptOutcome, AttemptRequest
from flowkit.state import ErrorInfo, TaskState

if TYPE_CHECKING:
    from flowkit.clock import Clock
    from flowkit.plan import Plan

#: Called with (task_key, attempt, line) for every line an attempt prints.
OutputSink = Callable[[str, int, str], None]

_CHUNK = 65536


@attrs.define
class _Attempt:
    task_key: str
    attempt: int
    output: int  # read end of the output pipe; -1 once at EOF
    log: object  # the open log file
    log_path: Path
    result_path: Path
    started_at: float
    pid: int | None = None
    status: int | None = None
    partial: bytes = b""
    exited_at: float | None = None


class LocalExecutor:
    """Runs each attempt in an isolated subprocess; see the module docstring."""

    name: ClassVar[str] = "local"
    can_preempt: ClassVar[bool] = True

    def __init__(
        self,
        *,
        grace_period: float = 5.0,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.grace_period = grace_period
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.on_output: OutputSink | None = None
        self._server_pid: int | None = None
        self._control: socket.socket | None = None
        self._connection: Connection | None = None
        self._selector: selectors.BaseSelector | None = None
        self._attempts: dict[str, _Attempt] = {}
        self._finished: list[AttemptOutcome] = []
        self._scratch: Path | None = None
        self._run_log_dir: Path | None = None
        self._run_id = ""

    @property
    def capacity(self) -> None:
        return None

    # -- lifecycle ---------------------------------------------------------------------
    def start(
        self, plan: Plan, clock: Clock, *, run_id: str, on_output: OutputSink | None = None
    ) -> None:
        from flowkit.executors import forkserver

        self._run_id = run_id
        self.on_output = on_output
        self._scratch = Path(tempfile.mkdtemp(prefix="flowkit-"))
        base = self.log_dir if self.log_dir is not None else _default_log_dir()
        self._run_log_dir = base / (run_id or "unknown")
        self._run_log_dir.mkdir(parents=True, exist_ok=True)
        parent_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may print twice
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            try:
                forkserver.serve(plan, run_id, server_end)
            finally:
                os._exit(0)
        server_end.close()
        self._server_pid = pid
        self._control = parent_end
        self._connection = Connection(os.dup(parent_end.fileno()))
        self._selector = selectors.DefaultSelector()
        self._selector.register(parent_end, selectors.EVENT_READ, None)

    def submit(self, request: AttemptRequest) -> None:
        if self._connection is None or self._scratch is None or self._run_log_dir is None:
            msg = "the local executor was not started; call start() first"
            raise ExecutorError(msg)
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        log_path = self._run_log_dir / f"{request.task_key}.{request.attempt}.log"
        result_path = self._scratch / f"{request.task_key}.{request.attempt}.outcome"
        attempt = _Attempt(
            task_key=request.task_key,
            attempt=request.attempt,
            output=read_end,
            log=open(log_path, "wb"),  # noqa: SIM115 - closed at the attempt's end
            log_path=log_path,
            result_path=result_path,
            started_at=time.time(),
        )
        self._attempts[request.task_key] = attempt
        assert self._selector is not None
        self._selector.register(read_end, selectors.EVENT_READ, attempt)
        message = (
            "start",
            request.task_key,
            request.attempt,
            dict(request.params),
            {key: dict(values) for key, values in request.upstream_values.items()},
            str(result_path),
        )
        try:
            self._connection.send_bytes(pickle.dumps(message))
            socket.send_fds(self._control, [b"x"], [write_end])
        except OSError as error:
            msg = f"the local executor's fork server is gone ({error}); the run cannot go on"
            raise ExecutorError(msg) from error
        finally:
            os.close(write_end)

    def wait(self, timeout: float | None) -> list[AttemptOutcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            self._pump(remaining)
        finished, self._finished = self._finished, []
        return finished

    def kill(self, task_key: str) -> None:
        """Stop an attempt: SIGTERM its process group, then SIGKILL after the grace period."""
        attempt = self._attempts.get(task_key)
        if attempt is None:
            return
        while attempt.pid is None and attempt.status is None and self._server_alive():
            self._pump(0.1)  # the server has not said which pid it forked yet
        if attempt.pid is not None and attempt.status is None:
            procs.signal_group(attempt.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.grace_period
            while attempt.status is None and time.monotonic() < deadline:
                self._pump(deadline - time.monotonic())
            if attempt.status is None:
                procs.signal_group(attempt.pid, signal.SIGKILL)
            while attempt.status is None and self._server_alive():
                self._pump(0.5)
        # The scheduler records this attempt as killed; drop what it reported.
        self._finished = [o for o in self._finished if o.task_key != task_key]
        self._close_attempt(attempt)

    def shutdown(self) -> None:
        """Kill every attempt still running and stop the fork server; safe to call twice."""
        for attempt in list(self._attempts.values()):
            if attempt.pid is not None:
                procs.signal_group(attempt.pid, signal.SIGKILL)
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.send_bytes(pickle.dumps(("exit",)))
        if self._server_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._server_pid, 0)
            self._server_pid = None
        for attempt in list(self._attempts.values()):
            self._close_attempt(attempt)
        for resource in (self._connection, self._control, self._selector):
            if resource is not None:
                with contextlib.suppress(OSError):
                    resource.close()
        self._connection = self._control = self._selector = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # -- events --------------------------------------------------------------------------
    def _pump(self, timeout: float | None) -> None:
        """Handle whatever is ready within ``timeout``: output, starts and exits."""
        assert self._selector is not None
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._read_control()
            else:
                self._read_output(key.data)

    def _read_control(self) -> None:
        assert self._connection is not None
        try:
            message = pickle.loads(self._connection.recv_bytes())
        except (EOFError, OSError) as error:
            msg = f"the local executor's fork server died ({error}); the run cannot go on"
            raise ExecutorError(msg) from error
        kind, task_key, attempt_number = message[:3]
        attempt = self._attempts.get(task_key)
        if attempt is None or attempt.attempt != attempt_number:
            return
        if kind == "started":
            attempt.pid = message[3]
        elif kind == "exited":
            attempt.status = message[3]
            attempt.exited_at = time.time()
            self._maybe_finish(attempt)

    def _read_output(self, attempt: _Attempt) -> None:
        try:
            data = os.read(attempt.output, _CHUNK)
        except BlockingIOError:
            return
        if data:
            attempt.log.write(data)
            self._emit(attempt, data)
            return
        self._emit(attempt, b"", final=True)
        assert self._selector is not None
        self._selector.unregister(attempt.output)
        os.close(attempt.output)
        attempt.output = -1
        self._maybe_finish(attempt)

    def _emit(self, attempt: _Attempt, data: bytes, *, final: bool = False) -> None:
        if self.on_output is None:
            return
        lines = (attempt.partial + data).split(b"\n")
        if final:
            attempt.partial = b""
            if not lines[-1]:
                lines.pop()
        else:
            attempt.partial = lines.pop()
            if len(attempt.partial) > _CHUNK:  # a very long line is shown in pieces
                lines.append(attempt.partial)
                attempt.partial = b""
        for line in lines:
            self.on_output(attempt.task_key, attempt.attempt, line.decode(errors="replace"))

    def _maybe_finish(self, attempt: _Attempt) -> None:
        """An attempt is over once its output reached EOF and its outcome is written.

        The attempt process writes its outcome, kills what it started, then closes
        its output: EOF with an outcome is the end. Without one (a crash), the end
        is the exit status the fork server reports.
        """
        if attempt.output != -1:
            return
        if attempt.status is None and not attempt.result_path.exists():
            return
        self._finished.append(self._outcome(attempt))
        self._close_attempt(attempt)

    def _outcome(self, attempt: _Attempt) -> AttemptOutcome:
        outcome = None
        crash = None
        if attempt.result_path.exists():
            try:
                outcome = pickle.loads(attempt.result_path.read_bytes())
            except Exception as error:
                crash = f"its outcome could not be read back ({type(error).__name__}: {error})"
        elif attempt.status is not None:
            crash = f"{procs.describe_status(attempt.status)} without reporting a result"
        if outcome is not None:
            return attrs.evolve(outcome, log_path=str(attempt.log_path))
        return AttemptOutcome(
            task_key=attempt.task_key,
            attempt=attempt.attempt,
            state=TaskState.FAILED,
            started_at=attempt.started_at,
            ended_at=attempt.exited_at or time.time(),
            error=ErrorInfo(
                type_name="ProcessCrashed",
                message=f"the process of task {attempt.task_key!r} attempt {attempt.attempt} "
                f"{crash}",
            ),
            log_path=str(attempt.log_path),
        )

    def _close_attempt(self, attempt: _Attempt) -> None:
        if self._attempts.get(attempt.task_key) is attempt:
            del self._attempts[attempt.task_key]
        if attempt.output != -1:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(attempt.output)
            os.close(attempt.output)
            attempt.output = -1
        with contextlib.suppress(OSError):
            attempt.log.close()
        with contextlib.suppress(OSError):
            attempt.result_path.unlink(missing_ok=True)

    def _server_alive(self) -> bool:
        return self._server_pid is not None and self._connection is not None


def _default_log_dir() -> Path:
    """``$FLOWKIT_HOME/logs``; FLOWKIT_HOME defaults to ``.flowkit`` in the working directory."""
    return Path(os.environ.get("FLOWKIT_HOME") or ".flowkit") / "logs"
