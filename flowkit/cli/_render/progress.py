"""How ``flowkit run`` and ``flowkit repair`` show a run as it goes: a live display or plain lines.

In a terminal (and ``CI`` unset) ``LiveDisplay`` keeps a few lines at the
bottom of the screen up to date in place (counts of succeeded, failed, running
and pending tasks, then each running task with its attempt and elapsed time),
printing task output and finished tasks above them. Elsewhere
``ProgressPrinter`` prints one plain line per state change, which reads well in
a log file. ``render_display`` is the pure function behind the live display,
so it is tested without a terminal. Plain ANSI escapes, no dependency.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

import attrs

from flowkit._engine.listeners import EchoOutput
from flowkit._state import TaskRun, TaskState

if TYPE_CHECKING:
    from flowkit._events import RunView
    from flowkit._planning.plan import Plan
    from flowkit._state import RunResult

STATE_WIDTH = max(len(state.value) for state in TaskState)
#: Seconds between two redraws of the live display while nothing changes.
REDRAW_INTERVAL = 0.5
#: Running tasks listed by name; more are counted on one last line.
MAX_RUNNING_SHOWN = 8

_FAILED = frozenset(
    {TaskState.FAILED, TaskState.TIMED_OUT, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED}
)
_PENDING = frozenset({TaskState.PENDING, TaskState.QUEUED, TaskState.WAITING_FOR_RETRY})


def format_duration(seconds: float) -> str:
    """``0.42s``, ``12.3s``, ``2m05s`` or ``1h02m``."""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, whole_seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{whole_seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def wants_live_display(stream: Any, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to update a display in place: ``stream`` is a terminal and ``CI`` is unset."""
    environ = os.environ if environ is None else environ
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not environ.get("CI")


def render_display(
    tasks: Mapping[str, TaskRun],
    *,
    attempt_started: Mapping[str, float],
    now: float,
    max_attempts: Mapping[str, int] | None = None,
    width: int | None = None,
) -> list[str]:
    """The live display's lines for tasks in these states.

    Args:
        tasks: every task of the run, in plan order.
        attempt_started: when each running task's current attempt started, on
            the same clock as ``now``.
        now: the time to measure elapsed times against.
        max_attempts: attempts each task may make (retries + 1; 0 for unlimited);
            a task missing here shows no "of N".
        width: cut every line to this many columns (a wrapped line would break
            redrawing in place); None for no limit.
    """
    counts = {"succeeded": 0, "failed": 0, "running": 0, "pending": 0}
    excluded = 0
    for task in tasks.values():
        if task.state is TaskState.SUCCEEDED:
            counts["succeeded"] += 1
        elif task.state is TaskState.EXCLUDED:
            excluded += 1
        elif task.state in _FAILED:
            counts["failed"] += 1
        elif task.state is TaskState.RUNNING:
            counts["running"] += 1
        elif task.state in _PENDING:
            counts["pending"] += 1
    header = "  ".join(f"{count} {label}" for label, count in counts.items())
    if excluded:
        header += f"  {excluded} excluded"
    lines = [f"{header}  ({len(tasks)} tasks)"]
    running = [task for task in tasks.values() if task.state is TaskState.RUNNING]
    name_width = max((len(task.name) for task in running[:MAX_RUNNING_SHOWN]), default=0)
    for task in running[:MAX_RUNNING_SHOWN]:
        started = attempt_started.get(task.name)
        elapsed = format_duration(max(0.0, now - started)) if started is not None else "-"
        limit = (max_attempts or {}).get(task.name)
        of = f" of {limit}" if limit else ""
        lines.append(f"  {task.name:<{name_width}}  {elapsed:>7}  attempt {task.attempts}{of}")
    if len(running) > MAX_RUNNING_SHOWN:
        lines.append(f"  ... and {len(running) - MAX_RUNNING_SHOWN} more running")
    retrying = [task.name for task in tasks.values() if task.state is TaskState.WAITING_FOR_RETRY]
    if retrying:
        lines.append(f"  waiting to retry: {', '.join(retrying)}")
    if width:
        lines = [line[:width] for line in lines]
    return lines


class ProgressPrinter(EchoOutput):
    """Prints the run id when a run starts, one line per task state change, and task output."""

    def __init__(self, plan: Plan, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.plan = plan
        self.name_width = max(len(name) for name in plan.order)

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)

    def run_started(self, run: RunView) -> None:
        self._print(run_started_line(run))

    def task_changed(self, run: RunView, task: TaskRun) -> None:
        self._print(self.state_line(task))

    def state_line(self, task: TaskRun) -> str:
        """``HH:MM:SS  task  state  detail``."""
        line = (
            f"{time.strftime('%H:%M:%S')}  {task.name:<{self.name_width}}  "
            f"{task.state.value:<{STATE_WIDTH}}  {self._detail(task)}"
        )
        return line.rstrip()

    def _detail(self, task: TaskRun) -> str:
        spec = self.plan.tasks[task.name]
        state = task.state
        if state is TaskState.RUNNING and spec.retries:
            of = f" of {spec.retries + 1}" if spec.retries > 0 else ""
            return f"(attempt {task.attempts}{of})"
        if state is TaskState.WAITING_FOR_RETRY:
            delay = spec.retry.delay_before(task.attempts)
            when = f"in {format_duration(delay)}" if delay > 0 else "now"
            error = f"{task.error.summary}; " if task.error else ""
            return f"{error}retrying {when}"
        if state in (TaskState.FAILED, TaskState.TIMED_OUT) and task.error:
            return task.error.summary
        if state is TaskState.SUCCEEDED and task.duration is not None:
            return f"({format_duration(task.duration)})"
        if state in (TaskState.UPSTREAM_FAILED, TaskState.EXCLUDED):
            return f"(run_if {spec.run_if.value})"
        return ""


def run_started_line(run: RunView) -> str:
    params = ", ".join(f"{key}={value}" for key, value in run.params.items()) or "none"
    executor = run.executor_name
    what = f"repair {run.repair_count} of run" if run.repair_count else "run"
    return (
        f"{what} {run.run_id} of flow {run.name!r} started: {len(run.tasks)} tasks, "
        f"params {params}, executor {executor}, max_parallel {run.max_parallel}"
    )


class LiveDisplay(ProgressPrinter):
    """A display redrawn in place at the bottom of a terminal; output and final states above it.

    Lines that stay (the run's first line, task output, each task reaching a
    final state or waiting for a retry) are written above the display, which is
    then drawn again; every ``REDRAW_INTERVAL`` seconds it is redrawn so the
    elapsed times move.
    """

    tick_interval: float | None = REDRAW_INTERVAL

    def __init__(self, plan: Plan, stream: TextIO | None = None) -> None:
        super().__init__(plan, stream)
        self.tasks: dict[str, TaskRun] = {name: TaskRun(name=name) for name in plan.order}
        self.attempt_started: dict[str, float] = {}
        self.max_attempts = {
            name: (spec.retries + 1 if spec.retries >= 0 else 0)
            for name, spec in plan.tasks.items()
        }
        self._drawn = 0  # lines of the display now on screen

    @property
    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def run_started(self, run: RunView) -> None:
        # A repair's kept tasks are final already: count them from the start.
        self.tasks = {name: attrs.evolve(task) for name, task in run.tasks.items()}
        self._above(run_started_line(run))

    def task_changed(self, run: RunView, task: TaskRun) -> None:
        self.tasks[task.name] = task
        if task.state is TaskState.RUNNING:
            self.attempt_started[task.name] = time.monotonic()
            self._redraw()
        elif task.state.is_final or task.state is TaskState.WAITING_FOR_RETRY:
            self.attempt_started.pop(task.name, None)
            self._above(self.state_line(task))
        else:
            self._redraw()

    def task_output(self, run: RunView, task_key: str, attempt: int, line: str) -> None:
        label = task_key if attempt == 1 else f"{task_key}#{attempt}"
        self._above(f"[{label}] {line}")

    def tick(self, run: RunView) -> None:
        self._redraw()

    def run_finished(self, run: RunView, result: RunResult) -> None:
        self._clear()
        self._out.flush()

    def render(self) -> list[str]:
        """The display's lines now."""
        return render_display(
            self.tasks,
            attempt_started=self.attempt_started,
            now=time.monotonic(),
            max_attempts=self.max_attempts,
            width=max(20, shutil.get_terminal_size().columns - 1),
        )

    def _above(self, line: str) -> None:
        self._clear()
        self._out.write(f"{line}\n")
        self._draw()

    def _redraw(self) -> None:
        self._clear()
        self._draw()

    def _clear(self) -> None:
        if self._drawn:
            # Up to the display's first line, to column 0, then clear to the end of the screen.
            self._out.write(f"\x1b[{self._drawn}A\r\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        lines = self.render()
        self._out.write("".join(f"{line}\n" for line in lines))
        self._out.flush()
        self._drawn = len(lines)


def progress_listener(plan: Plan, stream: TextIO | None = None) -> ProgressPrinter:
    """A ``LiveDisplay`` on a terminal when ``CI`` is unset, else a ``ProgressPrinter``."""
    target = stream if stream is not None else sys.stdout
    if wants_live_display(target):
        return LiveDisplay(plan, stream)
    return ProgressPrinter(plan, stream)
