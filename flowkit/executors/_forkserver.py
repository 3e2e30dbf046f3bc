"""The fork server: a pre-warmed process that forks one attempt process per request.

The local executor forks the fork server from the orchestrator once per run,
after the flow's module is imported and its plan built, so an attempt costs
one ``fork`` and not an interpreter start and a re-import. Both the fork
server and each attempt process are child subreapers: whatever a task starts,
even a grandchild that called ``setsid``, stays below one of them and is
killed when its attempt ends.

Messages on the control socket are pickled tuples, each framed by a 4-byte
length (``frame`` / ``FrameReader``):

    orchestrator -> server   ("start", fields, pickled_arguments): an attempt request as
                             ``_wire.encode_request`` makes it, sent with two pipes'
                             write ends (SCM_RIGHTS): output, outcome
                             ("signal", task_key, attempt, signal_number)
                             ("exit",)
    server -> orchestrator   ("exited", task_key, attempt, wait_status)

An attempt process writes its pickled outcome to the outcome pipe and closes
both pipes after killing whatever it started: the orchestrator knows the
attempt is over from the two EOFs, without waiting for the exit to be reaped.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import os
import selectors
import signal
import socket
from typing import TYPE_CHECKING

from flowkit.executors import _processes as procs
from flowkit.executors._attempt_process import Prepared, run_attempt, terminate
from flowkit.executors._wire import FrameReader, decode_request, frame

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan


def serve(plan: Plan, run_id: str, control: socket.socket) -> None:
    """The fork server's loop; runs until told to exit or the orchestrator is gone."""
    # Ctrl-C in the terminal is the orchestrator's to handle; it then tells us what to kill.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM unwinds the loop (and, in an attempt process, the task) through finally.
    signal.signal(signal.SIGTERM, terminate)
    procs.become_subreaper()
    server_pid = os.getpid()
    # Made once here rather than in every attempt process: each page an attempt process
    # writes is a page the kernel copies, so the less it does before the task, the better.
    # A segfault's Python traceback goes to fd 2: the attempt's log, in an attempt process.
    faulthandler.enable(file=2, all_threads=True)
    prepared = Prepared.make()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    reader = FrameReader(control)
    running: dict[int, tuple[str, int]] = {}
    # Everything alive now is shared with every attempt process; keep the garbage
    # collector off it, or its first pass in a child would copy each page it touches.
    gc.freeze()
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "child":
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_read, 4096)
                    _reap(running, control)
                    continue
                if not reader.fill():
                    return  # the orchestrator is gone: the finally clause kills everything
                for message in reader.messages():
                    if message[0] == "exit":
                        return
                    if message[0] == "signal":
                        _, task_key, attempt, signal_number = message
                        for pid, running_attempt in running.items():
                            if running_attempt == (task_key, attempt):
                                procs.signal_group(pid, signal_number)
                        continue
                    _, fields, arguments = message
                    output_fd, outcome_fd = reader.take_fds(2)
                    pid = os.fork()
                    if pid == 0:  # the attempt process
                        selector.close()
                        for fd in (wake_read, wake_write, control.fileno()):
                            os.close(fd)
                        task_key = fields["task_key"]
                        request = decode_request(
                            fields, plan.tasks[task_key].fn, upstream_edges=plan.upstream
                        )
                        run_attempt(
                            request,
                            arguments,
                            output_fd,
                            outcome_fd,
                            prepared,
                            parent=server_pid,
                        )
                    os.close(output_fd)
                    os.close(outcome_fd)
                    running[pid] = (fields["task_key"], fields["attempt"])
    finally:
        # Everything below this server dies with it: attempts, and whatever they started.
        procs.kill_descendants(os.getpid(), settle=0.01)
        os._exit(0)


def _reap(running: dict[int, tuple[str, int]], control: socket.socket) -> None:
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
                control.sendall(frame(("exited", task_key, attempt, status)))
