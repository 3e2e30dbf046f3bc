"""The worker side of the dask executor: each attempt in its own supervised subprocess.

``run_on_worker`` is the function the dask executor submits, once per attempt.
It runs in a worker thread and asks the worker process's ``Zygote`` (a warm
``python -m flowkit.executors.dask._zygote --serve``, ``_zygote.py``) to fork a supervisor: a child
subreaper that reads the attempt's payload from its stdin and forks the attempt
process, which runs ``forkserver.run_attempt`` — the entry point of the local
executor, so an attempt on a worker is isolated, reports and cleans up exactly
as a local one.

Pipes between the worker thread and the supervisor:

    stdin    the payload (4-byte length, then the pickle), then held open as a
             lifeline: at EOF (the worker died) the supervisor kills everything
    stdout   the attempt's stdout and stderr, streamed back as ``log_event``s
    outcome  the attempt's pickled ``AttemptOutcome``
    status   the attempt process's wait status, as text, once it has ended

Signals to the supervisor: SIGTERM is passed on to the attempt's process group
(its ``finally`` blocks run); SIGUSR1 kills every descendant at once.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import time
from typing import Any

from flowkit.executors.dask._zygote import Zygote

#: How often the worker thread looks for a cancel and sends the output it has.
POLL_SECONDS = 0.1
_CHUNK = 65536
#: Worker statuses in which an attempt goes on; in any other the worker is shutting down.
_WORKING = frozenset({"running", "paused", "closing_gracefully", "init"})


# -- the worker thread ------------------------------------------------------------------
def run_on_worker(
    payload: bytes,
    *,
    token: str,
    topic: str,
    claim: tuple[str, ...] | None,
    timeout: float | None,
    grace_period: float,
) -> dict[str, Any]:
    """Run one attempt in a supervised subprocess on this worker; return what it left.

    ``token`` names the attempt in the events sent on ``topic`` (``started``,
    output lines, ``stopped``). ``claim`` is a key under which the attempt
    registers with the scheduler before it starts: dask runs a task again when
    its worker dies, and a second run of a started attempt must not run the
    task again (flowkit retries per ``retries``), so it reports the loss instead.
    """
    worker = _current_worker()
    address = worker.address if worker is not None else ""
    if worker is not None and claim is not None:
        earlier = _claim(worker, claim, address)
        if earlier is not None:
            return {"lost": earlier, "worker": address}
    watch = _Watch(worker, topic, token)
    if watch.cancelled():
        watch.send({"stopped": True})
        return {"cancelled": True, "worker": address}
    attempt = _Supervised(payload)
    watch.send({"started": True, "worker": address})
    deadline = None if timeout is None else time.monotonic() + timeout
    stopping_since: float | None = None
    killed = False
    timed_out = cancelled = False
    while not attempt.over:
        attempt.pump(POLL_SECONDS)
        watch.flush_output(attempt.output)
        now = time.monotonic()
        if stopping_since is None:
            timed_out = deadline is not None and now >= deadline
            cancelled = watch.cancelled()
            if timed_out or cancelled:
                stopping_since = now
                attempt.signal(signal.SIGTERM)
        elif not killed and now - stopping_since >= grace_period:
            killed = True
            attempt.signal(signal.SIGUSR1)
        elif killed and now - stopping_since >= grace_period + 10:
            attempt.kill_everything()  # the supervisor itself does not answer
    attempt.close()
    watch.flush_output(attempt.output, final=True)
    if stopping_since is not None:
        watch.send({"stopped": True})
    return {
        "worker": address,
        "outcome": bytes(attempt.outcome),
        "status": attempt.status,
        "output": bytes(attempt.output),
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "timed_out": timed_out,
        "cancelled": cancelled,
    }


def import_attribute(module: str, name: str) -> Any:
    """``module.name``, imported: how a task's function refers to an installed object."""
    import importlib

    return getattr(importlib.import_module(module), name)


def _current_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):  # not in a dask worker (a test calls it directly)
        return None


def _claim(worker: Any, key: tuple[str, ...], address: str) -> str | None:
    """Register this attempt with the scheduler; the worker that had it, if one did."""
    from distributed.utils import sync

    keys = list(key)
    earlier = sync(worker.loop, worker.scheduler.get_metadata, keys=keys, default=None)
    if earlier is not None:
        return str(earlier)
    sync(worker.loop, worker.scheduler.set_metadata, keys=keys, value=address)
    return None


class _Watch:
    """What the worker thread tells the orchestrator, and asks the worker, about an attempt."""

    def __init__(self, worker: Any, topic: str, token: str) -> None:
        self.worker = worker
        self.topic = topic
        self.token = token
        self.key = worker.get_current_task() if worker is not None else None
        self.sent = 0  # bytes of output sent so far (whole lines only)
        self.lines = 0
        self.last_flush = 0.0

    def cancelled(self) -> bool:
        """Whether the orchestrator cancelled this attempt, or went away."""
        if self.worker is None:
            return False
        if self.worker.status.name not in _WORKING:  # the worker is closing: lost its scheduler
            return True
        task = self.worker.state.tasks.get(self.key)
        return task is None or task.state in ("cancelled", "released")

    def send(self, message: dict[str, Any]) -> None:
        if self.worker is not None:
            with contextlib.suppress(Exception):
                self.worker.log_event(self.topic, {"token": self.token, **message})

    def flush_output(self, output: bytearray, *, final: bool = False) -> None:
        """Send the whole lines printed since the last call, at most every 0.2 s."""
        now = time.monotonic()
        if not final and now - self.last_flush < 0.2:
            return
        end = len(output) if final else output.rfind(b"\n", self.sent) + 1
        if end <= self.sent:
            return
        text = bytes(output[self.sent : end]).decode(errors="replace")
        lines = text.split("\n")
        if lines and not lines[-1]:
            lines.pop()
        self.send({"first": self.lines, "lines": lines})
        self.sent = end
        self.lines += len(lines)
        self.last_flush = now


class _Supervised:
    """The supervisor process of one attempt, seen from the worker thread."""

    def __init__(self, payload: bytes) -> None:
        self.output = bytearray()
        self.outcome = bytearray()
        self.status_text = bytearray()
        outcome_read, outcome_write = os.pipe()
        status_read, status_write = os.pipe()
        output_read, output_write = os.pipe()
        self.started_at = time.time()
        self.ended_at: float | None = None
        lifeline_read, lifeline_write = os.pipe()
        fds = [outcome_write, status_write, output_write, lifeline_read]
        try:
            self.pid = Zygote.spawn(fds)
        finally:
            for fd in fds:
                os.close(fd)
        self.lifeline = open(lifeline_write, "wb")  # noqa: SIM115 - closed in close()
        self.selector = selectors.DefaultSelector()
        for fd, buffer in (
            (output_read, self.output),
            (outcome_read, self.outcome),
            (status_read, self.status_text),
        ):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, buffer)
        try:
            self.lifeline.write(len(payload).to_bytes(4, "big") + payload)
            self.lifeline.flush()
        except OSError:
            pass  # it died at once; its exit status says how

    @property
    def over(self) -> bool:
        return not self.selector.get_map()

    @property
    def status(self) -> int | None:
        text = self.status_text.decode().strip()
        return int(text) if text else None

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            try:
                data = os.read(key.fd, _CHUNK)
            except BlockingIOError:
                continue
            if data:
                key.data.extend(data)
            else:
                self.selector.unregister(key.fd)
                os.close(key.fd)

    def signal(self, signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal_number)

    def kill_everything(self) -> None:
        from flowkit.executors import _processes as procs

        procs.kill_tree(self.pid)

    def close(self) -> None:
        # The three EOFs: the supervisor has written the status and is exiting, its
        # attempt and everything below gone; the zygote reaps it.
        self.ended_at = time.time()
        with contextlib.suppress(OSError):
            self.lifeline.close()
        for key in list(self.selector.get_map().values()):
            os.close(key.fd)
        self.selector.close()
