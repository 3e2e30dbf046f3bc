"""The worker side of the dask executor: each attempt a process of the worker's zygote.

``run_on_worker`` is the function the dask executor submits, once per attempt.
It runs in a worker thread: it claims the attempt on the scheduler (one round
trip, ``_claims``) and meanwhile has the worker process's zygote (``_zygote``)
hand the attempt a process, which gets its request and loads it; once the claim
is this worker's, the process is told to go. It runs
``_attempt_process.run_attempt`` — the entry point of the local executor, so an
attempt on a worker is isolated, reports and cleans up exactly as a local one.
One whose claim was taken is never told to go, and exits having run nothing.

The attempt's process, its pipes and its channel to the zygote are
``_handle.AttemptProcess``; its output is streamed back as ``log_event``s.
What it leaves comes back as the task's result; a small one comes as an event
on the run's topic instead, so the orchestrator has it at once, without a fetch.
"""

from __future__ import annotations

import contextlib
import signal
import time
from typing import Any

from flowkit.executors.dask import _claims as claims
from flowkit.executors.dask._handle import ZYGOTE_SECONDS, AttemptProcess

#: How often the worker thread looks for a cancel and sends the output it has.
POLL_SECONDS = 0.1
#: A report this small (outcome and output, in bytes) also travels as an event.
INLINE_REPORT_BYTES = 16 * 1024
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
    claim_handler: str | None = None,
    memory: int | None = None,
    modules: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run one attempt in its own process on this worker; return what it left.

    ``token`` names the attempt in the events sent on ``topic`` (``started``,
    output lines, ``stopped``, a small report). ``claim`` is the key under which
    the attempt registers with the scheduler before it starts, through the
    scheduler's ``claim_handler`` when it has one (``_claims``). ``memory`` is
    the most its process tree may hold, in bytes; ``modules`` are what its
    function imports, for the zygote to import once for the attempts to come.
    """
    worker = _current_worker()
    watch = _Watch(worker, topic, token)
    begun = _begin(
        watch, payload, claim=claim, claim_handler=claim_handler, memory=memory, modules=modules
    )
    if isinstance(begun, dict):
        return begun  # lost, or stopped before it began
    timed_out, cancelled = _supervise(begun, watch, timeout, grace_period)
    report = {
        "worker": watch.address,
        "outcome": bytes(begun.outcome),
        "status": begun.status,
        "output": bytes(begun.output),
        "started_at": begun.started_at,
        "ended_at": begun.ended_at,
        "timed_out": timed_out,
        "cancelled": cancelled,
        "memory": begun.memory,
        "note": begun.note,
    }
    if timed_out or cancelled:
        watch.flush_output(begun.output, final=True)
        watch.send({"stopped": True})
    elif len(begun.outcome) + len(begun.output) <= INLINE_REPORT_BYTES:
        # Its last lines are in it. The orchestrator holds the future a while: a small result.
        watch.send({"report": report})
        return {"worker": watch.address, "reported": True}
    else:
        watch.flush_output(begun.output, final=True)
    return report


def _begin(
    watch: _Watch,
    payload: bytes,
    *,
    claim: tuple[str, ...] | None,
    claim_handler: str | None,
    memory: int | None,
    modules: tuple[str, ...],
) -> AttemptProcess | dict[str, Any]:
    """The attempt's process, told to go once its claim is this worker's; else a report."""
    started = {"token": watch.token, "started": True, "worker": watch.address}
    # The claim goes first; the attempt's process gets its request meanwhile, a go after.
    claimed = None
    if watch.worker is not None and claim is not None:
        claimed = claims.claim(
            watch.worker, list(claim), handler=claim_handler, topic=watch.topic, started=started
        )
    else:
        watch.send(started)
    attempt = AttemptProcess(memory, modules, payload)
    try:
        earlier = claimed.result() if claimed is not None else None
        if earlier is not None:
            attempt.close()
            return {"lost": earlier, "worker": watch.address}
        if watch.cancelled():
            attempt.close()
            watch.send({"stopped": True})
            return {"cancelled": True, "worker": watch.address}
    except BaseException:
        attempt.close()
        raise
    attempt.go()
    return attempt


def _supervise(
    attempt: AttemptProcess, watch: _Watch, timeout: float | None, grace_period: float
) -> tuple[bool, bool]:
    """Stream its output until it is over; stop it at its timeout or cancel (how it was)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    stopping_since: float | None = None
    killed = False
    timed_out = cancelled = False
    while not attempt.over:
        attempt.pump(POLL_SECONDS)
        watch.flush_output(attempt.output)
        now = time.monotonic()
        if now - attempt.requested > ZYGOTE_SECONDS and not attempt.began():
            attempt.give_up()  # a zygote that does not answer: the attempt never began
        elif stopping_since is None:
            timed_out = deadline is not None and now >= deadline
            cancelled = watch.cancelled()
            if timed_out or cancelled:
                stopping_since = now
                attempt.order("signal", signal.SIGTERM)
        elif not killed and now - stopping_since >= grace_period:
            killed = True
            attempt.order("kill")
        elif killed and now - stopping_since >= grace_period + 10:
            attempt.give_up()  # the zygote does not answer: kill the tree from here
    attempt.close()
    return timed_out, cancelled


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


class _Watch:
    """What the worker thread tells the orchestrator, and asks the worker, about an attempt."""

    def __init__(self, worker: Any, topic: str, token: str) -> None:
        self.worker = worker
        self.address = worker.address if worker is not None else ""
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
