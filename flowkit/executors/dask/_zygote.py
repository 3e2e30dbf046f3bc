"""The zygote and the supervisor of the dask executor's worker side (``_worker.py``).

The ``Zygote`` is a warm ``python -m flowkit.executors.dask._zygote --serve`` per
worker process, started with the worker's ``sys.path``: it forks one supervisor
per attempt, a child subreaper that reads the attempt's payload from its stdin
(then held open as a lifeline) and forks the attempt process through
``forkserver.run_attempt``.
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
from typing import Any

import cloudpickle

_CHUNK = 65536


# -- the zygote: a warm interpreter per worker process ------------------------------------
class Zygote:
    """``python -m flowkit.executors.dask._zygote --serve``: forks one supervisor per attempt.

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
        command = [sys.executable, "-m", "flowkit.executors.dask._zygote", "--serve"]
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
    request, arguments = _read_request(outcome_fd, status_fd)
    prepared = forkserver.Prepared.make()
    pid = os.fork()
    if pid == 0:  # the attempt process
        signal.set_wakeup_fd(-1)
        for fd in (wake_read, wake_write, status_fd):
            os.close(fd)
        signal.signal(signal.SIGTERM, forkserver.terminate)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        forkserver.run_attempt(request, arguments, os.dup(1), outcome_fd, prepared)
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
    """The attempt's request and arguments from stdin; a failed outcome, then exit, if not."""
    from flowkit._home import HOME_VARIABLE
    from flowkit.executors._wire import decode_request

    data = b""
    while len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        chunk = os.read(0, _CHUNK)
        if not chunk:  # the worker went away before sending it all
            os._exit(0)
        data += chunk
    fields: dict[str, Any] = {}
    try:
        fn_bytes, fields, arguments, home = pickle.loads(data[4:])
        # The orchestrator's home where this worker sees it (one host, a shared folder):
        # child runs of run-flow and for-each tasks are recorded in the run's own store.
        if home and os.path.isdir(home):
            os.environ[HOME_VARIABLE] = home
        return decode_request(fields, cloudpickle.loads(fn_bytes)), arguments
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
    from flowkit.executors._wire import write_all

    outcome = failed_outcome(
        fields.get("task_key", "?"),
        fields.get("attempt", 0),
        ErrorInfo(type_name=type_name, message=message),
    )
    write_all(outcome_fd, pickle.dumps(outcome))
    os.close(outcome_fd)


if __name__ == "__main__":
    serve(int(sys.argv[2]))
