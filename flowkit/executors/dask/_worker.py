"""The worker side of the dask executor: each attempt in its own supervised subprocess.

``run_on_worker`` is the function the dask executor submits, once per attempt.
It runs in a worker thread and asks the worker process's ``Zygote`` (a warm
``python -m flowkit.executors.dask._worker --serve``) to fork a supervisor: a child
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
import pickle
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import cloudpickle

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


# -- the zygote: a warm interpreter per worker process ------------------------------------
class Zygote:
    """``python -m flowkit.executors.dask._worker --serve``: forks one supervisor per attempt.

    Started by the first attempt a worker process runs, with that worker's
    ``sys.path``, it imports flowkit once; each attempt then costs a ``fork``,
    not an interpreter start. Its stdin is a lifeline: it exits with its worker.
    A request is one byte on a socket with four descriptors (outcome, status and
    output write ends, lifeline read end); the answer is the supervisor's pid.
    """

    _lock = threading.Lock()
    _current: Zygote | None = None

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.pathsep.join(entry for entry in sys.path if entry)
        command = [sys.executable, "-m", "flowkit.executors.dask._worker", "--serve"]
        self.process = subprocess.Popen(
            [*command, str(child_end.fileno())],
            env={**os.environ, "PYTHONPATH": path},  # what the worker imports, it does
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            pass_fds=(child_end.fileno(),),
        )
        child_end.close()
        self.control = parent_end
        self.control.settimeout(60)

    @classmethod
    def spawn(cls, fds: list[int]) -> int:
        """Have this worker's zygote fork a supervisor with ``fds``; its pid."""
        with cls._lock:
            try:
                return cls._running().request(fds)
            except OSError:  # it died since the last attempt: a new one, once
                cls._running().close()
                cls._current = None
                return cls._running().request(fds)

    @classmethod
    def _running(cls) -> Zygote:
        if cls._current is None or cls._current.process.poll() is not None:
            cls._current = Zygote()
        return cls._current

    def request(self, fds: list[int]) -> int:
        socket.send_fds(self.control, [b"s"], fds)
        answer = b""
        while len(answer) < 8:
            chunk = self.control.recv(8 - len(answer))
            if not chunk:
                msg = "the zygote exited"
                raise ConnectionError(msg)
            answer += chunk
        return int.from_bytes(answer, "big")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


def serve(control_fd: int) -> None:
    """The zygote's loop: one forked supervisor per request, until its worker is gone."""
    import gc

    # Imported here, once, so that every supervisor and attempt forks with them loaded
    # (flowkit's own __init__ first, as for any of its modules: the whole package).
    from flowkit.executors import _forkserver as forkserver  # noqa: F401

    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(0, selectors.EVENT_READ, "lifeline")
    gc.freeze()
    while True:
        for key, _ in selector.select():
            if key.data == "lifeline":
                if not os.read(0, 4096):
                    os._exit(0)
                continue
            try:
                data, fds, _, _ = socket.recv_fds(control, 16, 4)
            except OSError:
                os._exit(0)
            if not data:
                os._exit(0)
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                selector.close()
                control.close()
                outcome_fd, status_fd, output_fd, lifeline_fd = fds
                for source, target in ((lifeline_fd, 0), (output_fd, 1), (output_fd, 2)):
                    os.dup2(source, target)
                os.close(lifeline_fd)
                os.close(output_fd)
                supervise(outcome_fd, status_fd)
            for fd in fds:
                os.close(fd)
            control.sendall(pid.to_bytes(8, "big"))


# -- the supervisor process ---------------------------------------------------------------
def supervise(outcome_fd: int, status_fd: int) -> None:
    """The supervisor: fork the attempt, pass signals on, leave nothing behind. Never returns."""
    from flowkit.executors import _forkserver as forkserver
    from flowkit.executors import _processes as procs

    procs.become_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    os.set_blocking(wake_read, False)
    signal.set_wakeup_fd(wake_write)
    for signal_number in (signal.SIGTERM, signal.SIGUSR1, signal.SIGCHLD):
        signal.signal(signal_number, lambda *_: None)
    request = _read_request(outcome_fd, status_fd)
    prepared = forkserver.Prepared.make()
    pid = os.fork()
    if pid == 0:  # the attempt process
        signal.set_wakeup_fd(-1)
        for fd in (wake_read, wake_write, status_fd):
            os.close(fd)
        signal.signal(signal.SIGTERM, forkserver.terminate)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        forkserver.run_attempt(request, b"", os.dup(1), outcome_fd, prepared)
    os.close(outcome_fd)
    status = None
    selector = selectors.DefaultSelector()
    selector.register(wake_read, selectors.EVENT_READ, "signal")
    selector.register(0, selectors.EVENT_READ, "lifeline")
    try:
        while status is None:
            for key, _ in selector.select():
                if key.data == "lifeline":
                    if not os.read(0, 4096):  # the worker is gone: so is everything here
                        selector.unregister(0)
                        status = _kill_all(pid, procs)
                    continue
                with contextlib.suppress(BlockingIOError):
                    for signal_number in os.read(wake_read, 4096):
                        if signal_number == signal.SIGTERM:
                            procs.signal_group(pid, signal.SIGTERM)
                        elif signal_number == signal.SIGUSR1:
                            status = _kill_all(pid, procs)
                for child, child_status in procs.reap_children():
                    if child == pid:
                        status = child_status
        # The attempt is over: whatever it left behind goes with it. One that exited
        # cleanly has killed its own; after a crash, look again for late adoptions.
        clean = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        settle = 0.0 if clean else 0.01
        for child, child_status in procs.kill_descendants(os.getpid(), settle=settle):
            if child == pid and status is None:
                status = child_status
    finally:
        with contextlib.suppress(OSError):
            os.write(status_fd, str(status if status is not None else -1).encode())
        os._exit(0)


def _kill_all(pid: int, procs: Any) -> int | None:
    for child, child_status in procs.kill_descendants(os.getpid(), settle=0.01):
        if child == pid:
            return child_status
    return None


def _read_request(outcome_fd: int, status_fd: int) -> Any:
    """The attempt's request from stdin; a failed outcome, then exit, if it cannot be read."""
    from flowkit.executors._base import AttemptRequest

    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        chunk = os.read(0, _CHUNK)
        if not chunk:  # the worker went away before sending it all
            os._exit(0)
        data += chunk
    fields: dict[str, Any] = {}
    try:
        fn_bytes, fields, home = pickle.loads(data[4:])
        # The orchestrator's home where this worker sees it (one host, a shared folder):
        # child runs of run-flow and for-each tasks are recorded in the run's own store.
        if home and os.path.isdir(home):
            os.environ["FLOWKIT_HOME"] = home
        return AttemptRequest(fn=cloudpickle.loads(fn_bytes), **fields)
    except Exception as error:
        message = (
            f"task {fields.get('task_key', '?')!r} could not be loaded on this dask worker "
            f"({type(error).__name__}: {error}). Workers need flowkit and every package the "
            "flow imports installed, at the versions the orchestrator has"
        )
        _fail(outcome_fd, fields, "WorkerSetupError", message)
        os.write(status_fd, b"0")
        os._exit(0)


def _fail(outcome_fd: int, fields: dict[str, Any], type_name: str, message: str) -> None:
    from flowkit._state import ErrorInfo
    from flowkit.executors._base import failed_outcome
    from flowkit.executors._forkserver import write_all

    outcome = failed_outcome(
        fields.get("task_key", "?"),
        fields.get("attempt", 0),
        ErrorInfo(type_name=type_name, message=message),
    )
    write_all(outcome_fd, pickle.dumps(outcome))
    os.close(outcome_fd)


if __name__ == "__main__":
    serve(int(sys.argv[2]))
