"""EchoOutput: the listener that prints what attempts print, as ``[task] line``."""

from __future__ import annotations

import sys
from typing import Any

from flowkit._events import RunListener, TaskOutput
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
