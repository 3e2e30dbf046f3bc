"""Starting runs as their own orchestrator processes: ``python -m flowkit run TARGET``.

Each run is a process of its own, so a run that crashes never takes serve (or
a backfill) down. It starts in a session of its own: Ctrl-C in serve's
terminal reaches serve only, which then stops its runs once, cleanly, with
SIGTERM (each cancels its tasks and is recorded ``cancelled``). A run started
ahead of its time waits for it (``--not-before``), so the interpreter's start
is not in the delay from the fire time to the first task.

A run's own output (its progress display) goes to a private file under
``$FLOWKIT_HOME/serve/``; its tasks' logs are in the home as for any run.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

import attrs

from flowkit._home import make_private_folder, open_private_file
from flowkit._state import RunTrigger

#: How long a stopped run may take to cancel its tasks before it is killed.
STOP_GRACE = 30.0


@attrs.frozen
class Launch:
    """One run to start: where its flow is, what started it, and not before when."""

    target: str
    flow_name: str
    trigger: RunTrigger
    not_before: float | None = None


@attrs.frozen
class Ended:
    """A started run's process ended."""

    launch: Launch
    exit_code: int
    output: str | None
    #: The run's process (its orchestrator), to find the run it recorded.
    pid: int | None = None


class Launcher(Protocol):
    """Starts runs and tells when they end; serve's tests use a fake."""

    def start(self, launch: Launch) -> None: ...
    def ended(self) -> list[Ended]:
        """The runs whose process ended since the last call."""
        ...

    def running(self) -> int: ...
    def withdraw(self, flow_name: str) -> int:
        """Stop the runs of ``flow_name`` still waiting for their time; how many."""
        ...

    def stop_all(self) -> None:
        """Stop every run (SIGTERM: each cancels cleanly), wait for them, kill the rest."""
        ...


def run_command(launch: Launch, *, home: Path | None = None) -> list[str]:
    """The ``flowkit run`` command line of ``launch``."""
    trigger = launch.trigger
    command = [sys.executable, "-m", "flowkit", "run", launch.target, "--trigger", trigger.type]
    if home is not None:
        command += ["--home", str(home)]
    if trigger.time is not None:
        moment = datetime.datetime.fromtimestamp(trigger.time, tz=datetime.timezone.utc)
        command += ["--trigger-time", moment.isoformat()]
    if trigger.file_arrival_location:
        command += ["--trigger-location", trigger.file_arrival_location]
    if trigger.backfill_id:
        command += ["--backfill-id", trigger.backfill_id]
    if launch.not_before is not None:
        command += ["--not-before", repr(launch.not_before)]
    return command


class ProcessLauncher:
    """Runs as child processes, each in its own session, output in a private file.

    Args:
        home: the home the runs are recorded in (passed on as ``--home``).
        output_folder: where each run's own output goes.
        extra_arguments: added to every ``flowkit run`` (``--executor``, ``-p``).
    """

    def __init__(
        self, *, home: Path, output_folder: Path, extra_arguments: tuple[str, ...] = ()
    ) -> None:
        self.home = home
        self.output_folder = output_folder
        self.extra_arguments = extra_arguments
        self._children: list[tuple[subprocess.Popen[bytes], Launch, str]] = []
        self._started = 0  # numbers the output files: two runs never share one

    def start(self, launch: Launch) -> None:
        make_private_folder(self.output_folder)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(launch.trigger.time or time.time()))
        self._started += 1
        name = f"{launch.flow_name}-{stamp}-{os.getpid()}-{self._started}.out"
        output = self.output_folder / name
        sink = open_private_file(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            child = subprocess.Popen(
                [*run_command(launch, home=self.home), *self.extra_arguments],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            os.close(sink)
        self._children.append((child, launch, str(output)))

    def ended(self) -> list[Ended]:
        ended, alive = [], []
        for child, launch, output in self._children:
            code = child.poll()
            if code is None:
                alive.append((child, launch, output))
            else:
                ended.append(Ended(launch=launch, exit_code=code, output=output, pid=child.pid))
        self._children = alive
        return ended

    def running(self) -> int:
        return len(self._children)

    def withdraw(self, flow_name: str) -> int:
        now = time.time()
        waiting = [
            child
            for child, launch, _ in self._children
            if launch.flow_name == flow_name
            and launch.not_before is not None
            and launch.not_before > now
        ]
        for child in waiting:
            _signal(child, signal.SIGTERM)
        return len(waiting)

    def stop_all(self) -> None:
        for child, _, _ in self._children:
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for child, _, _ in self._children:
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(child)
                child.wait()


def _signal(child: subprocess.Popen[bytes], number: int) -> None:
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(number)


def _kill_group(child: subprocess.Popen[bytes]) -> None:
    """Kill what is left of a run that did not stop: its session's process group."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
