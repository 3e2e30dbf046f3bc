"""What the loop does for its listeners besides events: ticks, and echoing output.

``Ticks`` calls ``tick`` on the listeners that ask for it (``tick_interval``: a
heartbeat, a live display's redraw); ``EchoOutput`` prints what attempts print,
as ``[task] line``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from flowkit._events import RunListener, TaskOutput, Tick
from flowkit._text import escape, write_out


def output_line(task_key: str, attempt: int, line: str) -> str:
    """``[task] line`` (``[task#2]`` from the second attempt), the line escaped."""
    label = task_key if attempt == 1 else f"{task_key}#{attempt}"
    return f"[{label}] {escape(line)}"


class EchoOutput(RunListener):
    """Prints each captured line as ``[task] line`` (``[task#2]`` from the second attempt).

    The line is escaped (a task cannot send the terminal control sequences), and a
    closed stdout drops the output instead of failing the run.
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def task_output(self, event: TaskOutput) -> None:
        line = output_line(event.task_key, event.attempt, event.line)
        write_out(f"{line}\n", self.stream or sys.stdout)


class Ticks:
    """The ticks of the listeners that ask for them, at the shortest interval asked.

    Ticks keep real time (a heartbeat says "alive now"), whatever clock the run uses.
    """

    def __init__(self, listeners: Sequence[Any], run_id: str) -> None:
        # A listener need not subclass RunListener: its ticks are optional.
        self.listeners = [each for each in listeners if getattr(each, "tick_interval", None)]
        intervals = [each.tick_interval for each in self.listeners]
        self.interval: float | None = min(intervals) if intervals else None
        self._next = time.monotonic() + self.interval if self.interval else None
        self._event = Tick(run_id=run_id)

    def until_next(self) -> float | None:
        """Seconds until the next tick is due; None when no listener ticks."""
        if self._next is None:
            return None
        return max(0.0, self._next - time.monotonic())

    def tick(self) -> None:
        """Tick every ticking listener, if a tick is due."""
        if self._next is None or self.interval is None or time.monotonic() < self._next:
            return
        for listener in self.listeners:
            listener.tick(self._event)
        self._next = time.monotonic() + self.interval
