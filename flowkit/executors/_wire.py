"""The wire: how an attempt request and the control messages travel between processes.

One codec for every isolating executor. A request travels as plain data
(``encode_request``): its fields without the function, which the receiving
side has (the fork server, from the plan) or gets apart (a dask worker, pickled
by value once per run), and with its arguments pickled on their own, so that an
argument that cannot be unpickled fails its attempt and not the process.

Control messages (fork server and orchestrator) are pickled tuples, each framed
by a 4-byte length (``frame`` / ``FrameReader``); file descriptors travel with
them (SCM_RIGHTS).
"""

from __future__ import annotations

import os
import pickle
import socket
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cloudpickle

from flowkit._state import ErrorInfo, TaskState
from flowkit.executors import _processes as procs
from flowkit.executors._base import AttemptOutcome, AttemptRequest, failed_outcome
from flowkit.executors._watch import limit_exceeded

#: Fields that do not travel with the others: the function, and the arguments.
_APART = frozenset({"fn", "arguments"})


def encode_request(
    request: AttemptRequest, *, with_edges: bool = True
) -> tuple[dict[str, Any], bytes]:
    """The request as (plain fields, pickled arguments); the function is not in it.

    Without ``with_edges`` the flow's ``upstream_edges`` stay behind too (a receiver
    that has the plan rebuilds them).

    Raises:
        Exception: an argument that cannot be pickled (see ``unpicklable_arguments``).
    """
    fields = {
        field.name: getattr(request, field.name)
        for field in attrs.fields(AttemptRequest)
        if field.name not in _APART and (with_edges or field.name != "upstream_edges")
    }
    fields["params"] = dict(request.params)
    fields["upstream_values"] = {key: dict(value) for key, value in request.upstream_values.items()}
    return fields, dumps_arguments(request.arguments)


def decode_request(
    fields: Mapping[str, Any],
    fn: Callable[..., Any],
    *,
    upstream_edges: Mapping[str, tuple[str, ...]] | None = None,
) -> AttemptRequest:
    """The request ``encode_request`` sent, with its function (arguments come apart)."""
    extra = {} if upstream_edges is None else {"upstream_edges": upstream_edges}
    return AttemptRequest(fn=fn, **fields, **extra)


def dumps_arguments(arguments: Any) -> bytes:
    """Pickle a task's arguments: the C pickler first, cloudpickle for what it cannot do."""
    if not arguments:
        return b""
    try:
        return pickle.dumps(dict(arguments), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cloudpickle.dumps(dict(arguments), protocol=pickle.HIGHEST_PROTOCOL)


def unpicklable_arguments(request: AttemptRequest, error: Exception) -> AttemptOutcome:
    culprits = []
    for name, value in {**request.params, **request.arguments}.items():
        try:
            dumps_arguments({name: value})
        except Exception:
            culprits.append(f"{name}={type(value).__name__}")
    message = (
        f"task {request.task_key!r}: its arguments or parameters "
        f"({', '.join(culprits) or 'all together'}) cannot be pickled to send them to its "
        f"process ({type(error).__name__}: {error}). Pass plain data: have the upstream task "
        "return it, or write the object to a file and pass its path"
    )
    return failed_outcome(
        request.task_key, request.attempt, ErrorInfo(type_name="PicklingError", message=message)
    )


def frame(message: tuple[Any, ...]) -> bytes:
    """A message as bytes on the control socket: a 4-byte length, then the pickle."""
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(4, "big") + payload


class FrameReader:
    """Reassembles framed messages, and the file descriptors sent along, from a socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.fds: list[int] = []

    def fill(self) -> bool:
        """Read what is there; False once the other end has closed."""
        try:
            data, fds, _, _ = socket.recv_fds(self.sock, 65536, 16)
        except BlockingIOError:
            return True
        except OSError:
            return False
        self.fds.extend(fds)
        self.buffer += data
        return bool(data)

    def messages(self) -> list[tuple[Any, ...]]:
        """Every complete message read so far, in order."""
        found = []
        while len(self.buffer) >= 4:
            size = int.from_bytes(self.buffer[:4], "big")
            if len(self.buffer) < 4 + size:
                break
            found.append(pickle.loads(self.buffer[4 : 4 + size]))
            del self.buffer[: 4 + size]
        return found

    def take_fds(self, count: int) -> list[int]:
        # Descriptors travel with the first byte of their message, so they are here.
        taken, self.fds = self.fds[:count], self.fds[count:]
        return taken


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a blocking descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def outcome_on_the_wire(outcome: AttemptOutcome) -> Any:
    """What an attempt process pickles for ``reported_outcome``: a success as a plain tuple.

    (started_at, ended_at, values, result) pickles without running the attrs class's and
    the enum's reduce methods in Python: fewer pages a forked process writes before it
    reports. Any other outcome travels as itself.
    """
    if outcome.state is TaskState.SUCCEEDED and outcome.error is None:
        return (outcome.started_at, outcome.ended_at, outcome.values, outcome.result)
    return outcome


def reported_outcome(
    task_key: str,
    attempt: int,
    *,
    data: bytes,
    status: int | None,
    process: str,
    memory: tuple[int, int] | None = None,
    note: str | None = None,
    **fields: Any,
) -> AttemptOutcome:
    """How an attempt ended, from what its process reported; one reading for every executor.

    ``data`` is its pickled outcome (``outcome_on_the_wire``; empty if it wrote none),
    ``status`` its wait status (None if not reaped), ``memory`` (rss, limit) when it was
    killed for its memory, ``note`` why an unexplained SIGKILL was probably the kernel's,
    ``process`` the words that name it ("task 'x' attempt 1"); ``fields`` go to a failed
    outcome (times, log).
    """
    exit_code, signal_number = procs.exit_of(status)
    fields.update(exit_code=exit_code, signal=signal_number)
    if memory is not None:  # killed for it, whatever it wrote meanwhile
        return failed_outcome(
            task_key, attempt, limit_exceeded(task_key, attempt, *memory), **fields
        )
    if data:
        try:
            outcome = pickle.loads(data)
        except Exception as error:
            crash = f"sent an outcome that could not be read ({type(error).__name__}: {error})"
        else:  # an attempt process that wrote its outcome exits 0 right after
            finished = {
                "log_path": fields.get("log_path"),
                "exit_code": 0 if status is None else exit_code,
                "signal": signal_number,
            }
            if isinstance(outcome, tuple):  # a success: (started, ended, values, result)
                started_at, ended_at, values, result = outcome
                return AttemptOutcome(
                    task_key=task_key,
                    attempt=attempt,
                    state=TaskState.SUCCEEDED,
                    started_at=started_at,
                    ended_at=ended_at,
                    values=values,
                    result=result,
                    **finished,
                )
            return attrs.evolve(outcome, **finished)
    else:
        ended = procs.describe_status(status) if status is not None and status >= 0 else "ended"
        crash = f"{ended} without reporting a result" + (f"; {note}" if note else "")
    error = ErrorInfo(type_name="ProcessCrashed", message=f"the process of {process} {crash}")
    return failed_outcome(task_key, attempt, error, **fields)
