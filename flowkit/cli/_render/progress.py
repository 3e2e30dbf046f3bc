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

import itertools
import os
import shutil
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from flowkit._clock import format_duration
from flowkit._engine.listeners import output_line
from flowkit._events import (
    RunFinished,
    RunListener,
    RunStarted,
    StepEnded,
    TaskChanged,
    TaskOutput,
    Tick,
)
from flowkit._state import TaskRun, TaskState
from flowkit._text import escape, write_out

if TYPE_CHECKING:
    from flowkit._planning.plan import Plan

STATE_WIDTH = max(len(state.value) for state in TaskState)
#: Seconds between two redraws of the live display while nothing changes.
REDRAW_INTERVAL = 0.5
#: Running tasks listed by name; more are counted on one last line.
MAX_RUNNING_SHOWN = 8

_FAILED = frozenset(
    {TaskState.FAILED, TaskState.TIMED_OUT, TaskState.UPSTREAM_FAILED, TaskState.CANCELLED}
)
_PENDING = frozenset({TaskState.PENDING, TaskState.QUEUED, TaskState.WAITING_FOR_RETRY})


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
    tally = Tally()
    for task in tasks.values():
        tally.update(task)
    return tally.render(
        attempt_started=attempt_started, now=now, max_attempts=max_attempts, width=width
    )


def _category(state: TaskState) -> str | None:
    if state is TaskState.SUCCEEDED:
        return "succeeded"
    if state is TaskState.EXCLUDED:
        return "excluded"
    if state in _FAILED:
        return "failed"
    if state is TaskState.RUNNING:
        return "running"
    if state in _PENDING:
        return "pending"
    return None


class Tally:
    """The live display's model, kept up to date one task change at a time.

    Counts by kind, and the running and retrying tasks in the order they got
    there: a redraw costs the same at 10 tasks as at 10,000 (it reads only the
    few lines it shows), where walking every task at every redraw made a run
    quadratic in its task count.
    """

    def __init__(self) -> None:
        self.counts = dict.fromkeys(("succeeded", "failed", "running", "pending", "excluded"), 0)
        self.total = 0
        self.running: dict[str, TaskRun] = {}
        self.retrying: dict[str, None] = {}
        #: Queued tasks that wait for a pool, memory or CPUs, with the reason.
        self.waiting: dict[str, str] = {}
        self._category: dict[str, str | None] = {}

    def update(self, task: TaskRun) -> None:
        """``task`` is in a new state (or is new)."""
        name = task.name
        if name in self._category:
            old = self._category[name]
            if old is not None:
                self.counts[old] -= 1
        else:
            self.total += 1
        category = _category(task.state)
        self._category[name] = category
        if category is not None:
            self.counts[category] += 1
        if task.state is TaskState.RUNNING:
            self.running[name] = task
        else:
            self.running.pop(name, None)
        if task.state is TaskState.WAITING_FOR_RETRY:
            self.retrying[name] = None
        else:
            self.retrying.pop(name, None)
        if task.state is TaskState.QUEUED and task.waiting_for:
            self.waiting[name] = task.waiting_for
        else:
            self.waiting.pop(name, None)

    def render(
        self,
        *,
        attempt_started: Mapping[str, float],
        now: float,
        max_attempts: Mapping[str, int] | None = None,
        width: int | None = None,
    ) -> list[str]:
        """The display's lines: counts, the first running tasks, who waits to retry."""
        counts = self.counts
        header = "  ".join(
            f"{counts[label]} {label}" for label in ("succeeded", "failed", "running", "pending")
        )
        if counts["excluded"]:
            header += f"  {counts['excluded']} excluded"
        lines = [f"{header}  ({self.total} tasks)"]
        shown = list(itertools.islice(self.running.values(), MAX_RUNNING_SHOWN))
        name_width = max((len(task.name) for task in shown), default=0)
        for task in shown:
            started = attempt_started.get(task.name)
            elapsed = format_duration(max(0.0, now - started)) if started is not None else "-"
            limit = (max_attempts or {}).get(task.name)
            of = f" of {limit}" if limit else ""
            lines.append(f"  {task.name:<{name_width}}  {elapsed:>7}  attempt {task.attempts}{of}")
        if len(self.running) > MAX_RUNNING_SHOWN:
            lines.append(f"  ... and {len(self.running) - MAX_RUNNING_SHOWN} more running")
        if self.retrying:
            names = list(itertools.islice(self.retrying, MAX_RUNNING_SHOWN))
            more = len(self.retrying) - len(names)
            tail = f" and {more} more" if more > 0 else ""
            lines.append(f"  waiting to retry: {', '.join(names)}{tail}")
        waiting = list(itertools.islice(self.waiting.items(), MAX_RUNNING_SHOWN))
        for name, reason in waiting:
            lines.append(f"  queued {name}: {escape(reason)}")
        if len(self.waiting) > len(waiting):
            lines.append(f"  ... and {len(self.waiting) - len(waiting)} more queued")
        if width:
            lines = [line[:width] for line in lines]
        return lines


class ProgressPrinter(RunListener):
    """Prints the run id when a run starts, one line per task state change, and task output.

    Whatever a task supplied (its output, its error, the params) is escaped
    (``text.escape``); a reader that has gone (``| head``) ends the printing,
    not the run.
    """

    def __init__(self, plan: Plan, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.plan = plan
        self.name_width = max(len(name) for name in plan.order)

    def _print(self, line: str) -> None:
        write_out(f"{line}\n", self.stream)

    def run_started(self, event: RunStarted) -> None:
        self._print(run_started_line(event))

    def task_changed(self, event: TaskChanged) -> None:
        self._print(self.state_line(event.task))

    def task_output(self, event: TaskOutput) -> None:
        self._print(output_line(event.task_key, event.attempt, event.line))

    def state_line(self, task: TaskRun) -> str:
        """``HH:MM:SS  task  state  detail``."""
        line = (
            f"{time.strftime('%H:%M:%S')}  {task.name:<{self.name_width}}  "
            f"{task.state.value:<{STATE_WIDTH}}  {escape(self._detail(task))}"
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
        if state is TaskState.QUEUED and task.waiting_for:
            return f"({task.waiting_for})"
        return ""


def run_started_line(run: RunStarted) -> str:
    params = ", ".join(f"{key}={escape(value)}" for key, value in run.params.items()) or "none"
    executor = run.executor_name
    what = f"repair {run.repair_count} of run" if run.repair_count else "run"
    tasks = len(run.tasks)
    return (
        f"{what} {run.run_id} of flow {run.flow_name!r} started: {tasks} "
        f"{'task' if tasks == 1 else 'tasks'}, params {params}, executor {escape(executor)}, "
        f"max_parallel {run.max_parallel}"
    )


class LiveDisplay(ProgressPrinter):
    """A display redrawn in place at the bottom of a terminal; output and final states above it.

    Lines that stay (the run's first line, task output, each task reaching a
    final state or waiting for a retry) are written above the display, which is
    then drawn again; every ``REDRAW_INTERVAL`` seconds it is redrawn so the
    elapsed times move. What changes within one scheduler step is written at
    the step's end (``flush``), in one write with one redraw. The display is a
    ``Tally`` kept up to date one change at a time, so a redraw never walks
    the run's tasks: the display costs the same per task at any size of run.
    """

    tick_interval: float | None = REDRAW_INTERVAL

    def __init__(self, plan: Plan, stream: TextIO | None = None) -> None:
        super().__init__(plan, stream)
        self.tally = Tally()
        for name in plan.order:
            self.tally.update(TaskRun(name=name))
        self.attempt_started: dict[str, float] = {}
        self.max_attempts = {
            name: (spec.retries + 1 if spec.retries >= 0 else 0)
            for name, spec in plan.tasks.items()
        }
        self._drawn = 0  # lines of the display now on screen
        self._width = _terminal_width()
        self._pending: list[str] = []  # lines to write above the display at the next flush
        self._changed = False  # the display differs from what is on screen

    @property
    def _out(self) -> TextIO:
        return self.stream or sys.stdout

    def run_started(self, event: RunStarted) -> None:
        # A repair's kept tasks are final already: count them from the start.
        for task in event.tasks.values():
            self.tally.update(task)
        self._pending.append(run_started_line(event))
        self._redraw()

    def task_changed(self, event: TaskChanged) -> None:
        task = event.task
        self.tally.update(task)
        self._changed = True
        if task.state is TaskState.RUNNING:
            self.attempt_started[task.name] = time.monotonic()
        elif task.state.is_final or task.state is TaskState.WAITING_FOR_RETRY:
            self.attempt_started.pop(task.name, None)
            self._pending.append(self.state_line(task))

    def task_output(self, event: TaskOutput) -> None:
        self._pending.append(output_line(event.task_key, event.attempt, event.line))

    def flush(self, event: StepEnded) -> None:
        """The scheduler is about to wait: show what changed in this step."""
        if self._pending or self._changed:
            self._redraw()

    def tick(self, event: Tick) -> None:
        self._width = _terminal_width()  # the terminal may have been resized
        self._redraw()

    def run_finished(self, event: RunFinished) -> None:
        self._write(self._clear() + self._take_pending())

    def render(self) -> list[str]:
        """The display's lines now."""
        return self.tally.render(
            attempt_started=self.attempt_started,
            now=time.monotonic(),
            max_attempts=self.max_attempts,
            width=self._width,
        )

    def _redraw(self) -> None:
        """Lines waiting go above the display, and the display is drawn anew below them."""
        self._write(self._clear() + self._take_pending() + self._draw())
        self._changed = False

    def _take_pending(self) -> str:
        text = "".join(f"{line}\n" for line in self._pending)
        self._pending.clear()
        return text

    def _write(self, text: str) -> None:
        write_out(text, self._out)

    def _clear(self) -> str:
        """What takes the display off the screen."""
        if not self._drawn:
            return ""
        # Up to the display's first line, to column 0, then clear to the end of the screen.
        drawn, self._drawn = self._drawn, 0
        return f"\x1b[{drawn}A\r\x1b[J"

    def _draw(self) -> str:
        """What puts the display on the screen."""
        lines = self.render()
        self._drawn = len(lines)
        return "".join(f"{line}\n" for line in lines)


def _terminal_width() -> int:
    return max(20, shutil.get_terminal_size().columns - 1)


def progress_listener(plan: Plan, stream: TextIO | None = None) -> ProgressPrinter:
    """A ``LiveDisplay`` on a terminal when ``CI`` is unset, else a ``ProgressPrinter``."""
    target = stream if stream is not None else sys.stdout
    if wants_live_display(target):
        return LiveDisplay(plan, stream)
    return ProgressPrinter(plan, stream)
