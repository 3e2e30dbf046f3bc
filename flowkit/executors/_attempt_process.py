"""The attempt process: it runs exactly one attempt, reports its outcome and leaves nothing behind.

Forked by the fork server (local executor) or the zygote of a Dask worker;
``run_attempt`` never returns. What every attempt process needs and what costs
something to make (line-buffered streams, /dev/null) is made once, before any
fork, as ``Prepared``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from typing import Any, TextIO

import attrs
import cloudpickle

from flowkit._state import ErrorInfo
from flowkit.executors import _processes as procs
from flowkit.executors._attempt import execute
from flowkit.executors._base import AttemptOutcome, AttemptRequest, failed_outcome
from flowkit.executors._wire import outcome_on_the_wire, write_all

#: At most this many standby attempt processes wait at once, in a fork server or a zygote
#: (each keeps about as many as attempts ran at once).
MAX_STANDBY = 8


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


def isolate(parent: int | None) -> None:
    """Make this process an attempt's: its own session and process group, a subreaper.

    With ``parent`` (the fork server's pid), the attempt dies with its parent: the
    kernel sends it SIGHUP when the parent dies, however it died (SIGKILL by an
    out-of-memory killer included), and it kills everything it started and exits 71.
    """
    os.setsid()  # its own session and process group: a timeout kills the whole group
    procs.become_subreaper()
    if parent is not None:
        _die_with(parent)


def run_attempt(
    request: AttemptRequest,
    arguments: bytes,
    output_fd: int,
    outcome_fd: int,
    prepared: Prepared,
    *,
    parent: int | None = None,
    isolated: bool = False,
) -> None:
    """The attempt process: run the task, report the outcome, leave nothing behind.

    Isolates the process first (``isolate(parent)``) unless ``isolated`` says a
    standby process already did. Never returns. Exits 0 once the outcome is
    written, 70 if flowkit itself failed.
    """
    exit_code = 70
    data = b""
    try:
        if not isolated:
            isolate(parent)
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
    sent = outcome_on_the_wire(outcome)
    try:
        # The C pickler first: several times faster; cloudpickle for what it cannot do
        # (lambdas, classes defined in a function or in the flow's own file).
        return pickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        try:
            return cloudpickle.dumps(sent, protocol=pickle.HIGHEST_PROTOCOL)
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
