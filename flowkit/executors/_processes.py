"""Process-tree tools for Linux: child subreapers, finding and killing every descendant.

A process that sets ``PR_SET_CHILD_SUBREAPER`` adopts the orphans of its
descendants, so a grandchild that escaped with ``setsid`` (a daemonising
shell) still hangs below it and can be found through ``/proc`` and killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
import warnings
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def _prctl(option: int, value: int) -> bool:
    global _libc
    if _libc is None:
        try:
            # The symbols already loaded into this process, libc's among them: dlopen(NULL),
            # not find_library, which runs `ldconfig -p` (2 ms in every fork server).
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            return False
    try:
        return _libc.prctl(option, value, 0, 0, 0) == 0
    except AttributeError:  # not Linux
        return False


def die_with_parent(signal_number: int) -> bool:
    """Have the kernel send ``signal_number`` when the parent dies (Linux); False elsewhere."""
    return _prctl(PR_SET_PDEATHSIG, signal_number)


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux); False where the kernel offers no such thing."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> list[int]:
    """The direct children of ``pid``, read from /proc; [] once it is gone."""
    found: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for thread in threads:
        # os.open and os.read, not open(): every attempt process calls this before it
        # reports, and each object it touches is a page the kernel copies.
        try:
            descriptor = os.open(f"/proc/{pid}/task/{thread}/children", os.O_RDONLY)
        except OSError:
            continue
        text = b""
        try:
            while chunk := os.read(descriptor, 65536):
                text += chunk
        except OSError:
            continue
        finally:
            os.close(descriptor)
        found.extend(map(int, text.split()))
    return found


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``, parents before their children."""
    found: list[int] = []
    stack = children(pid)
    seen: set[int] = set()
    while stack:
        child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        found.append(child)
        stack.extend(children(child))
    return found


def signal_process(pid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal_number)


def signal_group(pgid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal_number)


class ChildExits:
    """A descriptor readable whenever a child of this process ends, for a server's selector.

    SIGCHLD through the signal module's wake-up descriptor: a pipe, never blocking,
    so it is safe in any selector and ``drain`` never waits. ``close`` in a forked
    child gives the signals their defaults back and the pipe up.
    """

    def __init__(self) -> None:
        self.fd, self._write = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._write, False)
        signal.set_wakeup_fd(self._write)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 4096)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.fd)
        os.close(self._write)


def reap_children() -> list[tuple[int, int]]:
    """Collect every exited child of this process without blocking: (pid, wait status)."""
    reaped = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid == 0:
            return reaped
        reaped.append((pid, status))


def reap_attempts(keep: Callable[[int], bool]) -> list[tuple[int, int]]:
    """Reap the children of this subreaper that ended, killing the orphans they left.

    An attempt process that exited 0 killed its descendants first; one that was
    killed or crashed may have left orphans, which this process adopted: any live
    child that ``keep`` does not claim (a running attempt, a standby) is killed
    with its tree, and reaped. Returns (pid, wait status) of every child reaped.
    """
    ended = reap_children()
    if not ended:
        return ended
    clean = all(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 for _, status in ended)
    for _ in range(0 if clean else 50):
        orphans = [pid for pid in children(os.getpid()) if not keep(pid)]
        if not orphans:
            break
        for orphan in orphans:
            kill_tree(orphan)
        ended.extend(reap_children())
    return ended


def kill_descendants(pid: int, *, rounds: int = 50, settle: float = 0.0) -> list[tuple[int, int]]:
    """SIGKILL every descendant of ``pid`` (this process or one of its subreapers).

    Every descendant is stopped before any is killed, so none can fork a new
    one, and none can die and leave its children to be adopted half-way; then
    all are killed at once. Children adopted meanwhile are found by the next
    round. With ``settle``, it looks again that long after a round finds none,
    for a process that was being adopted just then. Returns the (pid, status) of
    the children of this process it reaped.
    """
    reaped: list[tuple[int, int]] = []
    quiet_rounds = 0
    for _ in range(rounds):
        stopped: list[int] = []
        while found := [child for child in descendants(pid) if child not in stopped]:
            for child in found:
                signal_process(child, signal.SIGSTOP)
            stopped.extend(found)
        if not stopped:
            quiet_rounds += 1
            if settle <= 0 or quiet_rounds >= 3:
                break
            time.sleep(settle)
            continue
        quiet_rounds = 0
        for child in stopped:
            signal_process(child, signal.SIGKILL)
        if pid == os.getpid():
            for child in children(pid):
                with contextlib.suppress(ChildProcessError):
                    waited, status = os.waitpid(child, 0)
                    reaped.append((waited, status))
    return reaped


def kill_tree(pid: int, *, rounds: int = 50) -> None:
    """SIGKILL ``pid`` and every descendant it has (stopping each first, so none forks anew)."""
    for _ in range(rounds):
        found = [pid, *descendants(pid)] if _alive(pid) else descendants(pid)
        if not found:
            return
        for process in found:
            signal_process(process, signal.SIGSTOP)
        for process in found:
            signal_process(process, signal.SIGKILL)
            signal_process(process, signal.SIGCONT)
        if not descendants(pid):
            return


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def describe_status(status: int) -> str:
    """A wait status in words: 'killed by signal 9 (SIGKILL)' or 'exited with code 3'."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {number} ({name})"
    if os.WIFEXITED(status):
        return f"exited with code {os.WEXITSTATUS(status)}"
    return f"ended with wait status {status}"


def exit_of(status: int | None) -> tuple[int | None, int | None]:
    """A wait status as (exit code, signal number); (None, None) when unknown (None, < 0)."""
    if status is None or status < 0:
        return None, None
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    return None, None


#: What flowkit cannot guarantee where Linux's subreaper and /proc are missing.
UNGUARANTEED_OFF_LINUX = (
    "a grandchild that starts its own session (setsid, a daemon) can outlive its attempt's "
    "timeout or cancel, and a reused process id can make a dead run look alive"
)
_said_off_linux = False


def warn_off_linux(platform: str) -> None:
    """Say once per process which isolation guarantees this OS cannot give (DESIGN.md §4)."""
    global _said_off_linux
    if platform.startswith("linux") or _said_off_linux:
        return
    _said_off_linux = True
    msg = f"flowkit on {platform}: {UNGUARANTEED_OFF_LINUX}; these guarantees are Linux-only"
    warnings.warn(msg, RuntimeWarning, stacklevel=3)
