"""The fork server: a pre-warmed process that forks one attempt process per request.

The local executor forks the fork server from the orchestrator once per run,
after the flow's module is imported and its plan built, so an attempt costs
one ``fork`` and not an interpreter start and a re-import. Both the fork
server and each attempt process are child subreapers: whatever a task starts,
even a grandchild that called ``setsid``, stays below one of them and is
killed when its attempt ends.

Messages on the control socket are pickled tuples, framed by
``multiprocessing.connection.Connection``:

    orchestrator -> server   ("start", task_key, attempt, params, upstream_values, result_path)
                             followed by the attempt's output pipe, passed with SCM_RIGHTS
                             ("exit",)
    server -> orchestrator   ("started", task_key, attempt, pid)
                             ("exited", task_key, attempt, wait_status)
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
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import cloudpickle

from flowkit.executors import procs
from flowkit.executors.base import AttemptOutcome, AttemptRequest
from flowkit.executors.child import execute
from flowkit.state import ErrorInfo, TaskState

if TYPE_CHECKING:
    from flowkit.plan import Plan


def serve(plan: Plan, run_id: str, control: socket.socket) -> None:
    """The fork server's loop; runs until told to exit or the orchestrator is gone."""
    # Ctrl-C in the terminal is the orchestrator's to handle; it then tells us what to kill.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    procs.become_subreaper()
    # Everything alive now is shared with every attempt process; keep the garbage
    # collector off it, or its first pass in a child would copy each page it touches.
    gc.freeze()
    connection = Connection(os.dup(control.fileno()))
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    running: dict[int, tuple[str, int]] = {}
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                    _reap(running, connection)
                    continue
                try:
                    message = pickle.loads(connection.recv_bytes())
                except (EOFError, OSError):
                    return  # the orchestrator is gone: the finally clause kills everything
                if message[0] == "exit":
                    return
                _, task_key, attempt, params, upstream_values, result_path = message
                _, fds, _, _ = socket.recv_fds(control, 1, 1)
                pid = os.fork()
                if pid == 0:  # the attempt process
                    selector.close()
                    os.close(wake_read)
                    os.close(wake_write)
                    control.close()
                    connection.close()
                    request = AttemptRequest(
                        run_id=run_id,
                        flow_name=plan.name,
                        task_key=task_key,
                        attempt=attempt,
                        fn=plan.tasks[task_key].fn,
                        params=params,
                        upstream_values=upstream_values,
                        upstream_edges=plan.upstream,
                    )
                    run_attempt(request, output_fd=fds[0], result_path=result_path)
                os.close(fds[0])
                running[pid] = (task_key, attempt)
                connection.send_bytes(pickle.dumps(("started", task_key, attempt, pid)))
    finally:
        for pid in list(running):
            procs.signal_group(pid, signal.SIGKILL)
        procs.kill_descendants(os.getpid())
        with contextlib.suppress(OSError):
            connection.close()
        os._exit(0)


def _reap(running: dict[int, tuple[str, int]], connection: Connection) -> None:
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
                connection.send_bytes(pickle.dumps(("exited", task_key, attempt, status)))


def run_attempt(request: AttemptRequest, *, output_fd: int, result_path: str) -> None:
    """The attempt process: run the task, write the outcome, leave nothing behind. Never returns."""
    exit_code = 0
    try:
        os.setsid()  # its own session and process group: a timeout kills the whole group
        procs.become_subreaper()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        # Fresh line-buffered streams on the pipe: whatever sys.stdout was in the
        # orchestrator (a notebook's, pytest's capture), the task's prints go to the pipe.
        sys.stdout = sys.__stdout__ = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        # A segfault's Python traceback goes to the attempt's log, not the orchestrator's.
        faulthandler.enable(file=sys.stderr, all_threads=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        outcome = execute(request)
        _write_outcome(outcome, result_path)
    except BaseException:
        exit_code = 70
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        with contextlib.suppress(BaseException):
            procs.kill_descendants(os.getpid())
        # End of output: with the outcome written, this tells the orchestrator the
        # attempt is over without waiting for the exit to travel through the server.
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                os.close(fd)
        os._exit(exit_code)


def _terminate(signal_number: int, frame: Any) -> None:
    # A timeout or cancel: unwind the task's code so its finally blocks run.
    raise SystemExit(128 + signal_number)


def _write_outcome(outcome: AttemptOutcome, result_path: str) -> None:
    try:
        # The C pickler first: several times faster; cloudpickle for what it cannot do
        # (lambdas, classes defined in a function or in the flow's own file).
        data = pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        try:
            data = cloudpickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            data = pickle.dumps(_unpicklable_result(outcome, error))
    temporary = f"{result_path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, result_path)


def _unpicklable_result(outcome: AttemptOutcome, error: Exception) -> AttemptOutcome:
    message = (
        f"task {outcome.task_key!r} returned {type(outcome.result).__name__} object "
        f"{_short_repr(outcome.result)}, which cannot be pickled to pass it back "
        f"({type(error).__name__}: {error}). Return plain data (numbers, strings, lists, "
        "dicts, dataframes), or write the object to a file and return its path"
    )
    return AttemptOutcome(
        task_key=outcome.task_key,
        attempt=outcome.attempt,
        state=TaskState.FAILED,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
        error=ErrorInfo(type_name="PicklingError", message=message),
    )


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else f"{text[:77]}..."
