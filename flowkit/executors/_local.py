"""The local executor: every attempt in its own subprocess, forked from a pre-warmed server.

The orchestrator side: it forks the fork server (``forkserver.serve``) at the
start of a run; the server forks standby processes ahead of need and hands
over their sockets. An attempt starts by writing its request to a standby's
socket, with the write ends of two pipes: one for the attempt's stdout and
stderr (``AttemptLog``: a private log file, and lines to ``on_output``), one
for its pickled outcome; the server is then told which attempt that process
runs. An attempt is over at EOF on both; a crashed one, when the server reports
its exit status. A timeout or a cancel signals the attempt's process group with
SIGTERM and returns at once; ``grace_period`` seconds later, if it still runs,
the pump SIGKILLs it; the server kills whatever the attempt left behind, and
the stopped attempt is reported by ``wait`` once its whole tree is gone. Many
attempts stopped together share one grace period, and the scheduler goes on
meanwhile."""

from __future__ import annotations

import collections
import contextlib
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import attrs

from flowkit._errors import ExecutorError
from flowkit._home import logs_folder, make_private_folder
from flowkit._secrets import Redactor
from flowkit.executors import _processes as procs
from flowkit.executors._attempt_log import CHUNK, AttemptLog, OutputSink
from flowkit.executors._base import AttemptOutcome, AttemptRequest, PumpedWait
from flowkit.executors._wire import (
    FrameReader,
    encode_request,
    frame,
    reported_outcome,
    unpicklable_arguments,
)

if TYPE_CHECKING:
    from flowkit._clock import Clock
    from flowkit._planning.plan import Plan


@attrs.define
class _Attempt:
    task_key: str
    attempt: int
    pid: int  # of its attempt process; 0 until the request is handed over
    output: int  # read end of the output pipe; -1 once at EOF
    outcome: int  # read end of the outcome pipe; -1 once at EOF
    log: AttemptLog
    started_at: float
    outcome_data: bytearray = attrs.field(factory=bytearray)
    status: int | None = None
    exited_at: float | None = None
    #: When a stopped attempt gets SIGKILL (monotonic); None while nobody stops it.
    kill_at: float | None = None
    killed_hard: bool = False
    #: (rss, limit) when the fork server killed it for its memory.
    memory: tuple[int, int] | None = None
    #: Why the fork server thinks an unexplained SIGKILL was an out-of-memory kill.
    note: str | None = None

    @property
    def at_eof(self) -> bool:
        return self.output == -1 and self.outcome == -1


class LocalExecutor(PumpedWait):
    """Runs each attempt in an isolated subprocess; see the module docstring.

    Args:
        grace_period: seconds between SIGTERM and SIGKILL when an attempt is stopped.
        log_dir: where per-attempt logs go, as ``RUN_ID/TASK.ATTEMPT.log`` (a repair's in
            ``RUN_ID/repair-N/``);
            ``$FLOWKIT_HOME/logs`` by default (``FLOWKIT_HOME`` defaults to ``.flowkit``).
    """

    name: ClassVar[str] = "local"
    can_preempt: ClassVar[bool] = True
    runs_attempts_here: ClassVar[bool] = True

    def __init__(
        self, *, grace_period: float = 5.0, log_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.grace_period = grace_period
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.on_output: OutputSink | None = None
        self._server_pid: int | None = None
        self._control: socket.socket | None = None
        self._reader: FrameReader | None = None
        self._selector: selectors.BaseSelector | None = None
        self._attempts: dict[str, _Attempt] = {}
        #: Standby processes the fork server handed over: (pid, socket to send a request on).
        self._standby: collections.deque[tuple[int, socket.socket]] = collections.deque()
        self._by_pid: dict[int, _Attempt] = {}
        self._finished: list[AttemptOutcome] = []
        self._run_log_dir: Path | None = None
        self._redactor = Redactor()  # the run's, from start

    @property
    def capacity(self) -> None:
        return None

    # -- lifecycle ---------------------------------------------------------------------
    def start(
        self,
        plan: Plan,
        clock: Clock,
        *,
        run_id: str,
        repair_count: int = 0,
        on_output: OutputSink | None = None,
    ) -> None:
        from flowkit.executors import _forkserver as forkserver

        procs.warn_off_linux(sys.platform)
        self.on_output = on_output
        self._redactor = Redactor.for_run()
        base = self.log_dir if self.log_dir is not None else logs_folder()
        self._run_log_dir = base / (run_id or "unknown")
        if repair_count:  # a repair's attempts count from 1 again: keep the first logs
            self._run_log_dir = self._run_log_dir / f"repair-{repair_count}"
        make_private_folder(self._run_log_dir)
        parent_end, server_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may print twice
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid == 0:
            parent_end.close()
            try:
                forkserver.serve(plan, server_end)
            finally:
                os._exit(0)
        server_end.close()
        self._server_pid = pid
        self._control = parent_end
        self._reader = FrameReader(parent_end)
        self._selector = selectors.DefaultSelector()
        self._selector.register(parent_end, selectors.EVENT_READ, None)

    def submit(self, request: AttemptRequest) -> None:
        if self._control is None or self._selector is None or self._run_log_dir is None:
            msg = "the local executor was not started; call start() first"
            raise ExecutorError(msg)
        try:
            fields, arguments = encode_request(request, with_edges=False)
            payload = frame(("attempt", fields, arguments))
        except Exception as error:  # the attempt fails; the run goes on per run_if
            self._finished.append(unpicklable_arguments(request, error))
            return
        output_read, output_write = os.pipe()
        outcome_read, outcome_write = os.pipe()
        os.set_blocking(output_read, False)
        os.set_blocking(outcome_read, False)
        attempt = _Attempt(
            task_key=request.task_key,
            attempt=request.attempt,
            pid=0,
            output=output_read,
            outcome=outcome_read,
            log=AttemptLog(
                task_key=request.task_key,
                attempt=request.attempt,
                path=self._run_log_dir / f"{request.task_key}.{request.attempt}.log",
                redactor=self._redactor,
                on_output=self.on_output,
            ),
            started_at=time.time(),
        )
        self._attempts[request.task_key] = attempt
        self._selector.register(output_read, selectors.EVENT_READ, (attempt, "output"))
        self._selector.register(outcome_read, selectors.EVENT_READ, (attempt, "outcome"))
        # Everything else first: handing the request over wakes its process, which may
        # then run on this CPU, and this process has nothing left to do but wait.
        try:
            attempt.pid = self._hand_over(payload, output_write, outcome_write)
        except BaseException:  # no standby came (the server died, Ctrl-C): no attempt
            self._close_attempt(attempt)
            raise
        finally:
            os.close(output_write)
            os.close(outcome_write)
        self._by_pid[attempt.pid] = attempt
        # Off the critical path: an attempt that ended before this message is kept for it.
        self._tell(("started", attempt.pid, request.task_key, request.attempt))

    def _hand_over(self, payload: bytes, output: int, outcome: int) -> int:
        """Send the request to a standby process, the pipes with it; the pid it runs in."""
        while True:
            while not self._standby:  # blocks on the server's next message (a standby)
                self._read_control()
            pid, channel = self._standby.popleft()
            with channel:
                try:  # the descriptors travel with the message's first bytes
                    sent = socket.send_fds(channel, [payload], [output, outcome])
                except OSError:
                    continue  # that standby died before its request: take the next
                # From its first byte on, the request is that process's: should it die
                # before reading the rest, the server reports its exit as the attempt's.
                with contextlib.suppress(OSError):
                    if sent < len(payload):
                        channel.sendall(payload[sent:])
                return pid

    def kill(self, task_key: str) -> bool:
        """Start stopping an attempt: SIGTERM its process group now, SIGKILL after the grace.

        Returns at once, True: ``wait`` reports the attempt once its whole tree is gone.
        """
        attempt = self._attempts.get(task_key)
        if attempt is None:
            return False
        if attempt.kill_at is None:
            self._signal(attempt, signal.SIGTERM)
            attempt.kill_at = time.monotonic() + self.grace_period
        return True

    def shutdown(self) -> None:
        """Kill every attempt still running and stop the fork server; safe to call twice."""
        if self._control is not None:
            with contextlib.suppress(OSError):
                # The server kills what is left; with no attempt running, the run's
                # end is ordinary and its processes end by themselves.
                self._control.sendall(frame(("exit", not self._attempts)))
        if self._server_pid is not None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._server_pid, 0)
            self._server_pid = None
        for attempt in list(self._attempts.values()):
            self._close_attempt(attempt)
        while self._standby:
            self._standby.popleft()[1].close()
        self._by_pid.clear()
        for resource in (self._control, self._selector):
            if resource is not None:
                with contextlib.suppress(OSError):
                    resource.close()
        self._control = self._selector = self._reader = None

    # -- events --------------------------------------------------------------------------
    def _pump(self, timeout: float | None) -> None:
        """Handle whatever is ready within ``timeout``: output, outcomes, exits and kills."""
        assert self._selector is not None
        kill_at = [a.kill_at for a in self._attempts.values() if a.kill_at and not a.killed_hard]
        if kill_at:
            until_kill = max(0.0, min(kill_at) - time.monotonic())
            timeout = until_kill if timeout is None else min(timeout, until_kill)
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._read_control()
                continue
            attempt, kind = key.data
            if kind == "output":
                self._read_output(attempt)
            else:
                self._read_outcome(attempt)
        if kill_at:
            now = time.monotonic()
            for attempt in list(self._attempts.values()):
                if (
                    attempt.kill_at is not None
                    and not attempt.killed_hard
                    and now >= attempt.kill_at
                ):
                    attempt.killed_hard = True
                    self._signal(attempt, signal.SIGKILL)

    def _read_control(self) -> None:
        assert self._reader is not None
        if not self._reader.fill():
            raise ExecutorError(self._server_died())
        for kind, pid, *details in self._reader.messages():
            if kind == "standby":
                (fd,) = self._reader.take_fds(1)
                self._standby.append((pid, socket.socket(fileno=fd)))
                continue
            attempt = self._by_pid.get(pid)
            if attempt is None:
                continue  # a message about an attempt already over
            if kind == "memory":
                attempt.memory = tuple(details)
                continue
            attempt.status, attempt.note = details
            attempt.exited_at = time.time()
            del self._by_pid[pid]
            self._maybe_finish(attempt)

    def _server_died(self) -> str:
        """Reap the dead fork server and say how it died."""
        how = "died"
        if self._server_pid is not None:
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self._server_pid, 0)
                how = f"died ({procs.describe_status(status)})"
                if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
                    how += "; an out-of-memory kill shows in `dmesg`"
            self._server_pid = None
        return f"the local executor's fork server {how}; its attempts were stopped with it"

    def _read_output(self, attempt: _Attempt) -> None:
        if self._read_chunk(attempt) is False:
            self._maybe_finish(attempt)

    def _read_chunk(self, attempt: _Attempt) -> bool | None:
        """Log and emit one chunk of output: True if there was one, False at EOF, else None."""
        try:
            data = os.read(attempt.output, CHUNK)
        except BlockingIOError:
            return None
        if data:
            attempt.log.add(data)
            return True
        attempt.log.end()
        attempt.output = self._close_pipe(attempt.output)
        return False

    def _read_outcome(self, attempt: _Attempt) -> None:
        try:
            data = os.read(attempt.outcome, CHUNK * 4)
        except BlockingIOError:
            return
        if data:
            attempt.outcome_data += data
            return
        attempt.outcome = self._close_pipe(attempt.outcome)
        self._maybe_finish(attempt)

    def _maybe_finish(self, attempt: _Attempt) -> None:
        """Finish at both EOFs with an outcome; without one (a crash), at the exit status.

        A stopped attempt is over at its exit status: the server reports it once it has
        killed what the attempt left behind, even if nothing closed its pipes yet.
        """
        if self._attempts.get(attempt.task_key) is not attempt:
            return
        if attempt.kill_at is not None and attempt.status is not None:
            while attempt.output != -1 and self._read_chunk(attempt):
                pass  # what it printed before it was stopped still reaches its log
            self._finished.append(self._outcome(attempt))
            self._close_attempt(attempt)
            return
        if not attempt.at_eof:
            return
        if not attempt.outcome_data and attempt.status is None:
            return
        self._finished.append(self._outcome(attempt))
        self._close_attempt(attempt)

    def _outcome(self, attempt: _Attempt) -> AttemptOutcome:
        return reported_outcome(
            attempt.task_key,
            attempt.attempt,
            data=bytes(attempt.outcome_data),
            status=attempt.status,
            process=f"task {attempt.task_key!r} attempt {attempt.attempt}",
            memory=attempt.memory,
            note=attempt.note,
            started_at=attempt.started_at,
            ended_at=attempt.exited_at,
            log_path=attempt.log.written,
        )

    def _signal(self, attempt: _Attempt, signal_number: int) -> None:
        self._tell(("signal", attempt.pid, signal_number))

    def _tell(self, message: tuple) -> None:
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.sendall(frame(message))

    def _close_pipe(self, fd: int) -> int:
        if fd != -1:
            if self._selector is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(fd)
            os.close(fd)
        return -1

    def _close_attempt(self, attempt: _Attempt) -> None:
        if self._attempts.get(attempt.task_key) is attempt:
            del self._attempts[attempt.task_key]
        attempt.output = self._close_pipe(attempt.output)
        attempt.outcome = self._close_pipe(attempt.outcome)
        attempt.log.close()
