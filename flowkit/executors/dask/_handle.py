"""The worker process's hold on its zygote, and on each attempt process the zygote starts.

``Zygote`` starts the worker's zygote (``_zygote``) on first use, and again
when it died. ``AttemptProcess`` is one attempt seen from its worker thread:

    payload  a pipe: the request (4-byte length, then the pickle), then ``g`` once the
             attempt's claim is the worker's, read by the attempt process
    output   a pipe: the attempt's stdout and stderr
    outcome  a pipe: the attempt's pickled ``AttemptOutcome``
    channel  a socket to the zygote: the attempt's pid, a kill for its memory, its
             exit status; the thread's SIGTERM and kill orders
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from flowkit.executors import _processes as procs
from flowkit.executors._wire import FrameReader, frame

#: How long the zygote may take to say it forked an attempt (a new one imports flowkit).
ZYGOTE_SECONDS = 60.0
_CHUNK = 65536
_ZYGOTE = "flowkit.executors.dask._zygote"
#: ``-m`` of a module its package has imported already warns so; the zygote's is.
_QUIET_RUNPY = "ignore::RuntimeWarning:runpy"


class Zygote:
    """The zygote of this worker process, seen from its threads: started on first use.

    Started with the worker's ``sys.path``, its stdin a lifeline: it exits with
    its worker. One that died is replaced at the next attempt.
    """

    _lock = threading.Lock()
    _current: Zygote | None = None

    def __init__(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.pathsep.join(entry for entry in sys.path if entry)
        command = [sys.executable, "-W", _QUIET_RUNPY, "-m", _ZYGOTE, "--serve"]
        self.process = subprocess.Popen(
            [*command, str(child_end.fileno())],
            env={**os.environ, "PYTHONPATH": path},  # what the worker imports, it does
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            pass_fds=(child_end.fileno(),),
        )
        child_end.close()
        self.control = parent_end

    @classmethod
    def start(cls, memory: int | None, modules: tuple[str, ...], fds: list[int]) -> None:
        """Have this worker's zygote start an attempt process with ``fds`` (see ``_zygote``)."""
        message = frame(("start", memory, list(modules)))
        with cls._lock:
            try:
                cls._running().send(message, fds)
            except OSError:  # it died since the last attempt: a new one, once
                if cls._current is not None:
                    cls._current.close()
                cls._current = None
                cls._running().send(message, fds)

    @classmethod
    def _running(cls) -> Zygote:
        if cls._current is None or cls._current.process.poll() is not None:
            cls._current = Zygote()
        return cls._current

    def send(self, message: bytes, fds: list[int]) -> None:
        # The descriptors travel with the message's first bytes.
        sent = socket.send_fds(self.control, [message], fds)
        self.control.sendall(message[sent:])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.control.close()
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=5)


class AttemptProcess:
    """An attempt process of the zygote, seen from its worker thread.

    Its two pipes are watched until both are at EOF. The channel is read only then
    (or when asked): its "started" and a "memory" kill wait there meanwhile, and
    an attempt that left no outcome is over at its exit status, or the channel's EOF.
    """

    def __init__(self, memory: int | None, modules: tuple[str, ...], payload: bytes) -> None:
        self.output = bytearray()
        self.outcome = bytearray()
        self.pid: int | None = None
        self.status: int | None = None
        self.note: str | None = None
        #: (rss, limit) when the zygote killed it for its memory.
        self.memory: tuple[int, int] | None = None
        self.started_at = time.time()
        self.requested = time.monotonic()
        self.ended_at: float | None = None
        self.given_up = False
        payload_read, payload_write = os.pipe()
        output_read, output_write = os.pipe()
        outcome_read, outcome_write = os.pipe()
        self.channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            Zygote.start(
                memory, modules, [theirs.fileno(), payload_read, output_write, outcome_write]
            )
        except BaseException:
            for fd in (payload_write, output_read, outcome_read):
                os.close(fd)
            self.channel.close()
            raise
        finally:
            theirs.close()
            for fd in (payload_read, output_write, outcome_write):
                os.close(fd)
        self.channel.setblocking(False)
        self.channel_open = True
        self.reader = FrameReader(self.channel)
        self.selector = selectors.DefaultSelector()
        for fd, buffer in ((output_read, self.output), (outcome_read, self.outcome)):
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, buffer)
        self.pipes = 2
        self.going = False
        self.payload_write: int | None = payload_write
        os.set_blocking(payload_write, False)
        self.pending = memoryview(len(payload).to_bytes(4, "big") + payload)
        self._write_payload()  # what the pipe takes now; the rest once told to go

    def go(self) -> None:
        """Let the attempt begin: the rest of its request, and the go."""
        self.pending = memoryview(bytes(self.pending) + b"g")
        self.going = True
        self._write_payload()
        if self.payload_write is not None:  # a request bigger than the pipe holds
            self.selector.register(self.payload_write, selectors.EVENT_WRITE, "payload")

    @property
    def over(self) -> bool:
        """Both pipes at EOF, and an outcome or the exit status (or no zygote to say it)."""
        if self.pipes:
            return False
        return bool(self.outcome) or not self.channel_open or self.given_up

    def began(self) -> bool:
        """Whether the zygote has said it started the attempt's process."""
        self.hear()
        return self.pid is not None

    def pump(self, timeout: float) -> None:
        for key, _ in self.selector.select(timeout):
            if key.data == "payload":
                self._write_payload()
            elif key.data == "channel":
                self.hear()
            else:
                try:
                    data = os.read(key.fd, _CHUNK)
                except BlockingIOError:
                    continue
                if data:
                    key.data.extend(data)
                else:
                    self._drop(key.fd)
                    self.pipes -= 1
                    if not self.pipes:
                        self._pipes_closed()

    def hear(self) -> None:
        """Read what the zygote said about the attempt so far."""
        if not self.channel_open:
            return
        if not self.reader.fill():
            self._drop(self.channel.fileno())
            self.channel.close()
            self.channel_open = False
        for message in self.reader.messages():
            if message[0] == "started":
                self.pid = message[1]
            elif message[0] == "memory":
                self.memory = (message[1], message[2])
            elif message[0] == "exited":
                self.status, self.note = message[1], message[2]

    def order(self, *message: Any) -> None:
        """Ask the zygote to signal (``"signal", number``) or ``"kill"`` the attempt's tree."""
        with contextlib.suppress(OSError):
            self.channel.sendall(frame(message))

    def give_up(self) -> None:
        """Stop waiting for the zygote; kill the attempt's tree from here if it began."""
        if self.began():
            procs.kill_tree(self.pid)
        self.given_up = True
        self.pipes = 0
        for key in list(self.selector.get_map().values()):
            self._drop(key.fd)

    def close(self) -> None:
        """Close every end here; one that never got its go exits having run nothing."""
        self.ended_at = time.time()
        self.hear()  # a "memory" kill of an attempt that wrote its outcome meanwhile
        for key in list(self.selector.get_map().values()):
            self._drop(key.fd)
        self.selector.close()
        if self.payload_write is not None:
            os.close(self.payload_write)
            self.payload_write = None
        if self.channel_open:
            self.channel.close()
            self.channel_open = False

    def _pipes_closed(self) -> None:
        self.hear()
        if not self.outcome and self.channel_open:  # over at its exit status, then
            self.selector.register(self.channel, selectors.EVENT_READ, "channel")

    def _write_payload(self) -> None:
        if self.payload_write is None or not self.pending:
            return
        try:
            written = os.write(self.payload_write, self.pending)
        except BlockingIOError:
            return
        except OSError:  # the attempt is gone already: its exit status says how
            written = len(self.pending)
        self.pending = self.pending[written:]
        if not self.pending and self.going:  # all sent, the go too
            self._drop(self.payload_write)
            with contextlib.suppress(OSError):
                os.close(self.payload_write)
            self.payload_write = None

    def _drop(self, fd: int) -> None:
        key = self.selector.get_map().get(fd)
        if key is None:
            return
        self.selector.unregister(fd)
        if key.data is self.output or key.data is self.outcome:
            os.close(fd)
