"""The zygote of a dask worker process: it forks the attempt processes, watches and reaps them.

A warm ``python -m flowkit.executors.dask._zygote --serve`` per worker process
(``_handle.Zygote`` starts it with the worker's ``sys.path``): it imports
flowkit once, and the modules the flow's functions import as it learns them, so
an attempt costs a ``fork``, not an interpreter start and the imports. It keeps
a standby process ready, forked ahead of need, so that starting an attempt is a
message, not a fork; each process runs one attempt (``_attempt_process.run_attempt``:
its own session and process group, a child subreaper, dying with the zygote)
and exits, as the local executor's do. The zygote is a child subreaper too:
whatever a killed attempt left behind comes back to it and is killed. On one
timer in its loop it samples every attempt's process tree (``_watch.MemoryWatch``)
and kills a tree that holds more than its task's ``memory``.

The worker's threads ask on one control socket: a framed ``("start", memory,
modules)`` with four descriptors (SCM_RIGHTS):

    channel  the zygote's end of a socket of the attempt's own
    payload  read end: the request (4-byte length, then the pickle), then ``g`` once its
             claim is the worker's; the attempt reads it (no ``g``: it exits, nothing run)
    output   write end: the attempt's stdout and stderr
    outcome  write end: the attempt's pickled ``AttemptOutcome``

On the channel, framed pickles:

    zygote -> worker thread   ("started", pid); ("memory", rss, limit) just before the
                              tree is killed for it; ("exited", wait_status, note), note
                              None or why a SIGKILL nobody sent was probably the kernel's
    worker thread -> zygote   ("signal", number) for the attempt's process group;
                              ("kill",) for its whole tree

An EOF on a channel (its worker thread is gone) kills that attempt's tree; an
EOF on stdin (the worker process is gone) kills every tree, and the zygote exits.
A standby process waits on a socket of its own for the other three descriptors;
at EOF there (the zygote is gone, or retired it) it exits, having run nothing.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import importlib
import os
import pickle
import selectors
import signal
import socket
import sys
from typing import Any

import attrs
import cloudpickle

from flowkit._home import HOME_VARIABLE
from flowkit._state import ErrorInfo
from flowkit.executors import _processes as procs
from flowkit.executors._attempt_process import MAX_STANDBY, Prepared, run_attempt, terminate
from flowkit.executors._base import failed_outcome
from flowkit.executors._watch import MemoryWatch, out_of_memory_note
from flowkit.executors._wire import FrameReader, decode_request, frame, write_all

_CHUNK = 65536
#: What a standby process shows in /proc/PID/comm until it is handed an attempt.
STANDBY_NAME = "flowkit-standby"


def serve(control_fd: int) -> None:
    """The zygote's loop, until its worker is gone; everything below it dies with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle
    procs.become_subreaper()
    # A segfault's Python traceback goes to fd 2: the attempt's log, in an attempt process.
    faulthandler.enable(file=2, all_threads=True)
    try:
        _Server(socket.socket(fileno=control_fd)).loop()
    finally:
        procs.kill_descendants(os.getpid(), settle=0.01)
        os._exit(0)


@attrs.define
class _Running:
    """An attempt process of the zygote: the channel to its worker thread."""

    channel: socket.socket
    reader: FrameReader
    open: bool = True


class _Server:
    """The zygote's state: its sockets, attempts, standby processes and the memory watch."""

    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.pid = os.getpid()
        # Made once here rather than in every attempt process (see Prepared).
        self.prepared = Prepared.make()
        self.exits = procs.ChildExits()
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ, "control")
        self.selector.register(0, selectors.EVENT_READ, "lifeline")
        self.selector.register(self.exits.fd, selectors.EVENT_READ, "child")
        self.reader = FrameReader(control)
        self.running: dict[int, _Running] = {}
        #: Attempts signalled or killed on purpose: a SIGKILL of theirs is not the kernel's.
        self.signalled: set[int] = set()
        #: Standby processes: pid -> this end of the socket their descriptors come on.
        self.standby: dict[int, socket.socket] = {}
        self.wanted = 1
        #: Modules the flow's functions import that could not be imported here.
        self.unimportable: set[str] = set()
        self.watch = MemoryWatch()

    def loop(self) -> None:
        # Everything alive now is shared with every attempt process; keep the garbage
        # collector off it, or its first pass in a child would copy each page it touches.
        gc.freeze()
        while True:
            self._fill_standby()
            for key, _ in self.selector.select(self.watch.next_sample()):
                if key.data == "lifeline":
                    if not os.read(0, 4096):
                        return  # the worker is gone: serve's finally kills everything
                elif key.data == "child":
                    self.exits.drain()
                    self._reap()
                elif key.data == "control":
                    if not self.reader.fill():
                        return
                    for _, memory, modules in self.reader.messages():
                        self._start(memory)
                        self._import(modules)
                else:
                    self._order(key.data)
            self._check_memory()

    # -- attempts ------------------------------------------------------------------------
    def _start(self, memory: int | None) -> None:
        """Hand the descriptors to a standby process: it becomes the attempt's process."""
        channel_fd, *fds = self.reader.take_fds(4)
        channel = socket.socket(fileno=channel_fd)
        if not self.standby:
            self._fork_standby()
        pid, handle = self.standby.popitem()
        try:
            socket.send_fds(handle, [b"s"], fds)
        except OSError:
            pass  # the standby died: its exit is reaped and reported as the attempt's
        finally:
            handle.close()
            for fd in fds:
                os.close(fd)
        running = _Running(channel=channel, reader=FrameReader(channel))
        self.running[pid] = running
        self.selector.register(channel, selectors.EVENT_READ, pid)
        self.watch.add(pid, memory)
        self._send(running, ("started", pid))
        self.wanted = min(MAX_STANDBY, max(self.wanted, len(self.running)))

    def _import(self, modules: list[str]) -> None:
        """Import here what the flow's functions import, so that later attempts have it."""
        new = [name for name in modules if name not in sys.modules]
        new = [name for name in new if name not in self.unimportable]
        for name in new:
            try:
                importlib.import_module(name)
            except BaseException:  # its attempts import it themselves, and fail as they may
                self.unimportable.add(name)
        if any(name in sys.modules for name in new):
            gc.freeze()
            self._retire_standby()  # forked without them

    def _order(self, pid: int) -> None:
        """What a worker thread asks about its attempt: a signal, a kill, or (EOF) it left."""
        running = self.running.get(pid)
        if running is None or not running.open:
            return  # reaped earlier in the same round
        if not running.reader.fill():  # its worker thread is gone: so goes the attempt
            self._close(running)
            self.signalled.add(pid)
            procs.kill_tree(pid)
            return
        for message in running.reader.messages():
            self.signalled.add(pid)
            if message[0] == "signal":
                procs.signal_group(pid, message[1])
            elif message[0] == "kill":
                procs.kill_tree(pid)

    def _check_memory(self) -> None:
        """Kill every attempt tree over its memory limit, having said so first."""
        for pid, rss, limit in self.watch.sample():
            running = self.running.get(pid)
            if running is not None:
                self._send(running, ("memory", rss, limit))
                self.signalled.add(pid)
                procs.kill_tree(pid)

    def _reap(self) -> None:
        """Report every attempt process that ended, after killing the orphans it left."""
        ended = procs.reap_attempts(lambda pid: pid in self.running or pid in self.standby)
        for pid, status in ended:
            watched = self.watch.remove(pid)
            handle = self.standby.pop(pid, None)
            if handle is not None:  # a standby killed from outside: another takes its place
                handle.close()
            running = self.running.pop(pid, None)
            if running is None:
                continue
            note = None
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            if killed and pid not in self.signalled:
                note = out_of_memory_note(watched)
            self.signalled.discard(pid)
            self._send(running, ("exited", status, note))
            self._close(running)

    def _send(self, running: _Running, message: tuple[Any, ...]) -> None:
        if running.open:
            with contextlib.suppress(OSError):
                running.channel.sendall(frame(message))

    def _close(self, running: _Running) -> None:
        if running.open:
            running.open = False
            self.selector.unregister(running.channel)
            running.channel.close()

    # -- standby processes ---------------------------------------------------------------
    def _fill_standby(self) -> None:
        while len(self.standby) < self.wanted:
            self._fork_standby()

    def _retire_standby(self) -> None:
        for handle in self.standby.values():
            handle.close()  # it exits at the EOF; reaped as any child
        self.standby.clear()

    def _fork_standby(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._become_attempt(theirs)
        theirs.close()
        self.standby[pid] = ours

    def _become_attempt(self, handle: socket.socket) -> None:
        """The standby process: waits for its attempt, runs it. Never returns."""
        try:
            self.exits.close()
            signal.signal(signal.SIGTERM, terminate)  # unwinds the task through finally
            self.selector.close()
            self.control.close()
            for running in self.running.values():
                running.channel.close()
            for other in self.standby.values():
                other.close()
            name = _rename(STANDBY_NAME)
            data, fds, _, _ = socket.recv_fds(handle, 16, 3)
            if not data or len(fds) != 3:
                os._exit(0)  # retired, or the zygote is gone: it ran nothing
            handle.close()
            if name:
                _rename(name)
            payload_fd, output_fd, outcome_fd = fds
            request, arguments = _read_request(payload_fd, outcome_fd)
        except BaseException:  # a signal while it waited: nothing ran, nothing to report
            os._exit(0)
        run_attempt(request, arguments, output_fd, outcome_fd, self.prepared, parent=self.pid)


def _rename(name: str) -> str:
    """Set this process's name as ``ps`` shows it (Linux; elsewhere nothing); the old one."""
    try:
        with open("/proc/self/comm", "r+") as handle:
            old = handle.read().strip()
            handle.seek(0)
            handle.write(name)
    except OSError:
        return ""
    return old


def _read_request(payload_fd: int, outcome_fd: int) -> Any:
    """The attempt's request and arguments, once told to go; exit if it is not told.

    The request comes while its worker thread claims the attempt; a ``g`` after it
    says the claim is this worker's. A request that cannot be loaded fails the
    attempt, once told to go, with the reason.
    """
    data = _read_until(payload_fd, bytearray(), 4)
    size = int.from_bytes(data[:4], "big")
    data = _read_until(payload_fd, data, 4 + size)
    fields: dict[str, Any] = {}
    try:
        fn_bytes, fields, arguments, home = pickle.loads(memoryview(data)[4 : 4 + size])
        request = decode_request(fields, cloudpickle.loads(fn_bytes))
    except Exception as error:
        failure: Exception | None = error
    else:
        failure = None
    if _read_until(payload_fd, data, 5 + size)[4 + size :] != b"g":
        os._exit(0)
    os.close(payload_fd)
    if failure is None:
        # The orchestrator's home where this worker sees it (one host, a shared folder):
        # child runs of run-flow and for-each tasks are recorded in the run's own store.
        if home and os.path.isdir(home):
            os.environ[HOME_VARIABLE] = home
        return request, arguments
    message = (
        f"task {fields.get('task_key', '?')!r} could not be loaded on this dask worker "
        f"({type(failure).__name__}: {failure}). Workers need flowkit and every package the "
        "flow imports installed, at the versions the orchestrator has"
    )
    outcome = failed_outcome(
        fields.get("task_key", "?"),
        fields.get("attempt", 0),
        ErrorInfo(type_name="WorkerSetupError", message=message),
    )
    write_all(outcome_fd, pickle.dumps(outcome))
    os._exit(0)


def _read_until(fd: int, data: bytearray, size: int) -> bytearray:
    """``data`` and what ``fd`` sends next, ``size`` bytes at least; exit at an early EOF."""
    while len(data) < size:
        chunk = os.read(fd, _CHUNK)
        if not chunk:  # no go: the claim was taken, or the worker thread went away
            os._exit(0)
        data += chunk
    return data


if __name__ == "__main__":
    serve(int(sys.argv[2]))
