"""The fork server: a pre-warmed process that keeps standby attempt processes ready.

The local executor forks the fork server from the orchestrator once per run,
after the flow's module is imported and its plan built. The server forks
standby processes ahead of need: isolated already (own session and process
group, child subreaper, dying with the server), each blocked on a socket whose
other end the server hands to the orchestrator. The orchestrator starts an
attempt by writing its request to a standby's socket: a message, not a fork,
and not a hop through the server; the fork of the next standby happens while
the attempt runs, off the critical path. A standby runs exactly one attempt and
exits, so isolation is as with a fork per attempt. Whatever a task starts, even
a grandchild that called ``setsid``, stays below a subreaper and is killed when
its attempt ends.

The server also watches memory (``_watch.MemoryWatch``): on one timer in its
loop it samples each attempt's tree, kills a tree over its task's ``memory``
and tells the orchestrator first.

Messages on the control socket are pickled tuples, each framed by a 4-byte
length (``frame`` / ``FrameReader``):

    orchestrator -> server   ("started", pid, task_key, attempt): the standby ``pid`` was
                             handed that attempt
                             ("signal", pid, signal_number)
                             ("exit", ordinary): ordinary when no attempt is running
    server -> orchestrator   ("standby", pid), with the orchestrator's end of its socket
                             (SCM_RIGHTS)
                             ("memory", pid, rss, limit): killed for its memory
                             ("exited", pid, wait_status, note): note is None, or why a
                             SIGKILL nobody sent was probably the kernel's

A standby's request is ``("attempt", fields, pickled_arguments)`` as
``_wire.encode_request`` makes it, framed, sent with the write ends of two
pipes (output, outcome). An attempt process writes its pickled outcome to the
outcome pipe and closes both pipes after killing whatever it started: the
orchestrator knows the attempt is over from the two EOFs, without waiting for
the exit to be reaped.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import select
import selectors
import signal
import socket
import time
from typing import TYPE_CHECKING

from flowkit.executors import _processes as procs
from flowkit.executors._attempt_process import (
    MAX_STANDBY,
    Prepared,
    isolate,
    run_attempt,
    terminate,
)
from flowkit.executors._watch import MemoryWatch, out_of_memory_note
from flowkit.executors._wire import FrameReader, decode_request, frame

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan


def serve(plan: Plan, control: socket.socket) -> None:
    """The fork server's loop; runs until told to exit or the orchestrator is gone."""
    # Ctrl-C in the terminal is the orchestrator's to handle; it then tells us what to kill.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM unwinds the loop (and, in an attempt process, the task) through finally.
    signal.signal(signal.SIGTERM, terminate)
    procs.become_subreaper()
    # Made once here rather than in every attempt process: each page an attempt process
    # writes is a page the kernel copies, so the less it does before the task, the better.
    # A segfault's Python traceback goes to fd 2: the attempt's log, in an attempt process.
    faulthandler.enable(file=2, all_threads=True)
    server = ForkServer(plan, control)
    ordinary = False
    try:
        ordinary = server.loop()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # nothing may cut the cleanup short
        # Everything below this server dies with it: attempts, standbys, what they started.
        # At a run's ordinary end every child ends by itself at once; then nothing is left
        # that could be in the middle of being adopted, and there is nothing to wait for.
        ended_cleanly = ordinary and server.wind_down()
        procs.kill_descendants(os.getpid(), settle=0.0 if ended_cleanly else 0.01)
        os._exit(0)


class ForkServer:
    """The server's state: its sockets, standby processes, running attempts and the watch."""

    def __init__(self, plan: Plan, control: socket.socket) -> None:
        self.plan = plan
        self.control = control
        self.pid = os.getpid()
        self.prepared = Prepared.make()
        self.exits = procs.ChildExits()
        self.selector = selectors.DefaultSelector()
        self.selector.register(control, selectors.EVENT_READ, "control")
        self.selector.register(self.exits.fd, selectors.EVENT_READ, "child")
        self.reader = FrameReader(control)
        self.running: dict[int, tuple[str, int]] = {}
        #: Standby processes handed to the orchestrator and not yet said to be started.
        self.standby: set[int] = set()
        #: Standby processes that ended before the orchestrator said what they ran.
        self.ended_early: dict[int, int] = {}
        #: Attempts the orchestrator had signalled: a SIGKILL of theirs is not the kernel's.
        self.signalled: set[int] = set()
        self.wanted = 1
        self.watch = MemoryWatch()

    def loop(self) -> bool:
        """Serve until told to exit or the orchestrator is gone; True at a run's ordinary end.

        The end is ordinary when the orchestrator says no attempt of its is running (all
        reported); not when it stops the run with attempts still running, or is gone.
        """
        # Everything alive now is shared with every attempt process; keep the garbage
        # collector off it, or its first pass in a child would copy each page it touches.
        gc.freeze()
        self._fill_standby()
        while True:
            for key, _ in self.selector.select(self.watch.next_sample()):
                if key.data == "child":
                    self.exits.drain()
                    self._reap()
                    continue
                if not self.reader.fill():
                    return False  # the orchestrator is gone: serve's finally kills everything
                for message in self.reader.messages():
                    if message[0] == "exit":
                        return bool(message[1:] and message[1])
                    if message[0] == "signal":
                        self._signal(*message[1:])
                    else:
                        self._started(*message[1:])
            self._check_memory()
            self._fill_standby()

    # -- attempts ------------------------------------------------------------------------
    def _started(self, pid: int, task_key: str, attempt: int) -> None:
        """The orchestrator handed an attempt to the standby ``pid``: it is running."""
        self.standby.discard(pid)
        self.running[pid] = (task_key, attempt)
        self.wanted = min(MAX_STANDBY, max(self.wanted, len(self.running) + 1))
        if pid in self.ended_early:  # it ran and ended before this message came
            self._report_exit(pid, self.ended_early.pop(pid))
        else:
            self.watch.add(pid, self.plan.tasks[task_key].memory)

    def _signal(self, pid: int, signal_number: int) -> None:
        if pid in self.running:
            self.signalled.add(pid)
            procs.signal_group(pid, signal_number)

    def _check_memory(self) -> None:
        """Kill every attempt tree over its memory limit, having said so first."""
        for pid, rss, limit in self.watch.sample():
            if pid in self.running:
                self._send(("memory", pid, rss, limit))
                self.signalled.add(pid)
                procs.kill_tree(pid)

    def _reap(self) -> None:
        """Report every attempt process that ended, after killing the orphans it left."""
        ended = procs.reap_attempts(lambda pid: pid in self.running or pid in self.standby)
        for pid, status in ended:
            if pid in self.standby:  # ran before its start was said, or died unused
                self.standby.discard(pid)
                self.ended_early[pid] = status
            elif pid in self.running:
                self._report_exit(pid, status)

    def _report_exit(self, pid: int, status: int) -> None:
        del self.running[pid]
        watched = self.watch.remove(pid)
        note = None
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        if killed and pid not in self.signalled:
            note = out_of_memory_note(watched)
        self.signalled.discard(pid)
        self._send(("exited", pid, status, note))

    def _send(self, message: tuple) -> None:
        with contextlib.suppress(OSError):
            self.control.sendall(frame(message))

    def wind_down(self, timeout: float = 0.05) -> bool:
        """Let every child end by itself; True once none is left and each ended cleanly.

        Standby processes are killed (they ran nothing); an attempt process that has
        reported is exiting on its own. False if one is still there after ``timeout``
        seconds, or one ended by a signal or an error: serve's finally then kills the
        whole tree and looks again for what was being adopted.
        """
        for pid in self.standby:
            procs.signal_process(pid, signal.SIGKILL)
        clean = True
        deadline = time.monotonic() + timeout
        exits = select.poll()  # poll, not select: the pipe may sit past descriptor 1024
        exits.register(self.exits.fd, select.POLLIN)
        while True:
            for pid, status in procs.reap_children():
                exited_0 = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
                clean = clean and (exited_0 or pid in self.standby)
            if not clean or not procs.children(self.pid):
                return clean
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            exits.poll(remaining * 1000)
            self.exits.drain()

    # -- standby processes -------------------------------------------------------------
    def _fill_standby(self) -> None:
        while len(self.standby) < self.wanted:
            self._fork_standby()

    def _fork_standby(self) -> None:
        """Fork a standby process and hand the orchestrator its socket's other end."""
        theirs, ours = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._become_attempt(theirs)
        theirs.close()
        self.standby.add(pid)
        with contextlib.suppress(OSError):
            socket.send_fds(self.control, [frame(("standby", pid))], [ours.fileno()])
        ours.close()

    def _become_attempt(self, channel: socket.socket) -> None:
        """The standby process: isolated now; runs the one attempt it is handed, then exits."""
        try:
            self.exits.close()
            self.selector.close()
            self.control.close()
            isolate(self.pid)
            reader = FrameReader(channel)
            while not (messages := reader.messages()):
                if not reader.fill():
                    os._exit(0)  # the run ended, or the orchestrator is gone: never used
            channel.close()
        except BaseException:  # a SIGTERM while waiting: nothing ran, nothing to report
            os._exit(0)
        _, fields, arguments = messages[0]
        output_fd, outcome_fd = reader.take_fds(2)
        request = decode_request(
            fields, self.plan.tasks[fields["task_key"]].fn, upstream_edges=self.plan.upstream
        )
        run_attempt(request, arguments, output_fd, outcome_fd, self.prepared, isolated=True)
