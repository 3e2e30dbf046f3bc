"""EchoOutput: the listener that prints what attempts print, as ``[task] line``."""

from __future__ import annotations

import sys
from typing import Any

from flowkit._events import RunListener, TaskOutput
from flowkit._text import escape, write_out


class EchoOutput(RunListener):
    """Prints each captured line as ``[task] line`` (``[task#2]`` from the second attempt).

    The line is escaped (a task cannot send the terminal control sequences), and a
    closed stdout drops the output instead of failing the run.
    """

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream

    def task_output(self, event: TaskOutput) -> None:
        label = event.task_key if event.attempt == 1 else f"{event.task_key}#{event.attempt}"
        write_out(f"[{label}] {escape(event.line)}\n", self.stream or sys.stdout)
