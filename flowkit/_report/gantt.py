"""A run's timeline: one bar per attempt, the waits between, scaled to the chart.

Each task is a row. On it: the queue wait of its latest pass (from when its
last upstream task ended to its first attempt's start), every attempt as a bar
coloured by how it ended (a ``timed_out`` attempt drawn hatched), and the
retry wait between two attempts of a pass. Repair passes are marked where they
began. Times are seconds on the run's own clock; ``x`` maps them to the chart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import attrs

from flowkit._clock import format_duration
from flowkit._report.model import RunView

ROW_HEIGHT = 22
BAR_HEIGHT = 14
LABEL_WIDTH = 220
CHART_WIDTH = 900
AXIS_HEIGHT = 24
#: Steps an axis tick may take, in seconds.
_STEPS = (
    *(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5),
    *(1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600),
)


@attrs.frozen
class Bar:
    """A box on a task's row: an attempt (``attempt`` set) or a wait (``wait`` set)."""

    task: str
    row: int
    x: float
    width: float
    start: float
    end: float
    state: str = ""
    attempt: int | None = None
    repair: int = 0
    #: "queue" or "retry" for a wait; None for an attempt.
    wait: str | None = None
    critical: bool = False
    running: bool = False

    @property
    def y(self) -> float:
        return AXIS_HEIGHT + self.row * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2

    @property
    def title(self) -> str:
        took = format_duration(self.end - self.start)
        span = f"{clock_time(self.start)} → {clock_time(self.end)} ({took})"
        # The row names the task and the colour its state: the title adds the times.
        if self.wait is not None:
            return f"{'queued' if self.wait == 'queue' else 'retry wait'} {span}"
        repair = f" (repair {self.repair})" if self.repair else ""
        return f"#{self.attempt}{repair}{' running' if self.running else ''} {span}"


@attrs.frozen
class Tick:
    x: float
    text: str


@attrs.frozen
class Timeline:
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    #: Where each repair pass began: (x, "repair N").
    passes: tuple[tuple[float, str], ...]
    rows: tuple[str, ...]
    width: float
    height: float


def timeline(view: RunView) -> Timeline:
    """Bars, waits, pass marks and axis ticks of ``view``."""
    attempt_starts = [a.started_at for t in view.tasks for a in t.attempts if a.started_at]
    start = min([view.run.started_at, *attempt_starts])
    end = max(view.end, start + 0.001)
    scale = CHART_WIDTH / (end - start)

    def x(at: float) -> float:
        return round(LABEL_WIDTH + (at - start) * scale, 1)

    bars: list[Bar] = []
    rows = tuple(task.key for task in view.tasks)
    for row, task in enumerate(view.tasks):
        first_of_latest = (
            next((a for a in task.attempts if a.repair == task.attempts[-1].repair), None)
            if task.attempts
            else None
        )
        if task.ready_at is not None and first_of_latest is not None:
            began = first_of_latest.started_at or task.ready_at
            if x(began) - x(task.ready_at) >= 1:  # a wait under a pixel is not drawn
                bars.append(_bar(task.key, row, task.ready_at, began, x, wait="queue"))
        previous = None
        for attempt in task.attempts:
            if attempt.started_at is None:
                continue
            if (
                previous is not None
                and previous.repair == attempt.repair
                and previous.ended_at is not None
                and x(attempt.started_at) - x(previous.ended_at) >= 1
            ):
                bars.append(
                    _bar(task.key, row, previous.ended_at, attempt.started_at, x, wait="retry")
                )
            running = attempt.ended_at is None
            bars.append(
                _bar(
                    task.key,
                    row,
                    attempt.started_at,
                    view.end if running else attempt.ended_at,
                    x,
                    state=attempt.state.value,
                    attempt=attempt.attempt,
                    repair=attempt.repair,
                    critical=task.critical,
                    running=running and view.live,
                )
            )
            previous = attempt
    passes = tuple(
        (x(pass_start), f"repair {number}")
        for number, pass_start in enumerate(view.pass_starts)
        if number > 0
    )
    return Timeline(
        bars=tuple(bars),
        ticks=_ticks(end - start, x, start),
        passes=passes,
        rows=rows,
        width=LABEL_WIDTH + CHART_WIDTH + 40,
        height=AXIS_HEIGHT + ROW_HEIGHT * max(1, len(rows)) + 4,
    )


def _bar(
    task: str, row: int, begin: float, end: float, x: Callable[[float], float], **more: Any
) -> Bar:
    left = x(begin)
    right = x(end)
    return Bar(
        task=task,
        row=row,
        x=left,
        width=max(round(right - left, 1), 1.0),
        start=begin,
        end=end,
        **more,
    )


def _ticks(span: float, x: Callable[[float], float], start: float) -> tuple[Tick, ...]:
    """At most nine ticks at round seconds from the run's start."""
    longest = _STEPS[-1]
    step = next((s for s in _STEPS if span / s <= 8), longest * math.ceil(span / 8 / longest))
    return tuple(
        Tick(x=x(start + number * step), text=_tick_text(number * step, step))
        for number in range(int(span // step) + 1)
    )


def _tick_text(value: float, step: float) -> str:
    """A tick's label, with as many decimals as its step needs."""
    if step >= 10:
        return format_duration(value)
    decimals = 0 if step >= 1 else 1 if step >= 0.1 else 2 if step >= 0.01 else 3
    return f"{value:.{decimals}f}s"


def clock_time(at: float) -> str:
    """A moment as local wall time, to the second."""
    return time.strftime("%H:%M:%S", time.localtime(at))
