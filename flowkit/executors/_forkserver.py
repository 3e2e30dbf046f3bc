"""The fork server: a pre-warmed process that forks one attempt process per request.

The local executor forks the fork server from the orchestrator once per run,
after the flow's module is imported and its plan built, so an attempt costs
one ``fork`` and not an interpreter start and a re-import. Both the fork
server and each attempt process are child subreapers: whatever a task starts,
even a grandchild that called ``setsid``, stays below one of them and is
killed when its attempt ends.

Messages on the control socket are pickled tuples, each framed by a 4-byte
length (``frame`` / ``FrameReader``):

    orchestrator -> server   ("start", fields, pickled_arguments): an attempt request as
                             ``_wire.encode_request`` makes it, sent with two pipes'
                             write ends (SCM_RIGHTS): output, outcome
                             ("signal", task_key, attempt, signal_number)
                             ("exit",)
    server -> orchestrator   ("exited", task_key, attempt, wait_status)

An attempt process writes its pickled outcome to the outcome pipe and closes
both pipes after killing whatever it started: the orchestrator knows the
attempt is over from the two EOFs, without waiting for the exit to be reaped.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import pickle
import selectors
import signal
import socket
import sys
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import cloudpickle

from flowkit._state import ErrorInfo
from flowkit.executors import _processes as procs
from flowkit.executors._attempt import execute
from flowkit.executors._base import AttemptOutcome, AttemptRequest, failed_outcome
from flowkit.executors._wire import FrameReader, decode_request, frame, write_all

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan


def serve(plan: Plan, run_id: str, control: socket.socket) -> None:
    """The fork server's loop; runs until told to exit or the orchestrator is gone."""
    # Ctrl-C in the terminal is the orchestrator's to handle; it then tells us what to kill.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM unwinds the loop (and, in an attempt process, the task) through finally.
    signal.signal(signal.SIGTERM, terminate)
    procs.become_subreaper()
    server_pid = os.getpid()
    # Made once here rather than in every attempt process: each page an attempt process
    # writes is a page the kernel copies, so the less it does before the task, the better.
    # A segfault's Python traceback goes to fd 2: the attempt's log, in an attempt process.
    faulthandler.enable(file=2, all_threads=True)
    prepared = Prepared.make()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    reader = FrameReader(control)
    running: dict[int, tuple[str, int]] = {}
    # Everything alive now is shared with every attempt process; keep the garbage
    # collector off it, or its first pass in a child would copy each page it touches.
    gc.freeze()
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                    _reap(running, control)
                    continue
                if not reader.fill():
                    return  # the orchestrator is gone: the finally clause kills everything
                for message in reader.messages():
                    if message[0] == "exit":
                        return
                    if message[0] == "signal":
                        _, task_key, attempt, signal_number = message
                        for pid, running_attempt in running.items():
                            if running_attempt == (task_key, attempt):
                                procs.signal_group(pid, signal_number)
                        continue
                    _, fields, arguments = message
                    output_fd, outcome_fd = reader.take_fds(2)
                    pid = os.fork()
                    if pid == 0:  # the attempt process
                        selector.close()
                        for fd in (wake_read, wake_write, control.fileno()):
                            os.close(fd)
                        task_key = fields["task_key"]
                        request = decode_request(
                            fields, plan.tasks[task_key].fn, upstream_edges=plan.upstream
                        )
                        run_attempt(
                            request,
                            arguments,
                            output_fd,
                            outcome_fd,
                            prepared,
                            parent=server_pid,
                        )
                    os.close(output_fd)
                    os.close(outcome_fd)
                    running[pid] = (fields["task_key"], fields["attempt"])
    finally:
        # Everything below this server dies with it: attempts, and whatever they started.
        procs.kill_descendants(os.getpid(), settle=0.01)
        os._exit(0)


@attrs.frozen
class Prepared:
    """What every attempt process needs, made once in the fork server."""

    stdout: TextIO
    stderr: TextIO
    devnull: int

    @classmethod
    def make(cls) -> Prepared:
        """Line-buffered streams on fds 1 and 2, and /dev/null for stdin, kept for the run."""
        return cls(
            stdout=open(1, "w", buffering=1, closefd=False),
            stderr=open(2, "w", buffering=1, closefd=False),
            devnull=os.open(os.devnull, os.O_RDONLY),
        )


def _reap(running: dict[int, tuple[str, int]], control: socket.socket) -> None:
    """Report every attempt process that ended, after killing the orphans it left."""
    ended = procs.reap_children()
    if not ended:
        return
    # An attempt process that exited normally killed its descendants first; one that was
    # killed or crashed may have left orphans, which this subreaper adopted. Any child
    # that is not a running attempt process is such an orphan and must not outlive it.
    clean = all(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 for _, status in ended)
    for _ in range(0 if clean else 50):
        orphans = [pid for pid in procs.children(os.getpid()) if pid not in running]
        if not orphans:
            break
        for orphan in orphans:
            procs.kill_tree(orphan)
        ended.extend(procs.reap_children())
    for pid, status in ended:
        if pid in running:
            task_key, attempt = running.pop(pid)
            with contextlib.suppress(OSError):
                control.sendall(frame(("exited", task_key, attempt, status)))


def run_attempt(
    request: AttemptRequest,
    arguments: bytes,
    output_fd: int,
    outcome_fd: int,
    prepared: Prepared,
    *,
    parent: int | None = None,
) -> None:
    """The attempt process: run the task, report the outcome, leave nothing behind.

    With ``parent`` (the fork server's pid), the attempt dies with its parent: the
    kernel sends it SIGHUP when the parent dies, however it died (SIGKILL by an
    out-of-memory killer included), and it kills everything it started and exits 71.
    Never returns. Exits 0 once the outcome is written, 70 if flowkit itself failed.
    """
    exit_code = 70
    data = b""
    try:
        os.setsid()  # its own session and process group: a timeout kills the whole group
        procs.become_subreaper()
        if parent is not None:
            _die_with(parent)
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        os.dup2(prepared.devnull, 0)
        os.close(prepared.devnull)
        # Line-buffered streams on the pipe: whatever sys.stdout was in the orchestrator
        # (a notebook's, pytest's capture), the task's prints go to the pipe.
        sys.stdout = sys.__stdout__ = prepared.stdout
        sys.stderr = sys.__stderr__ = prepared.stderr
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.set_wakeup_fd(-1)
        data = _pickle_outcome(execute(_with_arguments(request, arguments)))
    except BaseException:
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(BaseException):
            procs.kill_descendants(os.getpid())
        with contextlib.suppress(BaseException):
            if data:
                write_all(outcome_fd, data)
                exit_code = 0
        # The two EOFs tell the orchestrator the attempt is over.
        for fd in (outcome_fd, 1, 2):
            with contextlib.suppress(OSError):
                os.close(fd)
        os._exit(exit_code)


def _die_with(parent: int) -> None:
    """Kill this attempt's whole tree when ``parent`` dies: a signal, so it costs nothing.

    SIGHUP, which tasks rarely handle: one that installs its own handler for it gives
    this up. A parent already gone before the kernel was asked counts as dying now.
    """

    def parent_died(signal_number: int, frame: Any) -> None:
        with contextlib.suppress(BaseException):
            procs.kill_descendants(os.getpid())
        os._exit(71)

    signal.signal(signal.SIGHUP, parent_died)
    procs.die_with_parent(signal.SIGHUP)
    if os.getppid() != parent:
        parent_died(signal.SIGHUP, None)


def _with_arguments(request: AttemptRequest, arguments: bytes) -> AttemptRequest:
    if not arguments:
        return request
    try:
        loaded = pickle.loads(arguments)
    except Exception as error:  # the task fails with the reason; the run goes on
        msg = (
            f"task {request.task_key!r}: its arguments could not be unpickled in its process "
            f"({type(error).__name__}: {error}); return plain data from upstream tasks"
        )

        def fail() -> None:
            raise RuntimeError(msg)

        return attrs.evolve(request, fn=fail, arguments={})
    return attrs.evolve(request, arguments=loaded)


def terminate(signal_number: int, frame: Any) -> None:
    # A timeout or cancel: unwind the task's code so its finally blocks run.
    raise SystemExit(128 + signal_number)


def _pickle_outcome(outcome: AttemptOutcome) -> bytes:
    try:
        # The C pickler first: several times faster; cloudpickle for what it cannot do
        # (lambdas, classes defined in a function or in the flow's own file).
        return pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        try:
            return cloudpickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            return pickle.dumps(_unpicklable_result(outcome, error))


def _unpicklable_result(outcome: AttemptOutcome, error: Exception) -> AttemptOutcome:
    message = (
        f"task {outcome.task_key!r} returned {type(outcome.result).__name__} object "
        f"{_short_repr(outcome.result)}, which cannot be pickled to pass it back "
        f"({type(error).__name__}: {error}). Return plain data (numbers, strings, lists, "
        "dicts, dataframes), or write the object to a file and return its path"
    )
    return failed_outcome(
        outcome.task_key,
        outcome.attempt,
        ErrorInfo(type_name="PicklingError", message=message),
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
    )


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else f"{text[:77]}..."
